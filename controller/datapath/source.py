"""The BPF source: locating bpf/, inlining local includes, reading shared constants.

bcc only treats functions of its main buffer as programs and only rewrites map
calls there, so the loader inlines every ``#include "..."`` of bpf/ (once per
file, like include guards) into one text. Enum values and macros shared with
Python are parsed from ``bpf/include/hawser_types.h`` and ``bpf/lib/*.h``:
there is no second hand-written copy here.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

BPF_DIR = Path(__file__).resolve().parents[2] / "bpf"
TYPES_H = BPF_DIR / "include" / "hawser_types.h"
MAIN_C = BPF_DIR / "hawser.c"

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def expand(path: Path = MAIN_C) -> str:
    """Return path's text with every local include inlined once."""
    seen: set[Path] = set()

    def walk(p: Path) -> list[str]:
        out: list[str] = []
        for line in p.read_text().splitlines():
            m = _INCLUDE.match(line)
            if not m:
                out.append(line)
                continue
            for base in (p.parent, BPF_DIR, BPF_DIR / "include"):
                q = (base / m.group(1)).resolve()
                if q.exists():
                    break
            else:
                raise FileNotFoundError(f"{p}: include {m.group(1)!r} not found")
            if q not in seen:
                seen.add(q)
                out.append(f"/* ---- {q.relative_to(BPF_DIR)} ---- */")
                out.extend(walk(q))
        return out

    return "\n".join(walk(path)) + "\n"


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


@cache
def enum(name: str, path: Path = TYPES_H) -> dict[int, str]:
    """Values of ``enum <name>`` in a header: {value: NAME}."""
    text = _strip_comments(path.read_text())
    m = re.search(r"enum\s+" + re.escape(name) + r"\s*\{(.*?)\}", text, flags=re.S)
    if not m:
        raise LookupError(f"enum {name} not found in {path}")
    out: dict[int, str] = {}
    nxt = 0
    for item in m.group(1).split(","):
        item = item.strip()
        if not item:
            continue
        ident, _, val = (s.strip() for s in item.partition("="))
        value = int(val, 0) if val else nxt
        out[value] = ident
        nxt = value + 1
    return out


@cache
def macros(path: Path) -> dict[str, int]:
    """Integer-valued ``#define NAME <expr>`` of a header (simple arithmetic only)."""
    env: dict[str, int] = {}
    for line in _strip_comments(path.read_text()).splitlines():
        m = re.match(r"\s*#\s*define\s+(\w+)\s+(.+)$", line)
        if not m:
            continue
        expr = re.sub(r"(\d+)U?L*L?\b", r"\1", m.group(2).strip())
        expr = re.sub(r"\b([A-Za-z_]\w*)\b", lambda x: str(env.get(x.group(1), x.group(1))), expr)
        if re.fullmatch(r"[\d\s+\-*/()<>|x]+", expr):
            try:
                env[m.group(1)] = int(eval(expr, {"__builtins__": {}}))  # noqa: S307
            except (SyntaxError, ZeroDivisionError, TypeError, NameError):
                continue
    return env


def reasons() -> dict[int, str]:
    """Reason code -> short lower-case name ("forwarded", "icc", ...)."""
    out = {}
    for v, n in enum("hw_reason").items():
        if n == "HW_REASON_MAX":
            continue
        out[v] = n.removeprefix("HW_").removeprefix("DROP_").lower()
    return out


def enum_value(enum_name: str, member: str) -> int:
    """The value of one member of an enum of the shared header."""
    for value, name in enum(enum_name).items():
        if name == member:
            return value
    raise LookupError(f"{member} is not a member of enum {enum_name}")


def directions() -> dict[int, str]:
    """Direction code -> name ("from_uplink", "from_container", "sock")."""
    return {
        v: n.removeprefix("HW_DIR_").lower()
        for v, n in enum("hw_direction").items()
        if n != "HW_DIR_MAX"
    }


def constant(name: str) -> int:
    """An integer macro from the shared header or bpf/lib/*.h."""
    for path in [TYPES_H, *sorted((BPF_DIR / "lib").glob("*.h"))]:
        env = macros(path)
        if name in env:
            return env[name]
    raise LookupError(f"macro {name} not found under {BPF_DIR}")
