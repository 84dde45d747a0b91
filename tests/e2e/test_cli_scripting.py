"""The scripts a Docker user writes, run against a real daemon: --format, inspect -f,
--filter, -n, --socket after the subcommand; compared with what Docker prints for the same
objects (shapes captured from Docker 20.10)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.gotemplate import Template
from testbed.hawser import HAWSER, HawserNode
from testbed.shell import sh

DATA = Path(__file__).parent / "data"
#: `docker network inspect noicc` captured on Docker 20.10 (shared/reference), kept with the tests
DOCKER_NOICC = json.loads((DATA / "docker-20.10-network-inspect.json").read_text())[0]
#: the header line of Docker 20.10's ``docker ps`` (shared/reference/docker-ps.txt)
DOCKER_PS_HEADER = (
    "CONTAINER ID   IMAGE     COMMAND          CREATED                  STATUS                  "
    "PORTS                                           NAMES"
)


@pytest.fixture(scope="module")
def scene(shared_node: HawserNode) -> Iterator[HawserNode]:
    """noicc (172.30.0.0/24, icc off) with db, as in the reference; web published on
    net1; br on the default bridge; done, exited with status 3."""
    node = shared_node
    node.cli("network", "create", "--subnet", "172.30.0.0/24",
             "-o", "com.docker.network.bridge.enable_icc=false", "noicc")  # fmt: skip
    node.cli("network", "create", "--label", "env=test", "net1")
    node.cli("run", "-d", "--name", "db", "--network", "noicc")
    node.cli("run", "-d", "--name", "web", "--network", "net1", "-p", "8080:80", "--expose", "443")
    node.cli("run", "-d", "--name", "br")
    done = node.cli("run", "--name", "done", "sh", "-c", "exit 3", check=False)
    assert done.returncode == 3, done.stderr
    yield node


def lines(node: HawserNode, *args: str) -> list[str]:
    return node.cli(*args).stdout.splitlines()


def test_ps_format_and_filters(scene: HawserNode) -> None:
    node = scene
    assert lines(node, "ps", "--format", "{{.Names}}") == ["br", "web", "db"]  # newest first
    assert lines(node, "ps", "-a", "--format", "{{.Names}} {{.State}}")[0] == "done exited"
    assert lines(node, "ps", "--filter", "name=web", "--filter", "status=running",
                 "--format", "{{.Names}}") == ["web"]  # fmt: skip
    assert lines(node, "ps", "-f", "name=^d", "--format", "{{.Names}}") == ["db"]
    assert lines(node, "ps", "-f", "name=^d", "-a", "--format", "{{.Names}}") == ["done", "db"]
    assert lines(node, "ps", "-f", "status=exited", "-f", "exited=3", "--format",
                 "{{.Names}} {{.Status}}")[0].startswith("done Exited (3) ")  # fmt: skip
    assert lines(node, "ps", "-f", "network=noicc", "-f", "network=net1",
                 "--format", "{{.Names}}") == ["web", "db"]  # fmt: skip
    web_id = node.json("inspect", "web")[0]["Id"]
    assert lines(node, "ps", "-q", "-f", "publish=8080") == [web_id[:12]]
    assert lines(node, "ps", "-q", "-f", "expose=443/tcp") == [web_id[:12]]
    assert lines(node, "ps", "-q", "-f", f"id={web_id[:6]}") == [web_id[:12]]
    assert lines(node, "ps", "-n", "1", "--format", "{{.Names}}") == ["done"]
    assert lines(node, "ps", "-l", "-q") == [node.json("inspect", "done")[0]["Id"][:12]]


def test_ps_tables_align_like_dockers(scene: HawserNode) -> None:
    table = lines(
        scene, "ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Networks}}\\t{{.Ports}}"
    )
    assert re.fullmatch(r"CONTAINER ID   NAMES     NETWORKS   PORTS", table[0])
    web = next(row for row in table if " web " in row)
    assert re.fullmatch(r"[0-9a-f]{12}   web       net1       0\.0\.0\.0:8080->80/tcp, 443/tcp"
                        r"|[0-9a-f]{12}   web       net1       443/tcp, 0\.0\.0\.0:8080->80/tcp",
                        web)  # fmt: skip
    # the default table: Docker's columns, no more (no OWNER without an engine's container),
    # and widths (IMAGE is at least 10 wide)
    default = lines(scene, "ps")[0]
    assert default.split() == DOCKER_PS_HEADER.split()
    assert default.startswith("CONTAINER ID   IMAGE     COMMAND ")


def test_inspect_format_scripts(scene: HawserNode) -> None:
    node = scene
    br = node.json("inspect", "br")[0]
    assert lines(node, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "br") == [
        br["NetworkSettings"]["IPAddress"]
    ]
    assert br["NetworkSettings"]["IPAddress"].startswith("172.17.")
    web_ip = node.ip_of("web", "net1")
    prefix = node.json("inspect", "web")[0]["NetworkSettings"]["Networks"]["net1"]["IPPrefixLen"]
    assert lines(node, "inspect", "-f", "{{.NetworkSettings.Networks.net1.IPAddress}}", "web") == [
        web_ip
    ]
    pid = lines(node, "inspect", "-f", "{{.State.Pid}} {{.State.Running}}", "br")
    assert pid == [f"{br['State']['Pid']} true"]
    assert lines(node, "inspect", "--format", "{{.Name}}", "web", "net1") == ["/web", "net1"]
    port = '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}'
    assert lines(node, "inspect", "-f", port, "web") == ["8080"]
    assert lines(node, "network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}} {{end}}",
                 "net1") == [f"{web_ip}/{prefix} "]  # fmt: skip
    assert lines(node, "network", "inspect", "-f", '{{index .Labels "env"}}', "net1") == ["test"]


def test_network_inspect_format_matches_dockers_for_the_same_network(scene: HawserNode) -> None:
    """The reference network (noicc with db at 172.30.0.2) was built here the same way:
    the same templates print the same text over Hawser's object and Docker's."""
    templates = [
        "{{range .Containers}}{{.IPv4Address}} {{end}}",
        "{{.Name}} {{.Scope}} {{.Driver}} {{.Internal}} {{json .Options}}",
        "{{range $id, $c := .Containers}}{{$c.Name}} {{$c.MacAddress}}{{end}}",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{len .Containers}}",
        '{{index .Options "com.docker.network.bridge.enable_icc"}}',
    ]
    for text in templates:
        docker = Template(text).execute(DOCKER_NOICC, missingkey_error=True)
        assert lines(scene, "network", "inspect", "-f", text, "noicc") == [docker], text


def test_network_ls_scripts(scene: HawserNode) -> None:
    node = scene
    net1 = node.json("network", "inspect", "net1")[0]["Id"]
    assert lines(node, "network", "ls", "-q", "--filter", "name=net1") == [net1[:12]]
    assert lines(node, "network", "ls", "-f", "type=custom", "--format", "{{.Name}}") == [
        "net1",
        "noicc",
    ]
    assert lines(node, "network", "ls", "-f", "label=env=test", "--format", "{{.Name}}") == ["net1"]
    assert lines(node, "network", "ls", "-f", "driver=bridge", "-f", "type=builtin",
                 "--format", "{{.Name}}") == ["bridge"]  # fmt: skip
    table = lines(node, "network", "ls")
    assert table[0] == "NETWORK ID     NAME      DRIVER    SCOPE"


def test_mistakes_give_dockers_errors(scene: HawserNode) -> None:
    node = scene
    bad = node.cli("ps", "--format", "{{.Foo}}", check=False)
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == (
        'failed to execute template: template: :1:2: executing "" at <.Foo>: '
        "can't evaluate field Foo in type *formatter.ContainerContext\n"
    )
    field = node.cli("inspect", "-f", "{{.Foo}}", "web", check=False)
    assert (field.returncode, field.stdout) == (1, "\n")
    assert field.stderr == (
        'template parsing error: template: :1:2: executing "" at <.Foo>: '
        'map has no entry for key "Foo"\n'
    )
    parse = node.cli("inspect", "-f", "{{.Name", "web", check=False)
    assert (parse.returncode, parse.stderr) == (
        64,
        "template parsing error: template: :1: unclosed action\n",
    )
    flag = node.cli("ps", "--bogus", check=False)
    assert (flag.returncode, flag.stderr) == (
        125,
        "unknown flag: --bogus\nSee 'hawser ps --help'.\n",
    )
    flt = node.cli("ps", "--filter", "colour=red", check=False)
    assert (flt.returncode, flt.stderr) == (
        1,
        "Error response from daemon: Invalid filter 'colour'\n",
    )


def test_socket_after_the_subcommand(scene: HawserNode) -> None:
    sock = str(scene.socket)
    after = sh(HAWSER, "ps", "--socket", sock, "--format", "{{.Names}}", check=False)
    assert (after.returncode, after.stdout.split()) == (0, ["br", "web", "db"])
    nested = sh(HAWSER, "network", "ls", "-q", "--socket", sock, "-f", "name=noicc", check=False)
    assert nested.returncode == 0 and len(nested.stdout.split()) == 1
