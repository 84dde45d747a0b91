"""Compiling bpf/ with bcc, turning compiler output into one precise error."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from controller.errors import PrerequisiteMissing

from . import source
from .types import SIZED_MAPS, DatapathConfig


def cflags(config: DatapathConfig) -> list[str]:
    flags = [f'-DHAWSER_PIN_DIR="{config.pin_dir}"', "-Wno-unused-function"]
    for name, size in config.map_sizes.items():
        if name not in SIZED_MAPS:
            raise PrerequisiteMissing(
                f"unknown map size override {name!r}; known: {', '.join(SIZED_MAPS)}"
            )
        if not isinstance(size, int) or size <= 0:
            raise PrerequisiteMissing(f"invalid size for map {name!r}: {size!r}")
        flags.append(f"-DHW_{name.upper()}_SIZE={size}")
    low, high = config.snat_ports
    if not 1024 <= low <= high <= 65535:
        raise PrerequisiteMissing(f"invalid masquerade port range {low}-{high}")
    flags += [f"-DHW_SNAT_PORT_MIN={low}", f"-DHW_SNAT_PORT_MAX={high}"]
    return flags


def compile_bpf(config: DatapathConfig) -> tuple[Any, float]:
    """Return (bcc.BPF, seconds). Compiler diagnostics go into the error."""
    from bcc import BPF

    text = source.expand()
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            bpf = BPF(text=text.encode(), cflags=cflags(config))
        except Exception as e:
            os.dup2(saved, 2)
            err.seek(0)
            diag = err.read().decode(errors="replace").strip().splitlines()
            detail = "; ".join(line for line in diag if "error" in line)[:2000] or str(e)
            raise PrerequisiteMissing(f"compiling the BPF datapath failed: {detail}") from e
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return bpf, time.monotonic() - start
