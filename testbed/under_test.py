"""The one testbed module that imports the code under test (controller/).

Everything else in testbed/ drives Hawser from the outside (its CLI, its API, the kernel).
Two things come from inside: the bare-datapath fixtures need the Datapath class itself, and
the census needs the daemon's own rules for where it attaches and pins (the root cgroup, the
pin version), so that it looks where the daemon does. When controller/ is reorganised, these
imports are the only ones to re-point.
"""

from controller.daemon.main import default_cgroup
from controller.datapath import Datapath, DatapathConfig, cookie_of
from controller.datapath.types import PIN_VERSION

__all__ = ["PIN_VERSION", "Datapath", "DatapathConfig", "cookie_of", "default_cgroup"]
