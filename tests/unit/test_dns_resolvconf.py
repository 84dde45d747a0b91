"""resolv.conf of a container on a user-defined network: the embedded resolver, Docker's options."""

from __future__ import annotations

import pytest

from controller.kernel import sandbox_files
from controller.plugins.dns import resolvconf
from controller.rules import hostsfile


def test_embedded_text_keeps_search_and_adds_ndots0(monkeypatch: pytest.MonkeyPatch) -> None:
    host = hostsfile.ResolvConf(["10.0.0.53"], ["corp.example"], ["timeout:2"])
    monkeypatch.setattr(sandbox_files, "node_resolv", lambda: host)
    assert resolvconf.embedded_text() == (
        "search corp.example\nnameserver 127.0.0.11\noptions ndots:0 timeout:2\n"
    )


def test_embedded_text_keeps_the_nodes_ndots(monkeypatch: pytest.MonkeyPatch) -> None:
    host = hostsfile.ResolvConf(["10.0.0.53"], [], ["ndots:2"])
    monkeypatch.setattr(sandbox_files, "node_resolv", lambda: host)
    assert resolvconf.embedded_text() == "nameserver 127.0.0.11\noptions ndots:2\n"
