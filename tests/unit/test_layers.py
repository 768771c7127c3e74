"""The import contract: the package's layers, and which may import which.

Read from the source with ast (every import, also those inside functions), so a new module
is checked the day it is added. A layer may import itself and what its row lists; nothing
else of agenttasks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "agenttasks"

# The agent library (agenttasks.progress) is standard library only: agents vendor it.
ALLOWED: dict[str, set[str]] = {
    "progress": set(),
    "metrics": set(),
    "collector": set(),
    "api": set(),
    "core": {"api"},
    "manifests": {"api", "core", "progress"},
    "inbox": {"api", "core"},
    "kube": {"api", "core", "manifests", "__init__"},  # __init__: the version it sends
    "actions": {"api", "core"},
    "controller": {"api", "core", "manifests", "inbox", "kube", "metrics"},
    "web": {"api", "core", "manifests", "inbox", "kube", "metrics", "actions"},
    "app": {"api", "core", "manifests", "inbox", "kube", "metrics", "collector", "controller",
            "web"},
    "devcluster": {"api"},
    "cli": {"api", "core", "manifests", "kube", "actions", "app", "controller", "devcluster",
            "progress", "__init__"},
    "__init__": set(),  # the package's face: its version, nothing else
    "__main__": {"cli"},
}


def _layer(module: str) -> str:
    """agenttasks.core.queue → core; agenttasks.app → app; agenttasks.__version__ (a name
    of the package's face) → __init__."""
    parts = module.split(".")
    if len(parts) == 1 or (parts[1].startswith("__") and parts[1] != "__main__"):
        return "__init__"
    return parts[1]


def _module_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for each import of agenttasks in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module \
                    else [target]
                found += [(node.lineno, name) for name in names]
            elif node.module == "agenttasks":  # from agenttasks import metrics
                found += [(node.lineno, f"agenttasks.{a.name}") for a in node.names]
            elif node.module:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found
            if name == "agenttasks" or name.startswith("agenttasks.")]


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(_module_of(path))
        if layer not in ALLOWED:
            problems.append(f"{path.relative_to(PACKAGE)}: layer {layer!r} is not in the "
                            "contract; add it to ALLOWED")
            continue
        for line, name in _imports(path):
            target = _layer(name)
            if target != layer and target not in ALLOWED[layer]:
                problems.append(f"{path.relative_to(PACKAGE)}:{line}: {layer} imports "
                                f"{name} ({target} is not allowed)")
    return problems


def test_imports_follow_the_layers() -> None:
    assert _violations() == []


def test_controller_and_web_never_import_each_other() -> None:
    assert "web" not in ALLOWED["controller"] and "controller" not in ALLOWED["web"]
    wiring = [layer for layer, allowed in ALLOWED.items()
              if {"controller", "web"} <= allowed]
    assert wiring == ["app"]  # the CLI starts the operator through app, never web itself


@pytest.mark.parametrize("source, expected", [
    ("from agenttasks.web.server import x\n", "agenttasks.web.server"),
    ("from ..web import dashboard\n", "agenttasks.web"),
    ("from . import failpoints\n", "agenttasks.controller.failpoints"),
    ("from agenttasks import metrics\n", "agenttasks.metrics"),
    ("def f():\n    import agenttasks.app\n", "agenttasks.app"),
])
def test_the_checker_sees_every_kind_of_import(tmp_path: Path, source: str,
                                               expected: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself can fail: relative, lazy and absolute imports are all found."""
    fake = tmp_path / "agenttasks"
    (fake / "controller").mkdir(parents=True)
    module = fake / "controller" / "sample.py"
    module.write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    assert [name for _line, name in _imports(module)] == [expected]
