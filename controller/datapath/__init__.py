"""Hawser's eBPF datapath: bcc-compiled tc and cgroup programs plus typed map access.

Public surface: ``Datapath``, ``DatapathConfig``, ``PortMapping``, and the
netns cookie helpers the daemon passes to ``Datapath.start``.
"""

from .datapath import Datapath
from .netns import cookie_of, current_cookie
from .types import DatapathConfig, PortMapping

__all__ = ["Datapath", "DatapathConfig", "PortMapping", "cookie_of", "current_cookie"]
