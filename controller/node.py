"""The daemon's shared state: configuration, store, netlink handle, datapath, supervisor."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyroute2 import IPRoute

from controller.config import Config
from controller.store import Store
from controller.supervisor import Supervisor

if TYPE_CHECKING:
    from controller.datapath import Datapath


@dataclass
class Node:
    config: Config
    store: Store
    ipr: IPRoute
    datapath: Datapath
    supervisor: Supervisor
    # one mutating operation at a time: store and kernel change together
    lock: threading.RLock = field(default_factory=threading.RLock)
    hooks: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.node_name)
