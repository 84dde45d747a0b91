"""Values that reach a sandbox's files: the model's checks and the renderers' last guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import InvalidArgument, one_line, shown
from controller.kernel.cgroups import ContainerCgroups
from controller.kernel.supervisor import ProcessSpec, Supervisor
from controller.rules import hostsfile, legacy_links, names, netopts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("a\nb", '"a\\nb"'),
        ('a"b\\c\x00', '"a\\"b\\\\c\\x00"'),
        ("x\u2028y", '"x\\u2028y"'),
        ("x" * 201, '"' + "x" * 200 + '"…'),
    ],
)
def test_shown_quotes_what_would_break_a_line(value: str, expected: str) -> None:
    assert shown(value) == expected


def test_an_error_message_is_one_line_by_construction() -> None:
    assert InvalidArgument("bad\nnameserver 6.6.6.6\x00").message == (
        "bad\\nnameserver 6.6.6.6\\x00"
    )
    assert one_line("plain text") == "plain text"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (["1.1.1.1", "2001:db8::1"], ["1.1.1.1", "2001:db8::1"]),
        (["::ffff:1.2.3.4"], ["::ffff:102:304"]),
    ],
)
def test_dns_servers_are_addresses(given: list[str], kept: list[str]) -> None:
    assert netopts.parse_dns(given) == kept


@pytest.mark.parametrize(
    "bad", ["abc", "1.2.3.999", "", " 1.1.1.1", "1.1.1.1\n", "fe80::1%eth0", "1.1.1.1 6.6.6.6"]
)
def test_anything_else_is_refused_as_docker_words_it(bad: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        netopts.parse_dns([bad])
    assert info.value.message == (
        f"invalid argument {shown(bad, quote_always=True)} for Dns: {shown(bad)} is not an ip address"
    )


@pytest.mark.parametrize("alias", ["db", "a", "my-db.local", "x_1"])
def test_plain_aliases_pass(alias: str) -> None:
    assert names.validate_alias(alias) == alias
    assert legacy_links.validate_link(f"web:{alias}") == ("web", alias)


@pytest.mark.parametrize("alias", ["a b", "x\n6.6.6.6 evil", "-x", "", "a\tb", "é", "a" * 254])
def test_other_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid alias"):
        names.validate_alias(alias)


@pytest.mark.parametrize("spec", ["pubc\n6.6.6.6:x", "a b:x", "/pubc x:/p/y"])
def test_a_link_to_something_that_is_no_container_name_is_refused(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="bad format for links"):
        legacy_links.validate_link(spec)


def test_env_needs_a_name() -> None:
    assert netopts.parse_env(["A=1\n2", "B="]) == ["A=1\n2", "B="]
    for bad in ("", "=x"):
        with pytest.raises(InvalidArgument, match="invalid environment variable"):
            netopts.parse_env([bad])


def test_hostnames_fit_sethostname() -> None:
    assert names.validate_hostname("a" * 63) == "a" * 63
    with pytest.raises(InvalidArgument) as info:
        names.validate_hostname("a.b" * 22)  # 66 characters of valid labels
    assert info.value.message.startswith("invalid hostname format: ")
    with pytest.raises(InvalidArgument) as info:
        names.validate_hostname("a\nb")
    assert info.value.message == 'invalid hostname format: "a\\nb"'


@pytest.mark.parametrize(
    ("ip", "entry"),
    [("6.6.6.6\n1.2.3.4", "x"), ("172.17.0.2", "x\n6.6.6.6 evil"), ("172.17.0.2", "x\x00"),
     ("not-an-ip", "x"), ("172.17.0.2", "")],
)  # fmt: skip
def test_the_hosts_renderer_refuses_a_value_that_would_leave_its_line(ip: str, entry: str) -> None:
    with pytest.raises(InvalidArgument, match="refusing to write .* into /etc/hosts"):
        hostsfile.render_hosts("host", ["172.17.0.3"], [(ip, entry)])
    with pytest.raises(InvalidArgument, match="into /etc/hosts"):
        hostsfile.render_hosts("h\nx", ["172.17.0.3"])


def test_the_resolv_renderer_refuses_a_nameserver_that_is_not_one_address() -> None:
    assert hostsfile.render_resolv(["1.1.1.1"]) == "nameserver 1.1.1.1\n"
    for bad in ("1.1.1.1\nnameserver 6.6.6.6", "1.1.1.1\x00", "abc", ""):
        with pytest.raises(InvalidArgument, match="into /etc/resolv.conf"):
            hostsfile.render_resolv([bad])


def test_node_nameservers_that_are_not_addresses_are_dropped() -> None:
    node = hostsfile.parse_resolv("nameserver foo\nnameserver 10.0.0.53\nnameserver 127.0.0.1\n")
    assert hostsfile.container_resolv(node).nameservers == ["10.0.0.53"]


def test_a_process_that_cannot_start_leaves_no_state_folder(tmp_path: Path) -> None:
    cgroups = ContainerCgroups(tmp_path / "cgroups")
    supervisor = Supervisor(tmp_path / "containers", cgroups, lambda ctr_id, shim, code: None)
    with pytest.raises(InvalidArgument, match="null byte"):
        supervisor.start("c1", ProcessSpec(netns="", hostname="h", env=[], cmd=["true\x00"]))
    assert not (tmp_path / "containers").exists() and not (tmp_path / "cgroups").exists()
