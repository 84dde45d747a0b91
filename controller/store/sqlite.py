"""SQLite store of networks, containers, endpoints and port bindings.

One connection, serialised by the daemon's operation lock. ``transaction()`` wraps a
mutating operation so the rows and the kernel change together (see ``transaction.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from controller.errors import HawserError
from controller.rules.model import Container, Endpoint, Network
from controller.rules.portspec import PortBinding
from controller.store import schema

#: The store holds containers' environment values. SQLite creates the -wal and -shm
#: files with the database file's own mode, so setting it on the database is enough.
FILE_MODE = 0o600

T = TypeVar("T")


def _doc(obj: Any) -> str:
    """One row's JSON document: the dataclass's fields (lists, dicts and tuples of scalars)."""
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return json.dumps(fields, sort_keys=True)


def _load(cls: type[T], doc: str) -> T:
    data = json.loads(doc)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _restrict(path: Path) -> None:
    """Create the database file 0600 (or narrow an existing one and its -wal/-shm)."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, FILE_MODE))
    for suffix in ("", "-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _restrict(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        """Create the tables, or convert an older store's rows (``schema.MIGRATIONS``)."""
        with self.transaction():
            for statement in filter(str.strip, schema.TABLES.split(";")):
                self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = schema.VERSION if row is None else int(row[0])
            if version > schema.VERSION:
                raise HawserError(
                    f"the store {self.path} has schema {version}, newer than this daemon's "
                    f"({schema.VERSION}): run a newer hawserd"
                )
            while version < schema.VERSION:
                schema.MIGRATIONS[version](self._db)
                version += 1
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),)
            )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Nestable: only the outermost level commits or rolls back."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    # networks
    def put_network(self, net: Network) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO networks (id, name, key, bridge, doc) VALUES (?,?,?,?,?)",
            (net.id, net.name, net.key, net.bridge or None, _doc(net)),
        )

    def delete_network(self, net_id: str) -> None:
        self._db.execute("DELETE FROM networks WHERE id=?", (net_id,))

    def networks(self) -> list[Network]:
        rows = self._db.execute("SELECT doc FROM networks ORDER BY name").fetchall()
        return [_load(Network, r[0]) for r in rows]

    def network(self, net_id: str) -> Network | None:
        row = self._db.execute("SELECT doc FROM networks WHERE id=?", (net_id,)).fetchone()
        return _load(Network, row[0]) if row else None

    def network_keys(self) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT key FROM networks")}

    # containers
    def put_container(self, ctr: Container) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO containers (id, name, doc) VALUES (?,?,?)",
            (ctr.id, ctr.name, _doc(ctr)),
        )

    def delete_container(self, ctr_id: str) -> None:
        self._db.execute("DELETE FROM port_bindings WHERE container_id=?", (ctr_id,))
        self._db.execute("DELETE FROM port_requests WHERE container_id=?", (ctr_id,))
        self._db.execute("DELETE FROM endpoints WHERE container_id=?", (ctr_id,))
        self._db.execute("DELETE FROM containers WHERE id=?", (ctr_id,))

    def containers(self) -> list[Container]:
        rows = self._db.execute("SELECT doc FROM containers ORDER BY rowid").fetchall()
        return [_load(Container, r[0]) for r in rows]

    def container_by_name(self, name: str) -> Container | None:
        row = self._db.execute("SELECT doc FROM containers WHERE name=?", (name,)).fetchone()
        return _load(Container, row[0]) if row else None

    def container_names(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM containers")}

    def container_ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM containers WHERE substr(id, 1, ?) = ?", (len(prefix), prefix)
        )
        return [r[0] for r in rows]

    def endpoint_ips(self, network_id: str) -> list[str]:
        rows = self._db.execute("SELECT ip FROM endpoints WHERE network_id=?", (network_id,))
        return [r[0] for r in rows]

    def container(self, ctr_id: str) -> Container | None:
        row = self._db.execute("SELECT doc FROM containers WHERE id=?", (ctr_id,)).fetchone()
        return _load(Container, row[0]) if row else None

    def engine_containers(
        self, owner: str, *, engine_id: str | None = None, sandbox_key: str | None = None
    ) -> list[Container]:
        """The sandboxes an engine made, optionally those with its container id or netns."""
        query = "SELECT doc FROM containers WHERE json_extract(doc, '$.owner') = ?"
        args = [owner]
        if engine_id is not None:
            query += " AND json_extract(doc, '$.engine_id') = ?"
            args.append(engine_id)
        if sandbox_key is not None:
            query += " AND json_extract(doc, '$.sandbox_key') = ?"
            args.append(sandbox_key)
        rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [_load(Container, r[0]) for r in rows]

    def rekey_container(self, old_id: str, ctr: Container) -> None:
        """Store ``ctr`` under its new id (and name) in place of ``old_id``, its endpoints and
        port rows following (an engine's sandbox learns the engine's own id)."""
        old = self.container(old_id)
        if old is None:
            raise HawserError(f"no container {old_id} to rename")
        self._db.execute("UPDATE containers SET name=? WHERE id=?", (f"-renamed-{old_id}", old_id))
        self.put_container(ctr)
        for table in ("endpoints", "port_bindings", "port_requests"):
            self._db.execute(
                f"UPDATE {table} SET container_id=? WHERE container_id=?", (ctr.id, old_id)
            )
        rows = self._db.execute("SELECT id, doc FROM endpoints WHERE container_id=?", (ctr.id,))
        for ep_id, doc in rows.fetchall():
            data = json.loads(doc)
            data["container_id"] = ctr.id
            self._db.execute(
                "UPDATE endpoints SET doc=? WHERE id=?", (json.dumps(data, sort_keys=True), ep_id)
            )
        self._db.execute("DELETE FROM containers WHERE id=?", (old_id,))

    # endpoints
    def put_endpoint(self, ep: Endpoint) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO endpoints (id, container_id, network_id, ip, host_ifname, doc)"
            " VALUES (?,?,?,?,?,?)",
            (ep.id, ep.container_id, ep.network_id, ep.ip, ep.host_ifname, _doc(ep)),
        )

    def endpoint(self, ep_id: str) -> Endpoint | None:
        row = self._db.execute("SELECT doc FROM endpoints WHERE id=?", (ep_id,)).fetchone()
        return _load(Endpoint, row[0]) if row else None

    def delete_endpoint(self, ep_id: str) -> None:
        self._db.execute("DELETE FROM endpoints WHERE id=?", (ep_id,))

    def endpoints(
        self, *, container_id: str | None = None, network_id: str | None = None
    ) -> list[Endpoint]:
        query, args = "SELECT doc FROM endpoints WHERE 1=1", []
        if container_id is not None:
            query += " AND container_id=?"
            args.append(container_id)
        if network_id is not None:
            query += " AND network_id=?"
            args.append(network_id)
        rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [_load(Endpoint, r[0]) for r in rows]

    # published ports
    def add_bindings(self, ctr_id: str, bound: list[PortBinding]) -> None:
        self._db.executemany(
            "INSERT INTO port_bindings (container_id, proto, host_ip, host_port, container_port)"
            " VALUES (?,?,?,?,?)",
            [(ctr_id, b.proto, b.host_ip, b.host_port, b.container_port) for b in bound],
        )

    def bindings(self, ctr_id: str) -> list[PortBinding]:
        """A container's bound bindings, in the order they were allocated."""
        rows = self._db.execute(
            "SELECT proto, container_port, host_ip, host_port FROM port_bindings"
            " WHERE container_id=? ORDER BY rowid",
            (ctr_id,),
        )
        return [PortBinding(proto, cport, ip, port, port) for proto, cport, ip, port in rows]

    def clear_bindings(self, ctr_id: str) -> None:
        """Forget a container's published ports, bound and asked."""
        self._db.execute("DELETE FROM port_bindings WHERE container_id=?", (ctr_id,))
        self._db.execute("DELETE FROM port_requests WHERE container_id=?", (ctr_id,))

    def all_bindings(self) -> dict[str, list[PortBinding]]:
        """container id → its bound bindings."""
        out: dict[str, list[PortBinding]] = {}
        rows = self._db.execute(
            "SELECT container_id, proto, container_port, host_ip, host_port FROM port_bindings"
            " ORDER BY rowid"
        )
        for ctr_id, proto, cport, ip, port in rows:
            out.setdefault(ctr_id, []).append(PortBinding(proto, cport, ip, port, port))
        return out

    def set_port_requests(self, ctr_id: str, asked: list[PortBinding]) -> None:
        """The bindings as asked (``-p``), shown by inspect as ``HostConfig.PortBindings``."""
        self._db.execute("DELETE FROM port_requests WHERE container_id=?", (ctr_id,))
        self._db.executemany(
            "INSERT INTO port_requests VALUES (?,?,?,?,?,?,?)",
            [
                (ctr_id, seq, b.proto, b.container_port, b.host_ip, b.host_port_low,
                 b.host_port_high)
                for seq, b in enumerate(asked)
            ],
        )  # fmt: skip

    def port_requests(self, ctr_id: str) -> list[PortBinding]:
        rows = self._db.execute(
            "SELECT proto, container_port, host_ip, host_port_low, host_port_high"
            " FROM port_requests WHERE container_id=? ORDER BY seq",
            (ctr_id,),
        )
        return [PortBinding(*row) for row in rows]

    def bound_ports(self, proto: str) -> dict[int, set[str]]:
        """host port → host IPs already bound for that protocol."""
        out: dict[int, set[str]] = {}
        for host_ip, port in self._db.execute(
            "SELECT host_ip, host_port FROM port_bindings WHERE proto=?", (proto,)
        ):
            out.setdefault(port, set()).add(host_ip)
        return out

    # plugins' own state
    def put_plugin_state(self, plugin: str, key: str, doc: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO plugin_state (plugin, key, doc) VALUES (?,?,?)",
            (plugin, key, json.dumps(doc, sort_keys=True)),
        )

    def plugin_state(self, plugin: str, key: str) -> Any:
        row = self._db.execute(
            "SELECT doc FROM plugin_state WHERE plugin=? AND key=?", (plugin, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def plugin_states(self, plugin: str, prefix: str = "") -> dict[str, Any]:
        """key → document of every entry of ``plugin`` whose key starts with ``prefix``."""
        rows = self._db.execute(
            "SELECT key, doc FROM plugin_state WHERE plugin=? AND substr(key, 1, ?) = ?"
            " ORDER BY key",
            (plugin, len(prefix), prefix),
        )
        return {key: json.loads(doc) for key, doc in rows}

    def delete_plugin_state(self, plugin: str, key: str) -> None:
        self._db.execute("DELETE FROM plugin_state WHERE plugin=? AND key=?", (plugin, key))
