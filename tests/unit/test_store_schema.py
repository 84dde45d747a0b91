"""The store's schema version and its migration: a schema-1 store (raw ``-p`` specs, exposed
ports as texts, no serving endpoint) is converted when a daemon opens it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from controller.errors import HawserError
from controller.rules.portspec import Port, PortBinding
from controller.store import schema
from controller.store.sqlite import Store

V1_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    key INTEGER NOT NULL UNIQUE, bridge TEXT, doc TEXT NOT NULL);
CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE endpoints (id TEXT PRIMARY KEY, container_id TEXT NOT NULL, network_id TEXT NOT NULL,
    ip TEXT NOT NULL, host_ifname TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE port_bindings (container_id TEXT NOT NULL, proto TEXT NOT NULL,
    host_ip TEXT NOT NULL, host_port INTEGER NOT NULL, container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port));
"""


def _container(ctr_id: str, publish: list[str], expose: list[str]) -> str:
    return json.dumps({
        "id": ctr_id, "name": ctr_id, "created": "", "network_mode": "bridge",
        "hostname": ctr_id, "netns": "", "publish": publish, "expose": expose,
        "publish_all": False,
    })  # fmt: skip


def _endpoint(ep_id: str, ctr_id: str, ifname: str, ip: str) -> tuple[str, ...]:
    doc = {"id": ep_id, "container_id": ctr_id, "network_id": "n1", "ifname": ifname,
           "host_ifname": "hw-" + ep_id, "ip": ip, "prefixlen": 16, "mac": "02:42:00:00:00:00",
           "gateway": "172.17.0.1"}  # fmt: skip
    return ep_id, ctr_id, "n1", ip, "hw-" + ep_id, json.dumps(doc)


def make_v1(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(V1_TABLES)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO containers VALUES (?,?,?)",
        ("web", "web", _container("web", ["127.0.0.1:8080:80", "9000-9001:90-91/udp"],
                                  ["80/tcp", "90/udp", "91/udp", "443/tcp"])),
    )  # fmt: skip
    db.execute(
        "INSERT INTO containers VALUES (?,?,?)", ("idle", "idle", _container("idle", [], []))
    )
    db.executemany(
        "INSERT INTO endpoints VALUES (?,?,?,?,?,?)",
        [_endpoint("e0", "web", "eth0", "172.17.0.2"), _endpoint("e1", "web", "eth1", "10.1.0.2"),
         _endpoint("e2", "idle", "eth0", "172.17.0.3")],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO port_bindings VALUES (?,?,?,?,?)",
        [("web", "tcp", "127.0.0.1", 8080, 80), ("web", "udp", "0.0.0.0", 9000, 90),
         ("web", "udp", "0.0.0.0", 9001, 91)],
    )  # fmt: skip
    db.commit()
    db.close()


def test_a_schema_1_store_is_converted_on_open(tmp_path: Path) -> None:
    path = tmp_path / "hawser.db"
    make_v1(path)
    store = Store(path)
    web, idle = store.container("web"), store.container("idle")
    assert web is not None and idle is not None
    assert web.expose == [Port(80, "tcp"), Port(90, "udp"), Port(91, "udp"), Port(443, "tcp")]
    assert (web.ports_endpoint, idle.ports_endpoint) == ("e0", "")  # eth0 served them
    assert store.port_requests("web") == [
        PortBinding("tcp", 80, "127.0.0.1", 8080, 8080),
        PortBinding("udp", 90, "", 9000, 9000),
        PortBinding("udp", 91, "", 9001, 9001),
    ]
    assert store.bindings("web") == [
        PortBinding.bound("tcp", 80, "127.0.0.1", 8080),
        PortBinding.bound("udp", 90, "0.0.0.0", 9000),
        PortBinding.bound("udp", 91, "0.0.0.0", 9001),
    ]
    assert [ep.ifindex for ep in store.endpoints()] == [0, 0, 0]  # reconcile learns them
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == (str(schema.VERSION),)
    doc = json.loads(db.execute("SELECT doc FROM containers WHERE id='web'").fetchone()[0])
    assert "publish" not in doc and doc["expose"][0] == [80, "tcp"]
    db.close()
    reopened = Store(path)  # a converted store opens as it is
    assert reopened.port_requests("web")[0].host_ip == "127.0.0.1"
    reopened.close()


def test_a_fresh_store_starts_at_the_current_version(tmp_path: Path) -> None:
    Store(tmp_path / "new.db").close()
    db = sqlite3.connect(tmp_path / "new.db")
    assert db.execute("SELECT value FROM meta").fetchone() == (str(schema.VERSION),)
    db.close()


def test_a_newer_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "hawser.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99'")
    db.commit()
    db.close()
    with pytest.raises(HawserError) as exc:
        Store(path)
    assert exc.value.message == (
        f"the store {path} has schema 99, newer than this daemon's ({schema.VERSION}): "
        "run a newer hawserd"
    )
