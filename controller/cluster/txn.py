"""Typed etcd v3 transactions, as the gRPC gateway's JSON carries them. Pure.

A transaction is ``if all(compares) then success-ops else failure-ops``, applied atomically
at one revision. Compares used by the allocators:

- ``absent(key)``: the key does not exist (its create revision is 0);
- ``version``/``mod_revision``/``create_revision``/``value`` of one key;
- ``empty(prefix)``: no key under the prefix (a range compare: etcd compares every key of
  the range, and an empty range compares as a missing key);
- ``unchanged_since(prefix, rev)``: no key under the prefix was created or modified after
  ``rev`` (the compare-and-swap of a whole set read at ``rev``).

int64 fields travel as JSON strings and bytes as base64, as protobuf's JSON mapping says;
fields at their zero value are left out of answers (``succeeded`` missing means false).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from controller.cluster.keys import range_end


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0

    def text(self) -> str:
        return self.value.decode()

    def json(self) -> Any:
        return json.loads(self.value)

    @classmethod
    def from_gateway(cls, d: dict[str, Any]) -> KV:
        return cls(
            key=unb64(d.get("key")).decode(),
            value=unb64(d.get("value")),
            create_revision=int(d.get("create_revision", 0)),
            mod_revision=int(d.get("mod_revision", 0)),
            version=int(d.get("version", 0)),
            lease=int(d.get("lease", 0)),
        )


@dataclass(frozen=True)
class Compare:
    key: str
    target: str  # VERSION | CREATE | MOD | VALUE
    result: str  # EQUAL | GREATER | LESS | NOT_EQUAL
    operand: int | bytes
    range_end: str | None = None

    _FIELDS = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision"}

    def to_gateway(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": b64(self.key), "target": self.target, "result": self.result}
        if self.range_end is not None:
            out["range_end"] = b64(self.range_end)
        if self.target == "VALUE":
            assert isinstance(self.operand, bytes)
            out["value"] = b64(self.operand)
        else:
            out[self._FIELDS[self.target]] = str(int(self.operand))
        return out

    # constructors ----------------------------------------------------------------------
    @classmethod
    def absent(cls, key: str) -> Compare:
        return cls(key, "CREATE", "EQUAL", 0)

    @classmethod
    def exists(cls, key: str) -> Compare:
        return cls(key, "CREATE", "GREATER", 0)

    @classmethod
    def version(cls, key: str, result: str, version: int) -> Compare:
        return cls(key, "VERSION", result, version)

    @classmethod
    def create_revision(cls, key: str, result: str, revision: int) -> Compare:
        return cls(key, "CREATE", result, revision)

    @classmethod
    def mod_revision(cls, key: str, result: str, revision: int) -> Compare:
        return cls(key, "MOD", result, revision)

    @classmethod
    def value(cls, key: str, result: str, value: str | bytes) -> Compare:
        return cls(key, "VALUE", result, value.encode() if isinstance(value, str) else value)

    @classmethod
    def empty(cls, prefix: str) -> Compare:
        return cls(prefix, "CREATE", "EQUAL", 0, range_end(prefix))

    @classmethod
    def unchanged_since(cls, prefix: str, revision: int) -> Compare:
        return cls(prefix, "MOD", "LESS", revision + 1, range_end(prefix))


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes | str
    lease: int = 0

    def to_gateway(self) -> dict[str, Any]:
        req: dict[str, Any] = {"key": b64(self.key), "value": b64(self.value)}
        if self.lease:
            req["lease"] = str(self.lease)
        return {"request_put": req}


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False

    def to_gateway(self) -> dict[str, Any]:
        req: dict[str, Any] = {"key": b64(self.key)}
        if self.prefix:
            req["range_end"] = b64(range_end(self.key))
        return {"request_delete_range": req}


@dataclass(frozen=True)
class Get:
    key: str
    prefix: bool = False
    keys_only: bool = False

    def to_gateway(self) -> dict[str, Any]:
        req: dict[str, Any] = {"key": b64(self.key)}
        if self.prefix:
            req["range_end"] = b64(range_end(self.key))
        if self.keys_only:
            req["keys_only"] = True
        return {"request_range": req}


Op = Put | Delete | Get


def request(compares: list[Compare], success: list[Op], failure: list[Op]) -> dict[str, Any]:
    return {
        "compare": [c.to_gateway() for c in compares],
        "success": [op.to_gateway() for op in success],
        "failure": [op.to_gateway() for op in failure],
    }


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    #: one entry per op of the branch taken: the KVs of a Get, the count of a Delete, or
    #: None for a Put
    results: tuple[tuple[KV, ...] | int | None, ...]

    def kvs(self, index: int) -> tuple[KV, ...]:
        found = self.results[index]
        assert isinstance(found, tuple), f"op {index} of the transaction was not a Get"
        return found


def result(answer: dict[str, Any]) -> TxnResult:
    out: list[tuple[KV, ...] | int | None] = []
    for resp in answer.get("responses", []):
        if "response_range" in resp:
            kvs = resp["response_range"].get("kvs", [])
            out.append(tuple(KV.from_gateway(kv) for kv in kvs))
        elif "response_delete_range" in resp:
            out.append(int(resp["response_delete_range"].get("deleted", 0)))
        else:
            out.append(None)
    return TxnResult(
        succeeded=bool(answer.get("succeeded", False)),
        revision=int(answer.get("header", {}).get("revision", 0)),
        results=tuple(out),
    )
