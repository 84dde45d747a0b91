"""The package layout's layers (README "Layout"): imports only point down.

Every module of ``controller/`` is parsed (no import of it runs) and each import it makes,
wherever it stands (top level, in a function, under ``TYPE_CHECKING``), is resolved to the
package it lands in. A package may import its own modules and any package below it, never
one above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "controller"

#: Top to bottom. ``base`` is ``controller/__init__.py`` (the version) and ``errors.py``.
LAYERS = (
    "daemon",  # process wiring: entry point, config, plugin installation, reconcile loop
    "plugins",  # dns, observability, docker, cni: attach through node events, call ops
    "api",  # HTTP server, routes, schemas, views (plugins add routes to its router)
    "cluster",  # the etcd-backed global store
    "ops",  # operations over store + kernel + datapath; Node and its events
    "datapath",  # bcc: compile, attach, typed map access (kernel errors mapped by kernel/)
    "kernel",  # pyroute2, netns, sandbox files, processes; the kernel error boundary
    "store",  # SQLite store, transaction/undo
    "rules",  # pure Docker rules and parsing
    "base",
)
BASE_MODULES = {"__init__.py", "errors.py"}
#: Annotation-only imports (under ``if TYPE_CHECKING:``) allowed to point up, with why.
TYPE_ONLY_UP = {
    # Node carries the daemon's Config and the API's route hooks as typed fields
    ("ops/node.py", "controller.daemon.config"),
    ("ops/node.py", "controller.api.server"),
}


def layer_of(dotted: str) -> str:
    """``controller.ops.containers`` → ``ops``; ``controller`` / ``controller.errors`` → base."""
    parts = dotted.split(".")
    assert parts[0] == "controller", dotted
    if len(parts) == 1 or parts[1] in {"errors", "__version__"}:
        return "base"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                out |= {id(n) for n in ast.walk(stmt)}
    return out


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported controller module or package, type-only, line) for every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    type_only = _type_checking_nodes(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                targets = [f"{prefix}.{node.module}" if node.module else prefix]
            else:
                targets = [node.module or ""]
            if targets[0] == "controller":  # from controller import errors, __version__
                targets = [f"controller.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == "controller" or target.startswith("controller."):
                out.append((target, id(node) in type_only, node.lineno))
    return out


def controller_files() -> list[Path]:
    return sorted(p for p in CONTROLLER.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_sits_in_a_layer() -> None:
    flat = [
        p.name for p in CONTROLLER.glob("*.py") if p.name not in BASE_MODULES
    ]  # a module straight under controller/ belongs to no layer
    packages = {p.name for p in CONTROLLER.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert flat == []
    assert packages == set(LAYERS) - {"base"}


def test_imports_only_point_down_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    checked = 0
    for path in controller_files():
        rel = path.relative_to(CONTROLLER).as_posix()
        own = "base" if rel in BASE_MODULES else rel.split("/")[0]
        for target, type_only, line in imports(path):
            checked += 1
            if type_only and any(
                rel == f and (target == t or target.startswith(t + ".")) for f, t in TYPE_ONLY_UP
            ):
                continue
            if rank[layer_of(target)] < rank[own]:
                wrong.append(f"controller/{rel}:{line} ({own}) imports {target}")
    assert checked > 200  # the walk found the imports
    assert wrong == []


def test_no_plugin_imports_another_plugin() -> None:
    wrong = []
    for path in sorted((CONTROLLER / "plugins").rglob("*.py")):
        rel = path.relative_to(CONTROLLER / "plugins")
        if len(rel.parts) < 2:
            continue
        for target, _, line in imports(path):
            parts = target.split(".")
            if parts[1:2] == ["plugins"] and len(parts) > 2 and parts[2] != rel.parts[0]:
                wrong.append(f"controller/plugins/{rel}:{line} imports {target}")
    assert wrong == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """Positive control: the resolver sees absolute, relative and lazy imports."""
    sample = CONTROLLER / "ops" / "containers.py"
    found = {target for target, _, _ in imports(sample)}
    assert "controller.kernel.links" in found or "controller.kernel" in found
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from controller.daemon import main\n")
    tree = ast.parse(probe.read_text())
    lazy = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert lazy and lazy[0].module == "controller.daemon"
    assert layer_of("controller.daemon.main") == "daemon"
    assert LAYERS.index("daemon") < LAYERS.index("ops")  # so ops → daemon would be reported


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every absolute module an import in ``path`` names (``from x import y`` gives x and x.y)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return out


def test_the_cli_is_only_a_client_of_the_api() -> None:
    """cli/ imports nothing from controller/ (and the daemon nothing from cli/)."""
    wrong = []
    for top, banned in (("cli", "controller"), ("controller", "cli")):
        files = sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)
        assert files
        for path in files:
            for module, line in _imported_modules(path):
                if module == banned or module.startswith(banned + "."):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def test_the_import_walk_sees_a_banned_import(tmp_path: Path) -> None:
    """Positive control for the walk above: top-level, lazy and from-imports are seen."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import controller.errors\nfrom controller import humanize\n"
        "def f():\n    from controller.rules.portspec import PortBinding\n"
    )
    assert [m for m, _ in _imported_modules(probe) if m.startswith("controller")] == [
        "controller.errors", "controller", "controller.humanize",
        "controller.rules.portspec", "controller.rules.portspec.PortBinding",
    ]  # fmt: skip
