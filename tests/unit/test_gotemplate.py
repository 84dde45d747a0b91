"""The Go template engine behind ``--format``: output and error texts.

Every expected text in the ``GO_*`` tables below was produced by Go 1.19's text/template
(the Go Docker 20.10 is built with) running Docker's template functions over the same
data, decoded from JSON as Docker's inspect does; the engine must print the same bytes.
``TYPED`` lists the few cases where Docker's answer comes from its typed structs (it runs
a template on them first) rather than raw JSON, and the engine follows the typed answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from cli.formatter import CONTAINER_HEADERS, ContainerContext, HeaderContext
from cli.gotemplate import HEADER, ExecError, ParseError, Template
from cli.tabwriter import align

CTR: dict[str, Any] = {
    "Id": "4fa9e4e36c418d9703ff2e1450e44c0fb7e3934fedee62ed732a6bf533bec8c8",
    "Name": "/web",
    "Path": "sleep",
    "Args": ["100", "x y"],
    "State": {"Status": "running", "Running": True, "Pid": 1234, "ExitCode": 0},
    "Config": {
        "Hostname": "web",
        "Env": ["A=1", "B=2"],
        "Labels": {"com.example.team": "blue", "tier": "front"},
        "ExposedPorts": {"80/tcp": {}},
        "Nil": None,
    },
    "HostConfig": {"NetworkMode": "bridge", "Links": None, "Dns": []},
    "NetworkSettings": {
        "IPAddress": "172.17.0.2",
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": None},
        "Networks": {
            "front": {"IPAddress": "10.0.0.3", "IPPrefixLen": 24, "Aliases": ["web", "www"]},
            "bridge": {"IPAddress": "172.17.0.2", "IPPrefixLen": 16, "Aliases": None},
        },
    },
    "Str": "Hello World",
    "Uni": "héllo",
}
NET: dict[str, Any] = {
    "Name": "net1",
    "Containers": {
        "bbb": {"Name": "db", "IPv4Address": "172.30.0.3/24", "IPv6Address": ""},
        "aaa": {"Name": "web", "IPv4Address": "172.30.0.2/24", "IPv6Address": ""},
    },
    "Options": {"com.docker.network.bridge.enable_icc": "false"},
    "Labels": {},
    "IPAM": {"Config": [{"Subnet": "172.30.0.0/24", "Gateway": "172.30.0.1"}], "Options": None},
    "Internal": False,
    "List": [1, "x", None, True, {"a": None}, []],
}

GO_OUTPUT = [
    # fields, nesting, printing of each kind of value
    ("{{.Name}}", CTR, "/web"),
    ("{{.State.Pid}} {{.State.Running}}", CTR, "1234 true"),
    ("{{.NetworkSettings.IPAddress}}", CTR, "172.17.0.2"),
    ("{{.NetworkSettings.Networks.front.IPAddress}}", CTR, "10.0.0.3"),
    ("{{.Args}}", CTR, "[100 x y]"),
    ("{{.Config.Labels}}", CTR, "map[com.example.team:blue tier:front]"),
    ("{{.HostConfig.Links}}", CTR, "<no value>"),
    ("{{.HostConfig.Dns}}", CTR, "[]"),
    (
        "{{.NetworkSettings.Ports}}",
        CTR,
        "map[80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]] 81/tcp:<nil>]",
    ),
    ("{{.List}}", NET, "[1 x <nil> true map[a:<nil>] []]"),
    ("{{$.Name}}", CTR, "/web"),
    # json
    ("{{json .Args}}", CTR, '["100","x y"]'),
    ("{{json .HostConfig.Links}}", CTR, "null"),
    (
        "{{json .NetworkSettings.Ports}}",
        CTR,
        '{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"81/tcp":null}',
    ),
    ('{{json "<a&b>"}}', CTR, '"<a&b>"'),
    ("{{json .Uni}}", CTR, '"héllo"'),
    # range over lists and maps (maps in key order), variables, else, break/continue
    ("{{range .Args}}[{{.}}]{{end}}", CTR, "[100][x y]"),
    ("{{range $i, $a := .Args}}{{$i}}={{$a}} {{end}}", CTR, "0=100 1=x y "),
    ("{{range .Containers}}{{.IPv4Address}} {{end}}", NET, "172.30.0.2/24 172.30.0.3/24 "),
    ("{{range $id, $c := .Containers}}{{$c.Name}}={{$id}} {{end}}", NET, "web=aaa db=bbb "),
    (
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.IPAddress}} {{end}}",
        CTR,
        "bridge:172.17.0.2 front:10.0.0.3 ",
    ),
    ("{{range .HostConfig.Links}}x{{else}}none{{end}}", CTR, "none"),
    ("{{range .Labels}}x{{else}}empty{{end}}", NET, "empty"),
    ('{{range .Args}}{{if eq . "100"}}{{continue}}{{end}}{{.}}{{end}}', CTR, "x y"),
    ("{{range .Args}}{{.}}{{break}}{{end}}", CTR, "100"),
    ("{{range .Containers}}{{$.Name}}:{{.Name}} {{end}}", NET, "net1:web net1:db "),
    ('{{$x := .Name}}{{if true}}{{$x = "changed"}}{{end}}{{$x}}', NET, "changed"),
    ("{{range (index .IPAM.Config 0)}}{{.}};{{end}}", NET, "172.30.0.1;172.30.0.0/24;"),
    # if / else if / with
    ("{{if .State.Running}}up{{else}}down{{end}}", CTR, "up"),
    ('{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{end}}', CTR, "R"),
    ("{{if .HostConfig.Dns}}D{{else}}noD{{end}}", CTR, "noD"),
    ("{{with .State}}{{.Status}}{{end}}", CTR, "running"),
    ("{{with .Foo}}x{{else}}nofoo{{end}}", {"Foo": ""}, "nofoo"),
    ("{{if not .Internal}}ext{{end}}", NET, "ext"),
    ("{{if and .Name .Internal}}y{{else}}n{{end}}", NET, "n"),
    ("{{or .Internal .Name}}", NET, "net1"),
    ("{{and 1 0 .Bad.Field}}", NET, "0"),  # and/or stop at the first deciding value
    # index and the other builtins
    ('{{index .Config.Labels "tier"}}', CTR, "front"),
    ("{{index .Args 1}}", CTR, "x y"),
    ('{{(index .NetworkSettings.Networks "front").IPAddress}}', CTR, "10.0.0.3"),
    ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', CTR, "8080"),
    ('{{index .Options "com.docker.network.bridge.enable_icc"}}', NET, "false"),
    ("{{len .Args}} {{len .Config.Labels}} {{len .Str}} {{len .Uni}}", CTR, "2 2 11 6"),
    ("{{slice .Str 0 5}}", CTR, "Hello"),
    ('{{print 1 2}} {{print "a" "b"}} {{print 1 "b" 2}}', CTR, "1 2 ab 1b2"),
    ("{{println .Name}}", CTR, "/web\n"),
    ('{{html "<a>"}} {{js "it\'s"}} {{urlquery "a b&c"}}', CTR, "&lt;a&gt; it\\'s a+b%26c"),
    (
        '{{lt "a" "b"}} {{ge 2 1}} {{ne 1 2}} {{eq .Name "x" "/web"}} {{eq nil nil}}',
        CTR,
        "true true true true true",
    ),
    # Docker's functions and pipes
    ('{{join .Args ","}}', CTR, "100,x y"),
    ('{{join .Config.Labels ";"}}', CTR, "blue;front"),
    ('{{join .HostConfig.Links ","}}', CTR, ""),
    ("{{upper .Name}} {{.Name | upper}} {{.Str | lower | upper}}", CTR, "/WEB /WEB HELLO WORLD"),
    ('{{title "hello wide-world foo_bar o\'neil"}}', CTR, "Hello Wide-World Foo_bar O'Neil"),
    ('{{split .Str " "}}', CTR, "[Hello World]"),
    ('{{range split .Str " "}}<{{.}}>{{end}}', CTR, "<Hello><World>"),
    ('{{index (split "a,b" ",") 1}} {{len (split "a,,b" ",")}}', CTR, "b 3"),
    ('{{pad .Name 2 3}}|{{pad "" 3 3}}|', CTR, "  /web   ||"),
    ("{{truncate .Str 5}}|{{truncate .Str 50}}", CTR, "Hello|Hello World"),
    ('{{.Name | printf "%s-%s" "x"}}', NET, "x-net1"),
    # printf
    (
        '{{printf "%s|%v|%q|%t" .Name .Args .Args .State.Running}}',
        CTR,
        '/web|[100 x y]|["100" "x y"]|true',
    ),
    (
        '{{printf "%-10s|%10s|%05d|%x|%X|%o|%b|%c|%U" .Name .Name 42 255 255 8 5 65 65}}',
        CTR,
        "/web      |      /web|00042|ff|FF|10|101|A|U+0041",
    ),
    (
        '{{printf "%6.2f|%e|%g|%v|%v" 3.14159 1234.5678 0.000012 1.0 100000000.0}}',
        CTR,
        "  3.14|1.234568e+03|1.2e-05|1|1e+08",
    ),
    ('{{printf "%5.1s|%.3s|%#x|% d|%+d" "abc" "abcdef" 255 5 5}}', CTR, "    a|abc|0xff| 5|+5"),
    (
        '{{printf "%s %s" .Name}}|{{printf "%s" .Name .Name}}|{{printf "%d%%" 5}}',
        CTR,
        "/web %!s(MISSING)|/web%!(EXTRA string=/web)|5%",
    ),
    (
        '{{printf "%d" "x"}}|{{printf "%t" 1}}|{{printf "%s" nil}}|{{printf "%z" 5}}',
        CTR,
        "%!d(string=x)|%!t(int=1)|%!s(<nil>)|%!z(int=5)",
    ),
    ('{{printf "%v %v" true nil}}', NET, "true <nil>"),
    # literals
    (
        "{{1.5}} {{1e3}} {{0x10}} {{'a'}} {{-5}} {{1_000}} {{017}} {{1e21}} {{0.1}}",
        CTR,
        "1.5 1000 16 97 -5 1000 15 1e+21 0.1",
    ),
    ('{{"a\\tb"}}|{{`raw\\t`}}', CTR, "a\tb|raw\\t"),
    # trimming and comments
    ("x {{- .Name -}} y", CTR, "x/weby"),
    ("x\n  {{- .Name -}}\n  y", CTR, "x/weby"),
    ("{{/* comment */}}x", CTR, "x"),
    ("a {{- /* c */ -}} b", CTR, "ab"),
    ("{{- range .Containers }}\n{{ .Name }}\n{{- end }}", NET, "\nweb\ndb"),
    ("{{ .Name }}|{{\t.Name\t}}|{{.Name\n}}", NET, "net1|net1|net1"),
]

# Docker runs a template on its typed structs first, where numbers are Go ints and maps of
# labels/options are map[string]string; these answers are the typed ones.
TYPED = [
    ("{{eq .State.Pid 1234}}", CTR, "true"),
    ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", CTR, "ok"),
    ('{{printf "%d" .State.Pid}}', CTR, "1234"),
    ('{{index .Config.Labels "missing"}}', CTR, ""),
    ('{{index .Labels "x"}}', NET, ""),
    ('{{index .NetworkSettings.Networks "nope"}}', CTR, "<no value>"),
]

GO_EXEC_ERRORS = [
    ("{{.Foo}}", CTR, 'template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"'),
    (
        "{{.NetworkSettings.Networks.nope.IPAddress}}",
        CTR,
        'template: :1:18: executing "" at <.NetworkSettings.Networks.nope.IPAddress>: '
        'map has no entry for key "nope"',
    ),
    (
        "{{range .Containers}}{{.Foo}} {{end}}",
        NET,
        'template: :1:23: executing "" at <.Foo>: map has no entry for key "Foo"',
    ),
    (
        "{{.Name.Foo}}",
        CTR,
        'template: :1:7: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type interface {}',
    ),
    (
        "{{.HostConfig.Links.Foo}}",
        CTR,
        'template: :1:13: executing "" at <.HostConfig.Links.Foo>: '
        "nil pointer evaluating interface {}.Foo",
    ),
    (
        "{{with .Name}}{{.Foo}}{{end}}",
        CTR,
        'template: :1:16: executing "" at <.Foo>: can\'t evaluate field Foo in type string',
    ),
    (
        "{{index .Args 5}}",
        CTR,
        'template: :1:2: executing "" at <index .Args 5>: error calling index: index out of range: 5',
    ),
    (
        "{{index .Args 2}}",
        CTR,
        'template: :1:2: executing "" at <index .Args 2>: '
        "error calling index: reflect: slice index out of range",
    ),
    (
        "{{index .Config.Labels 1}}",
        CTR,
        'template: :1:2: executing "" at <index .Config.Labels 1>: '
        "error calling index: value has type int; should be string",
    ),
    (
        '{{join .Str ","}}',
        CTR,
        'template: :1:2: executing "" at <join .Str ",">: error calling join: '
        "expected slice, got string",
    ),
    (
        "{{upper .HostConfig.Links}}",
        CTR,
        'template: :1:19: executing "" at <.HostConfig.Links>: '
        "wrong type for value; expected string; got interface {}",
    ),
    (
        "{{upper .Args}}",
        CTR,
        'template: :1:8: executing "" at <.Args>: '
        "wrong type for value; expected string; got []interface {}",
    ),
    ("{{upper 3}}", CTR, 'template: :1:8: executing "" at <3>: expected string; found 3'),
    (
        "{{upper}}",
        CTR,
        'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 0',
    ),
    (
        "{{upper .Name .Name}}",
        CTR,
        'template: :1:2: executing "" at <upper>: wrong number of args for upper: want 1 got 2',
    ),
    (
        '{{pad .Name "x" 1}}',
        CTR,
        'template: :1:12: executing "" at <"x">: expected integer; found "x"',
    ),
    (
        "{{.Name 1}}",
        CTR,
        'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments',
    ),
    (
        "{{eq .Name}}",
        CTR,
        'template: :1:2: executing "" at <eq .Name>: error calling eq: missing argument for comparison',
    ),
    (
        "{{lt .Args 3}}",
        CTR,
        'template: :1:2: executing "" at <lt .Args 3>: error calling lt: invalid type for comparison',
    ),
    (
        "{{eq 1 1.0}}",
        CTR,
        'template: :1:2: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison',
    ),
    (
        "{{len .Foo}}",
        {"A": 1},
        'template: :1:6: executing "" at <.Foo>: map has no entry for key "Foo"',
    ),
    (
        "{{range .Str}}x{{end}}",
        CTR,
        'template: :1:8: executing "" at <.Str>: range can\'t iterate over Hello World',
    ),
    ("{{nil}}", CTR, 'template: :1:2: executing "" at <nil>: nil is not a command'),
    (
        "{{.Name | .Foo}}",
        NET,
        'template: :1:10: executing "" at <.Foo>: Foo is not a method but has arguments',
    ),
    (
        "a\nb{{.Name.X}}",
        NET,
        'template: :2:8: executing "" at <.Name.X>: can\'t evaluate field X in type interface {}',
    ),
]

GO_PARSE_ERRORS = [
    ("{{.Foo", "template: :1: unclosed action"),
    ("{{.Foo}", "template: :1: bad character U+007D '}'"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if .X}}", "template: :1: unexpected EOF"),
    ("{{range}}{{end}}", "template: :1: missing value for range"),
    ("{{if}}{{end}}", "template: :1: missing value for if"),
    ("{{foo}}", 'template: :1: function "foo" not defined'),
    ("{{.Foo | bar}}", 'template: :1: function "bar" not defined'),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("{{`abc}}", "template: :1: unterminated raw quoted string"),
    ("{{.Foo)}}", 'template: :1: unexpected ")" in command'),
    ("{{(.Foo}}", "template: :1: unclosed left paren"),
    ("{{#}}", 'template: :1: unexpected "#" in command'),
    ("{{.Foo#}}", "template: :1: bad character U+0023 '#'"),
    ("{{1a}}", 'template: :1: bad number syntax: "1a"'),
    ("{{.Foo | 3}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{1.Foo}}", 'template: :1: bad number syntax: "1.F"'),
    ("{{'ab'}}", "template: :1: malformed character constant: 'ab'"),
    ('{{"\\q"}}', "template: :1: invalid syntax"),
    ("{{range $a, $b, $c := .X}}{{end}}", "template: :1: too many declarations in range"),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{/* x", "template: :1: unclosed comment"),
    ("{{if .X}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
    ("{{.A}}\n{{.B", "template: :2: unclosed action"),
]


@pytest.mark.parametrize(("text", "data", "expected"), GO_OUTPUT + TYPED)
def test_output(text: str, data: Any, expected: str) -> None:
    assert Template(text).execute(data, missingkey_error=True) == expected


@pytest.mark.parametrize(("text", "data", "message"), GO_EXEC_ERRORS)
def test_execution_error(text: str, data: Any, message: str) -> None:
    tmpl = Template(text)
    with pytest.raises(ExecError) as info:
        tmpl.execute(data, missingkey_error=True)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "message"), GO_PARSE_ERRORS)
def test_parse_error(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        Template(text)
    assert str(info.value) == message


def test_missing_key_without_the_error_option_prints_no_value() -> None:
    assert Template("{{.Foo}}|{{.Foo.Bar}}").execute({"A": 1}) == "<no value>|<no value>"


def test_unsupported_parts_say_so() -> None:
    for text in ('{{template "x"}}', '{{define "x"}}{{end}}', "{{1+2i}}"):
        with pytest.raises(ParseError, match="not supported"):
            Template(text)


# --- Docker's listing contexts and header rows ---------------------------------------------

ROW = ContainerContext(
    {
        "ID": "4fa9e4e36c41",
        "Names": "web",
        "Image": "-",
        "Command": '"sleep 100"',
        "Status": "Up 2 seconds",
        "Ports": "0.0.0.0:8080->80/tcp",
        "Networks": "bridge,front",
        "State": "running",
        "Labels": "a=b,c=d",
        "Size": "0B",
        "LocalVolumes": "0",
        "Mounts": "",
        "RunningFor": "2 seconds ago",
        "CreatedAt": "2026-01-01 00:00:00 +0000 UTC",
    },  # fmt: skip
    {"a": "b", "c": "d"},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{.Names}}", "web"),
        ('{{.Label "a"}}|{{.Label "zz"}}', "b|"),
        ("{{.Names | upper}}", "WEB"),
        ('{{printf "%-8s|" .Names}}', "web     |"),
        ("{{if .Mounts}}m{{else}}nom{{end}}", "nom"),
        ('{{split .Networks ","}}', "[bridge front]"),
        ("{{len .Names}}", "3"),
        # Docker marshals its contexts itself: json.Marshal's HTML escaping stays (-\u003e)
        (
            "{{json .}}",
            '{"Command":"\\"sleep 100\\"","CreatedAt":"2026-01-01 00:00:00 +0000 UTC",'
            '"ID":"4fa9e4e36c41","Image":"-","Labels":"a=b,c=d","LocalVolumes":"0","Mounts":"",'
            '"Names":"web","Networks":"bridge,front","Ports":"0.0.0.0:8080-\\u003e80/tcp",'
            '"RunningFor":"2 seconds ago","Size":"0B","State":"running","Status":"Up 2 seconds"}',
        ),
    ],
)
def test_container_context(text: str, expected: str) -> None:
    assert Template(text).execute(ROW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Foo}}", "can't evaluate field Foo in type *formatter.ContainerContext"),
        ("{{.Names.Foo}}", "can't evaluate field Foo in type string"),
        ("{{.ID 1}}", "wrong number of args for ID: want 0 got 1"),
        ("{{.Label}}", "wrong number of args for Label: want 1 got 0"),
        ("{{range .Names}}x{{end}}", "range can't iterate over web"),
    ],
)
def test_container_context_errors(text: str, message: str) -> None:
    with pytest.raises(ExecError) as info:
        Template(text).execute(ROW)
    assert str(info.value).endswith(": " + message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{.ID}}\t{{.Names}}", "CONTAINER ID\tNAMES"),
        ("{{.Names | upper}} {{lower .Status}}", "NAMES STATUS"),
        ("{{json .Names}}|{{truncate .Names 2}}|{{pad .Names 1 1}}", "NAMES|NAMES| NAMES "),
        ('{{.Label "com.docker.compose-project"}}', "compose project"),
        ('{{printf "%s" .Status}}|{{len .Names}}', "STATUS|5"),
        ("{{json .}}", ""),  # an error: the header row stops where it happened
        ("{{.Names}} {{.Foo}}", "NAMES <no value>"),
    ],
)
def test_header_row(text: str, expected: str) -> None:
    header = HeaderContext(CONTAINER_HEADERS)
    assert Template(text).execute_partial(header, functions=HEADER) == expected


# --- tab writer ----------------------------------------------------------------------------

# outputs of Go 1.19's text/tabwriter.NewWriter(w, 10, 1, 3, ' ', 0), Docker's settings
GO_TABWRITER = [
    ("A\tB\tC\nxxxx\tyy\tz\n", "A         B         C\nxxxx      yy        z\n"),
    ("CONTAINER ID\tNAMES\nabc\tweb\n", "CONTAINER ID   NAMES\nabc            web\n"),
    (
        "a\tb\nlonger text here\tc\tdd\ne\n\tf\n",
        "a                  b\nlonger text here   c         dd\ne\n          f\n",
    ),
    ("x\ty\n\nz\tw\n", "x         y\n\nz         w\n"),
    ("a\t\tc\nbb\t\t\n", "a                   c\nbb                  \n"),
    ("héllo\twörld\nx\ty\n", "héllo     wörld\nx         y\n"),
    (
        "a\tb\tc\td\nA\tB\nAA\tBB\tCC\n",
        "a         b         c         d\nA         B\nAA        BB        CC\n",
    ),
    ("no tabs\nat all\n", "no tabs\nat all\n"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), GO_TABWRITER)
def test_tabwriter_matches_go(text: str, expected: str) -> None:
    assert align(text) == expected
