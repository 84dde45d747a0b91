"""The overlay plugin's pure parts: the cluster view, the local mirror of a global network,
overlay options, names across nodes, default routes, the tunnel map's reconcile."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from controller.cluster.keys import Keys
from controller.cluster.txn import KV
from controller.cluster.watch import Event
from controller.daemon import reconcile_maps
from controller.datapath.types import TunnelEntry
from controller.errors import InvalidArgument
from controller.ops.endpoints import gives_default_route
from controller.plugins.dns import records
from controller.plugins.overlay import mirror
from controller.plugins.overlay.view import ClusterView
from controller.rules import names, netopts
from controller.rules.model import (
    GATEWAY_NETWORK,
    Container,
    Endpoint,
    Network,
    RemoteEndpoint,
)

KEYS = Keys("/t")
NET = "a" * 64
OTHER = "b" * 64
REV = iter(range(100, 10_000))


def kv(key: str, doc: dict[str, Any]) -> KV:
    rev = next(REV)
    return KV(key, json.dumps(doc).encode(), rev, rev, 1)


def network_kv(net_id: str = NET, vni: int = 256, subnet: str = "10.0.0.0/24") -> KV:
    gateway = subnet.replace(".0/24", ".1")
    return kv(KEYS.network(net_id), {
        "id": net_id, "name": f"n{vni}", "vni": vni, "subnet": subnet, "gateway": gateway,
        "ip_range": None, "aux_addresses": {}, "internal": False, "attachable": False,
        "options": {}, "labels": {}, "created": 1.5e9, "driver": "overlay",
    })  # fmt: skip


def endpoint_kv(ep: str, node: str, ip: str, net_id: str = NET, name: str = "") -> KV:
    return kv(KEYS.endpoint(net_id, ep), {
        "id": ep, "network": net_id, "name": name or f"c{ep}", "node": node, "ip": ip,
        "mac": f"02:42:{ip}", "aliases": ["web"], "container": ep * 6,
    })  # fmt: skip


def node_kv(name: str, address: str) -> KV:
    return kv(KEYS.node(name), {"name": name, "address": address, "lease": 1, "ttl": 20,
                                "interval": 6, "joined": 1.0})  # fmt: skip


def put(k: KV) -> Event:
    return Event("put", k)


def delete(key: str) -> Event:
    return Event("delete", KV(key, b"", 0, next(REV), 0))


def full_view() -> ClusterView:
    view = ClusterView(KEYS, "me")
    view.reset(
        [
            network_kv(),
            node_kv("me", "198.18.0.1"),
            node_kv("n2", "198.18.0.2"),
            endpoint_kv("1", "me", "10.0.0.2"),
            endpoint_kv("2", "n2", "10.0.0.3"),
        ],
        50,
    )
    return view


def test_the_view_knows_remote_endpoints_not_its_own() -> None:
    view = full_view()
    assert [r.ip for r in view.remote()] == ["10.0.0.3"]
    assert view.tunnel() == {"10.0.0.3": TunnelEntry("198.18.0.2", 256, "02:42:10.0.0.3")}
    assert set(view.mine()) == {"1"} and view.endpoints_of("n2") == 1
    rep = view.remote()[0]
    assert (rep.name, rep.node, rep.node_address, rep.aliases) == ("c2", "n2", "198.18.0.2",
                                                                   ("web",))  # fmt: skip


def test_events_say_what_changed() -> None:
    view = full_view()
    mine = view.apply(put(endpoint_kv("3", "me", "10.0.0.4")))
    assert not mine  # this node's own endpoint: nothing to program
    theirs = view.apply(put(endpoint_kv("4", "n2", "10.0.0.5")))
    assert theirs.endpoints and not theirs.networks
    assert "10.0.0.5" in view.tunnel()
    gone = view.apply(delete(KEYS.endpoint(NET, "4")))
    assert gone.endpoints and "10.0.0.5" not in view.tunnel()
    assert view.apply(delete(KEYS.endpoint(NET, "4"))).endpoints is False  # already gone
    added = view.apply(put(network_kv(OTHER, 257, "10.0.1.0/24")))
    assert added.networks == {OTHER}
    assert view.apply(delete(KEYS.network(OTHER))).networks == {OTHER}
    assert not view.apply(put(kv("/t/v1/future-kind/x", {})))  # not ours: ignored
    assert not view.apply(put(KV(KEYS.endpoint(NET, "9"), b"{not json", 1, 1, 1)))


def test_a_node_without_an_address_or_a_network_unknown_gives_no_tunnel_entry() -> None:
    view = full_view()
    view.apply(put(endpoint_kv("5", "n3", "10.0.0.6")))  # n3 has not registered (yet)
    assert "10.0.0.6" not in view.tunnel() and "10.0.0.6" in {r.ip for r in view.remote()}
    assert view.apply(put(node_kv("n3", "198.18.0.3"))).nodes
    assert view.tunnel()["10.0.0.6"].node == "198.18.0.3"
    view.apply(put(endpoint_kv("6", "n2", "10.0.9.2", net_id=OTHER)))  # no such network
    assert "10.0.9.2" not in view.tunnel()
    # the node's lease expired: node and endpoints go together
    view.apply(delete(KEYS.node("n2")))
    assert "10.0.0.3" not in view.tunnel()


def test_a_reset_reports_the_difference_with_before() -> None:
    view = full_view()
    same = view.reset(
        [network_kv(), node_kv("me", "198.18.0.1"), node_kv("n2", "198.18.0.2"),
         endpoint_kv("2", "n2", "10.0.0.3")], 60,
    )  # fmt: skip
    assert not same.endpoints and same.networks == {NET}  # the document was written again
    emptied = view.reset([], 70)
    assert emptied.networks == {NET} and emptied.endpoints and emptied.nodes
    assert view.tunnel() == {} and view.revision == 70


def global_network(**changes: Any) -> Any:
    from controller.cluster.networks import GlobalNetwork

    fields = json.loads(network_kv().value)
    fields.update(changes)
    return GlobalNetwork(**fields)


def test_a_global_network_as_a_node_applies_it() -> None:
    local = mirror.local_network(global_network(), 1500)
    assert (local.driver, local.scope, local.vni, local.mtu, local.tunnel_mtu) == (
        "overlay", "global", 256, 1450, 1450)  # fmt: skip
    assert local.bridge == names.bridge_name(NET) and not local.masquerade and local.icc
    assert local.created == "2017-07-14T02:40:00.000000Z"
    jumbo = mirror.local_network(global_network(options={netopts.DRIVER_MTU: "1400"}), 9000)
    assert (jumbo.mtu, jumbo.tunnel_mtu) == (1400, 8950)  # what the tunnel carries: the uplink's
    other = mirror.local_network(global_network(), 1500)
    other.key = 7
    assert mirror.same(local, other)
    assert not mirror.same(local, mirror.local_network(global_network(), 9000))


def test_overlay_options() -> None:
    assert netopts.parse_overlay_options({}) is None
    assert netopts.parse_overlay_options({netopts.DRIVER_MTU: "0"}) is None
    assert netopts.parse_overlay_options({netopts.DRIVER_MTU: "1400", "x.y": "z"}) == 1400
    with pytest.raises(InvalidArgument, match="invalid MTU number: 20"):
        netopts.parse_overlay_options({netopts.DRIVER_MTU: "20"})
    with pytest.raises(InvalidArgument, match="strconv.Atoi"):
        netopts.parse_overlay_options({netopts.DRIVER_MTU: "big"})
    with pytest.raises(InvalidArgument, match="the cluster store allocates VNIs"):
        netopts.parse_overlay_options({netopts.VXLAN_ID_LIST: "4097"})


def _net(name: str, driver: str, **kw: Any) -> Network:
    return Network(id=name * 64 if len(name) == 1 else name, name=name, key=1, driver=driver,
                   created="", subnet="10.0.0.0/24", gateway="10.0.0.1", **kw)  # fmt: skip


def test_names_across_nodes_resolve_on_the_overlay_only() -> None:
    ov = _net("o", "overlay")
    gw = _net("g", "bridge")
    gw.name = GATEWAY_NETWORK
    me = Container(id="1" * 64, name="c1", created="", network_mode="o", hostname="h1",
                   netns="x")  # fmt: skip
    ep = Endpoint(id="e" * 64, container_id=me.id, network_id=ov.id, ifname="eth0",
                  host_ifname="hwv1", ip="10.0.0.2", prefixlen=24, mac="m", gateway="")  # fmt: skip
    rep = RemoteEndpoint(id="r", network_id=ov.id, name="c2", container="2" * 12,
                         ip="10.0.0.3", mac="m", node="n2", node_address="198.18.0.2",
                         aliases=("web",))  # fmt: skip
    view = records.View.build([ov, gw], [me], [ep], [rep])
    for name in ("c2", "web", "2" * 12, "c2.o", "WEB."):
        assert view.lookup(me, ov.id, name).addresses == ["10.0.0.3"], name
    assert view.lookup(me, ov.id, "c3").addresses == []
    assert view.reverse(me, ov.id, "10.0.0.3") == "c2.o"
    assert records.resolves_names(ov) and not records.resolves_names(gw)


def test_overlays_and_internal_networks_give_no_default_route() -> None:
    assert gives_default_route(_net("b", "bridge"))
    assert not gives_default_route(_net("b", "bridge", internal=True))
    assert not gives_default_route(_net("o", "overlay"))


def test_the_vxlan_device_and_the_gateway_bridge_are_hawser_links() -> None:
    assert names.parse_link_name("hawser_vx") == names.LinkName("vxlan", "")
    assert names.parse_link_name("hawser_gwbridge") == names.LinkName("gateway-bridge", "")
    assert len(names.GATEWAY_BRIDGE) <= 15 and not names.is_hawser_link("hawser_vx2")


class FakeTunnel:
    def __init__(self, rows: dict[str, TunnelEntry]) -> None:
        self.rows = dict(rows)
        self.writes: list[dict[str, TunnelEntry]] = []
        self.deletes: list[list[str]] = []

    def tunnel(self) -> list[dict[str, Any]]:
        return [
            {"ip": ip, "node": e.node, "vni": e.vni, "mac": e.mac} for ip, e in self.rows.items()
        ]

    def set_tunnel_endpoints(self, entries: dict[str, TunnelEntry]) -> None:
        self.writes.append(dict(entries))
        self.rows.update(entries)

    def delete_tunnel_endpoints(self, ips: list[str]) -> None:
        self.deletes.append(list(ips))
        for ip in ips:
            self.rows.pop(ip, None)


class FakeNode:
    def __init__(self, dp: FakeTunnel, want: dict[str, TunnelEntry] | None) -> None:
        import threading

        self.datapath = dp
        self.tunnel_entries = lambda: want
        self.tunnel_lock = threading.Lock()


A = TunnelEntry("198.18.0.2", 256, "02:42:0a:00:00:03")
B = TunnelEntry("198.18.0.3", 256, "02:42:0a:00:00:04")


def test_the_tunnel_map_is_left_alone_until_the_view_is_known_then_made_equal() -> None:
    dp = FakeTunnel({"10.0.0.3": A, "10.0.0.9": B})
    counts: Counter[str] = Counter()
    kept = reconcile_maps._sync_tunnel(FakeNode(dp, None), counts)  # type: ignore[arg-type]
    assert kept == {"10.0.0.3", "10.0.0.9"} and not dp.writes and not dp.deletes
    moved = TunnelEntry("198.18.0.5", 256, A.mac)  # c3 now on another node
    want = {"10.0.0.3": moved, "10.0.0.4": B}
    kept = reconcile_maps._sync_tunnel(FakeNode(dp, want), counts)  # type: ignore[arg-type]
    assert dp.rows == want and kept == set(want)
    assert dp.writes == [want] and dp.deletes == [["10.0.0.9"]]
    assert counts == {"tunnel entries rewritten": 2, "tunnel entries deleted": 1}
