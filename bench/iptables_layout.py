"""Docker 20.10's iptables rule layout (shared/reference/iptables-layout.txt) for a benchmark node.

The base is the captured layout: default bridge docker0 (172.17.0.0/16), a user network
br-7c749175428f with icc off (172.30.0.0/24), isolation chains, MASQUERADE, and its one published
port. Each published port adds what dockerd adds: a DNAT rule in nat DOCKER, an ACCEPT rule in
filter DOCKER and a hairpin MASQUERADE rule in nat POSTROUTING. The measured ports' rules sit in
the middle of the N filler ports (the expected position of a random port; rules are scanned in
order).
"""

from __future__ import annotations

from dataclasses import dataclass

USER_BRIDGE = "br-7c749175428f"
FILLER_BASE_PORT = 10000


@dataclass(frozen=True)
class Published:
    proto: str  # "tcp" | "udp"
    host_port: int
    container_ip: str
    container_port: int


def filler(n: int) -> list[Published]:
    """N published ports of other containers (172.17.1.x, 172.17.2.x, ...; they need not exist)."""
    return [
        Published("tcp", FILLER_BASE_PORT + i, f"172.17.{1 + i // 200}.{10 + i % 200}", 80)
        for i in range(n)
    ]


def _port_rules(p: Published) -> tuple[str, str, str]:
    """(nat DOCKER, filter DOCKER, nat POSTROUTING) rules dockerd writes for one binding."""
    m = f"-p {p.proto} -m {p.proto}"
    return (
        f"-A DOCKER ! -i docker0 {m} --dport {p.host_port} -j DNAT "
        f"--to-destination {p.container_ip}:{p.container_port}",
        f"-A DOCKER -d {p.container_ip}/32 ! -i docker0 -o docker0 {m} "
        f"--dport {p.container_port} -j ACCEPT",
        f"-A POSTROUTING -s {p.container_ip}/32 -d {p.container_ip}/32 {m} "
        f"--dport {p.container_port} -j MASQUERADE",
    )


def ruleset(measured: list[Published], extra: int) -> str:
    """iptables-restore input: Docker's layout plus `measured` and `extra` filler bindings."""
    fill = filler(extra)
    half = len(fill) // 2
    bindings = [Published("tcp", 32768, "172.17.0.3", 7000), *fill[:half], *measured, *fill[half:]]
    rules = [_port_rules(p) for p in bindings]
    nat_docker = [r[0] for r in rules]
    filter_docker = [r[1] for r in rules]
    hairpin = [r[2] for r in rules]
    b = USER_BRIDGE
    filt = [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
        ":DOCKER-ISOLATION-STAGE-2 - [0:0]",
        ":DOCKER-USER - [0:0]",
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        f"-A FORWARD -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A FORWARD -o {b} -j DOCKER",
        f"-A FORWARD -i {b} ! -o {b} -j ACCEPT",
        "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A FORWARD -o docker0 -j DOCKER",
        "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
        "-A FORWARD -i docker0 -o docker0 -j ACCEPT",
        f"-A FORWARD -i {b} -o {b} -j DROP",
        *filter_docker,
        f"-A DOCKER-ISOLATION-STAGE-1 -i {b} ! -o {b} -j DOCKER-ISOLATION-STAGE-2",
        "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
        "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
        f"-A DOCKER-ISOLATION-STAGE-2 -o {b} -j DROP",
        "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
        "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
        "-A DOCKER-USER -j RETURN",
        "COMMIT",
    ]
    nat = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":DOCKER - [0:0]",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        f"-A POSTROUTING -s 172.30.0.0/24 ! -o {b} -j MASQUERADE",
        "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        *hairpin,
        f"-A DOCKER -i {b} -j RETURN",
        "-A DOCKER -i docker0 -j RETURN",
        *nat_docker,
        "COMMIT",
    ]
    return "\n".join(filt + nat) + "\n"


def docker_commands(p: Published) -> list[list[str]]:
    """The iptables calls dockerd 20.10 makes for one binding: a -C check, then -A, per rule."""
    nat_rule, filter_rule, hairpin = _port_rules(p)
    out: list[list[str]] = []
    for table, rule in (("nat", nat_rule), ("filter", filter_rule), ("nat", hairpin)):
        args = rule.split()[1:]  # drop "-A"
        chain, spec = args[0], args[1:]
        out.append(["iptables", "--wait", "-t", table, "-C", chain, *spec])
        out.append(["iptables", "--wait", "-t", table, "-A", chain, *spec])
    return out
