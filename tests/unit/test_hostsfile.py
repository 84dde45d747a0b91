"""/etc/hosts and /etc/resolv.conf text."""

from __future__ import annotations

from controller.rules.hostsfile import (
    ResolvConf,
    container_resolv,
    own_names,
    parse_resolv,
    render_hosts,
    render_resolv,
)
from controller.rules.legacy_links import link_hosts_names

HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def test_matches_captured_docker_hosts() -> None:
    text = render_hosts(
        "c9a13d6cc644",
        "172.17.0.3",
        [("172.17.0.2", link_hosts_names("db", "3341929632a6", "db2"))],
    )
    # Captured from Docker 20.10 (shared/reference/link-hosts.txt): web2 linked to db2 as db.
    assert text == HEADER + "172.17.0.2\tdb 3341929632a6 db2\n172.17.0.3\tc9a13d6cc644\n"


def test_plain_and_multi_ip() -> None:
    assert render_hosts("h", "10.0.0.2") == HEADER + "10.0.0.2\th\n"
    assert render_hosts("h", ["10.0.0.2", "10.1.0.2"]) == (HEADER + "10.0.0.2\th\n10.1.0.2\th\n")
    assert render_hosts("h", []) == HEADER


def test_domain_names() -> None:
    assert own_names("web") == "web"
    assert own_names("web", "example.com") == "web.example.com web"
    assert own_names("web.example.com") == "web.example.com web"
    assert render_hosts("web", "10.0.0.2", domainname="lan").endswith("10.0.0.2\tweb.lan web\n")


def test_render_resolv() -> None:
    assert render_resolv(["127.0.0.11"], [], ["ndots:0"]) == (
        "nameserver 127.0.0.11\noptions ndots:0\n"
    )
    assert render_resolv(["1.1.1.1", "9.9.9.9"], ["a.com", "b.com"], []) == (
        "search a.com b.com\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"
    )
    assert render_resolv(["1.1.1.1"], ["."], [" "]) == "nameserver 1.1.1.1\n"
    assert render_resolv([]) == ""


def test_parse_and_filter_host_resolv() -> None:
    host = parse_resolv(
        "# generated\n"
        "nameserver 127.0.0.53\n"
        "nameserver 10.0.0.1 # lan\n"
        "nameserver ::1\n"
        "nameserver fd00::1\n"
        "search old.example\n"
        "search corp.example lan\n"
        "options edns0 trust-ad\n"
        "; comment\n"
    )
    assert host == ResolvConf(
        ["127.0.0.53", "10.0.0.1", "::1", "fd00::1"], ["corp.example", "lan"], ["edns0", "trust-ad"]
    )
    assert container_resolv(host) == ResolvConf(
        ["10.0.0.1"], ["corp.example", "lan"], ["edns0", "trust-ad"]
    )
    assert container_resolv(host, ipv6=True).nameservers == ["10.0.0.1", "fd00::1"]


def test_only_loopback_falls_back_to_public_dns() -> None:
    host = parse_resolv("nameserver 127.0.0.53\n")
    assert container_resolv(host).nameservers == ["8.8.8.8", "8.8.4.4"]
