"""The kernel boundary: a NetlinkError or OSError leaves the kernel layer as one KernelError
naming what was being done and the errno, never raw (the API would say ``internal error``)."""

from __future__ import annotations

import errno

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from controller.errors import Conflict, KernelError
from controller.kernel.errors import refusal, refused
from controller.kernel.netlink import NodeNetlink


@refusal("delete link {name} of {spec.owner}")
def delete(name: str, spec: object, fail: BaseException | None = None) -> str:
    if fail is not None:
        raise fail
    return f"deleted {name}"


class Spec:
    owner = "web"


def test_a_refusal_names_the_call_and_the_errno() -> None:
    assert delete("hwv1", Spec()) == "deleted hwv1"  # positive control: no error, no change
    with pytest.raises(KernelError) as exc:
        delete("hwv1", Spec(), NetlinkError(errno.EBUSY, "busy"))
    assert exc.value.message == (
        "could not delete link hwv1 of web: Device or resource busy (EBUSY)"
    )
    assert exc.value.status == 500
    with pytest.raises(KernelError, match=r"of web: No such file or directory \(ENOENT\)$"):
        delete("hwv1", Spec(), FileNotFoundError(errno.ENOENT, "gone", "/run/netns/x"))


def test_hawser_errors_and_bugs_pass_through() -> None:
    with pytest.raises(Conflict):
        delete("x", Spec(), Conflict("taken"))
    with pytest.raises(ZeroDivisionError):  # a bug stays a bug (logged as internal error)
        delete("x", Spec(), ZeroDivisionError())
    with (
        pytest.raises(KernelError, match="^could not list routes: Permission denied"),
        refused("list routes"),
    ):
        raise PermissionError(errno.EACCES, "no")


def test_the_node_netlink_handle_hands_back_the_kernels_answer() -> None:
    """A real refusal through the node's handle, mapped at the boundary function."""
    handle = NodeNetlink()
    try:

        @refusal("read link {index}")
        def read(index: int) -> str:
            return str(handle.link("get", index=index)[0].get("ifname"))

        with pytest.raises(KernelError) as exc:
            read(2**31 - 1)  # no such link
        assert exc.value.message == f"could not read link {2**31 - 1}: No such device (ENODEV)"
        assert read(1) == "lo"  # positive control (read only: this is the machine's netns)
    finally:
        handle.close()
