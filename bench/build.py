"""Build the C load generator at run time (gcc -O2) into bench/.cache/."""

from __future__ import annotations

from pathlib import Path

from bench.proc import sh

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"


def loadgen() -> Path:
    """Compile bench/loadgen.c if the binary is missing or older than the source."""
    src = HERE / "loadgen.c"
    out = CACHE / "loadgen"
    CACHE.mkdir(exist_ok=True)
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        sh(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out), str(src)])
    return out
