"""The import direction of DESIGN.md section 2 / STYLE.md section 2, enforced on the AST of every module."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vokit"

# package -> vokit packages it may import. Top-level modules: ``errors`` may be imported by all but geometry.
ALLOWED: dict[str, set[str]] = {
    "geometry": set(),
    "solvers": {"geometry"},
    "losses": {"geometry"},
    "metrics": {"geometry", "errors"},
    "data": {"geometry", "errors"},
    "nets": {"geometry", "solvers", "losses"},
    # methods may use adapt (the online-meta method trains with adapt's meta objective); adapt never imports methods
    "methods": {"geometry", "solvers", "losses", "metrics", "data", "nets", "adapt", "errors", "weights"},
    "adapt": {"geometry", "solvers", "losses", "metrics", "data", "nets", "errors"},
    "engine": {"geometry", "solvers", "losses", "metrics", "data", "nets", "methods", "adapt", "errors", "weights"},
    # the run application reads checkpoints and configs through engine; engine never imports it
    "app": {"geometry", "solvers", "losses", "metrics", "data", "nets", "methods", "adapt", "engine", "errors",
            "weights"},
    "cli": {"geometry", "solvers", "losses", "metrics", "data", "nets", "methods", "adapt", "engine", "app", "errors",
            "weights"},
    "weights": set(),
    "errors": set(),
    "__init__": set(),
}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """All (line, absolute module) imports in a file, including those inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                found.append((node.lineno, "*"))
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def test_modules_found() -> None:
    assert len(_modules()) > 5, f"no modules under {SRC}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_import_direction(path: Path) -> None:
    package = _package_of(path)
    assert package in ALLOWED, f"{path}: package {package!r} is not in the layer table; add it to DESIGN.md first"
    for line, name in _imports(path):
        assert name != "*", f"{path}:{line}: `from x import *` is not allowed"
        if name == "vokit" or not name.startswith("vokit."):
            continue
        target = name.split(".")[1]
        if target == package:
            continue
        assert target in ALLOWED[package], f"{path}:{line}: {package} may not import vokit.{target}"


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path in _modules():
        src_pkg = _package_of(path)
        for _, name in _imports(path):
            if name.startswith("vokit.") and name.split(".")[1] != src_pkg:
                graph.setdefault(src_pkg, set()).add(name.split(".")[1])
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"import cycle between packages: {' -> '.join(trail + [node, nxt])}"
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node, [])
