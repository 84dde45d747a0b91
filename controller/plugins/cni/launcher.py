"""The ``hawser-cni`` file a runtime execs: a three-line launcher with this checkout's venv
interpreter, written by ``make install`` into /usr/lib/cni and /opt/cni/bin (and by tests
into their own plugin directory).

``-IS``: no ``PYTHON*`` variables of the runtime leak in (``-I``) and no ``site`` (``-S``),
which would read every ``.pth`` of the venv and of Debian's packages (the editable install's
finder, certifi…) — some 20 ms of a fresh process per ADD. The checkout goes on ``sys.path``
instead; the plugin imports nothing outside the standard library.

    python -m controller.plugins.cni.launcher DIR...   # prints each file it (re)wrote
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "hawser-cni"
ROOT = Path(__file__).resolve().parents[3]


def text(python: str = sys.executable, root: Path = ROOT) -> str:
    return (
        f"#!{python} -IS\n"
        f"import sys; sys.path.insert(0, {str(root)!r})\n"
        "from controller.plugins.cni.main import main; raise SystemExit(main())\n"
    )


def install(folder: Path, python: str = sys.executable, root: Path = ROOT) -> Path | None:
    """Write ``folder/hawser-cni`` (0755, atomically) unless it is already this launcher."""
    target = folder / NAME
    wanted = text(python, root)
    try:
        if target.read_text() == wanted:
            return None
    except OSError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{NAME}.tmp"
    tmp.write_text(wanted)
    tmp.chmod(0o755)
    tmp.replace(target)
    return target


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        written = install(Path(arg))
        if written is not None:
            print(written)
