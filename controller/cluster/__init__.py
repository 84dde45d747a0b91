"""The cluster store: global networks, endpoints and node membership in etcd (issue 9).

Only global-scope state lives here; local state stays in SQLite. A global object is written
to etcd first, in one compare-and-swap transaction, and then applied on every node
(the writer included) from the watch, so a node that missed events catches up by revision
and nothing is applied twice. The overlay plugin sits on this package:

| module | concern |
| --- | --- |
| ``options`` | ``--cluster-store``, ``--cluster-store-opt``, ``--cluster-advertise`` (pure) |
| ``keys`` | the key layout (``KEYS.md`` has the table) (pure) |
| ``txn`` | typed compares and operations, the gateway's JSON (pure) |
| ``pools`` | VNI, default-subnet and address choices before a CAS (pure) |
| ``client`` | ``Store``: the connection, failover between endpoints, one-line errors |
| ``networks`` | global network documents: name, VNI and subnet claimed in one txn |
| ``endpoints`` | endpoint record, name and address claimed in one txn, under a lease |
| ``membership`` | the node's lease, its keepalive thread, ``list_nodes`` |
| ``watch`` | ordered events from a revision, resumed after a disconnect, counters |

Its errors are ``StoreError``, ``StoreUnavailable`` and ``LeaseLost`` of ``controller.errors``.

## Client: etcd3gw

Debian's ``etcd-server`` 3.4 serves the v3 API over gRPC and, on the same port, over its
gRPC gateway (JSON over HTTP/1.1). We use **etcd3gw** (OpenStack's client of that gateway,
maintained, typed, dependencies ``requests``/``futurist``/``pbr``):

- the daemon is threaded and synchronous; etcd3gw is a plain blocking HTTP client, one
  keep-alive session per endpoint and thread. **aetcd** (gRPC, asyncio) would need an event
  loop thread and bridges around every call, plus ``grpcio`` (a large native wheel, with
  its own threads and fork caveats) and ``protobuf``;
- TLS is the ``requests`` session's CA and client certificate, nothing more;
- PyPI's ``etcd3`` is unmaintained and breaks on protobuf >= 4: not used.

What etcd3gw does not do well we do ourselves on its transport: transactions and ranges are
built by ``txn.py`` so that every answer keeps its header revision, and the watch reads the
gateway's stream itself (etcd3gw's watcher cannot resume from a revision after the stream
breaks, nor report a compaction; ``watch.py`` does both). Verified against etcd 3.4.23 by
``tests/kernel/test_cluster_store.py``: transactions comparing version, mod and create
revision, value, and whole ranges; leases with keepalive and expiry; watches from a start
revision, progress notifications, compaction, resume after etcd restarts and after the
connection is cut.
"""
