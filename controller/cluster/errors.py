"""Errors of the cluster store, in the tree of ``controller/errors.py``.

    HawserError
    └── StoreError              500  etcd answered with an error we do not expect
        ├── StoreUnavailable    503  no endpoint of the store answered (names the store)
        └── LeaseLost           503  this node's lease expired (its keys are gone)

The overlay's refusals that Docker words (name taken, network in use, address in use) are
the ordinary ``Conflict``/``NotFound``/``InvalidArgument`` of ``controller.errors``.
"""

from __future__ import annotations

from controller.errors import HawserError


class StoreError(HawserError):
    status = 500


class StoreUnavailable(StoreError):
    status = 503


class LeaseLost(StoreError):
    status = 503
