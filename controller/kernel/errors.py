"""The kernel boundary: a refusal of the kernel becomes one ``KernelError`` naming what was
being done and why, instead of a raw ``NetlinkError``/``OSError`` (which the API could only
report as ``internal error: (19, 'No such device')``).

Inside the kernel layer, code still catches the errnos it expects (``EEXIST`` when creating,
``ENODEV`` when deleting: idempotence); what escapes a public function goes through
``refusal``, as a decorator (the text may name the call's arguments) or a context manager.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pyroute2.netlink.exceptions import NetlinkError

from controller.errors import HawserError, KernelError

F = TypeVar("F", bound=Callable[..., Any])


def describe(exc: BaseException) -> str:
    """``No such device (ENODEV)`` for a NetlinkError or OSError; the text of anything else."""
    code = exc.code if isinstance(exc, NetlinkError) else getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"
    return str(exc)


@contextmanager
def refused(what: str) -> Iterator[None]:
    """Turn a kernel refusal inside into ``KernelError("could not <what>: <why>")``."""
    try:
        yield
    except HawserError:
        raise
    except (NetlinkError, OSError) as exc:
        raise KernelError(f"could not {what}: {describe(exc)}") from exc


def refusal(what: str) -> Callable[[F], F]:
    """Decorator form of ``refused``; ``what`` may name arguments: ``"delete link {name}"``."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except HawserError:
                raise
            except (NetlinkError, OSError) as exc:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                text = what.format(**bound.arguments)
                raise KernelError(f"could not {text}: {describe(exc)}") from exc

        return call  # type: ignore[return-value]

    return wrap
