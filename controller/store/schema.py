"""The store's tables, its version, and the steps that bring an older store up to it.

``meta.schema_version`` says which tables and document shapes a store holds. A daemon opens
a store of its own version or older: each step of ``MIGRATIONS`` converts the rows of one
version into the next, inside the transaction that opens the store (all or nothing).

Versions:

1. Containers keep their ``-p`` specs as given (``publish``, re-parsed on inspect) and their
   exposed ports as ``"80/tcp"`` texts; the endpoint serving the ports is whichever is eth0.
2. The asked bindings are rows (``port_requests``, parsed once); exposed ports are
   ``[port, proto]`` pairs; the container names the endpoint serving its ports
   (``ports_endpoint``); an endpoint keeps its veth's ifindex (0 until reconcile learns it).
   Tables and document fields added later with defaults (``plugin_state``; the ``owner``,
   ``engine_id`` and ``sandbox_key`` of a container, the ``owner`` of a network) need no step:
   an older store reads as Hawser's own objects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from controller.rules import portspec

VERSION = 2

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, key INTEGER NOT NULL UNIQUE,
    bridge TEXT, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY,
    container_id TEXT NOT NULL REFERENCES containers(id),
    network_id TEXT NOT NULL REFERENCES networks(id),
    ip TEXT NOT NULL, host_ifname TEXT NOT NULL UNIQUE, doc TEXT NOT NULL,
    UNIQUE (network_id, ip), UNIQUE (container_id, network_id));
-- bound bindings: one host port each, unique per (proto, host address, port)
CREATE TABLE IF NOT EXISTS port_bindings (
    container_id TEXT NOT NULL REFERENCES containers(id),
    proto TEXT NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port));
-- state a plugin keeps between an engine's calls (Docker's IPAM pools, endpoints made
-- before their sandbox is known), one JSON document per key. Added in version 2 with
-- IF NOT EXISTS: no row of an older store changes
CREATE TABLE IF NOT EXISTS plugin_state (
    plugin TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (plugin, key));
-- asked bindings (-p as given, parsed): what inspect shows as HostConfig.PortBindings
CREATE TABLE IF NOT EXISTS port_requests (
    container_id TEXT NOT NULL REFERENCES containers(id),
    seq INTEGER NOT NULL, proto TEXT NOT NULL, container_port INTEGER NOT NULL,
    host_ip TEXT NOT NULL, host_port_low INTEGER, host_port_high INTEGER,
    PRIMARY KEY (container_id, seq));
"""


def _v1_to_v2(db: sqlite3.Connection) -> None:
    served = {ctr_id for (ctr_id,) in db.execute("SELECT DISTINCT container_id FROM port_bindings")}
    eth0 = {}
    for ep_id, ctr_id, doc in db.execute("SELECT id, container_id, doc FROM endpoints"):
        if json.loads(doc).get("ifname") == "eth0":
            eth0[ctr_id] = ep_id
    for ctr_id, doc_text in db.execute("SELECT id, doc FROM containers").fetchall():
        doc = json.loads(doc_text)
        asked = [b for spec in doc.pop("publish", []) for b in portspec.parse_publish(spec)]
        db.executemany(
            "INSERT INTO port_requests VALUES (?,?,?,?,?,?,?)",
            [
                (ctr_id, seq, b.proto, b.container_port, b.host_ip, b.host_port_low,
                 b.host_port_high)
                for seq, b in enumerate(asked)
            ],
        )  # fmt: skip
        exposed = []
        for item in doc.get("expose", []):
            number, _, proto = str(item).partition("/")
            exposed.append([int(number), proto or "tcp"])
        doc["expose"] = exposed
        doc["ports_endpoint"] = eth0.get(ctr_id, "") if ctr_id in served else ""
        db.execute(
            "UPDATE containers SET doc=? WHERE id=?", (json.dumps(doc, sort_keys=True), ctr_id)
        )


#: from-version → the step that converts its rows to from-version + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1_to_v2}
