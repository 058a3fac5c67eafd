"""rnnlab's layers import one way only: a module may import from its own layer or the layers below.

core → tensors and data → models → training → tools → views → entry points. The
walk reads every ``import`` in the package's source (top level or inside functions) with ``ast``
and fails on any import that runs up the layers.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rnnlab"
LAYERS = ["core", "tensors", "models", "training", "tools", "views", "entry"]
# module path (dotted, inside rnnlab) prefix → layer; the longest matching prefix wins
LAYER_OF = {
    "config": "core",
    "claims": "core",
    "checks": "core",
    "modes": "core",
    "nested": "tensors",
    "sequences": "tensors",
    "samplers": "tensors",
    "data": "tensors",
    "models": "models",
    "baselines": "models",
    "train": "training",
    "checkpoint": "training",
    "callbacks": "training",
    "history": "training",
    "cache": "training",
    "video_training": "training",
    "translate": "tools",
    "distributed": "tools",
    "bench": "tools",
    "plots": "views",
    "widgets": "views",
    "grading": "entry",
    "cli": "entry",
    "book": "entry",
    "__main__": "entry",
    "__init__": "entry",
}


def layer(module: str) -> str:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYER_OF:
            return LAYER_OF[".".join(parts[:end])]
    raise KeyError(
        f"rnnlab.{module} has no layer: add it to LAYER_OF in tests/project/test_layers.py"
    )


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports(path: Path) -> set[str]:
    """The rnnlab modules ``path`` imports (dotted, inside rnnlab)."""
    module = _module_name(path)
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    if path.name == "__init__.py" and module == "__init__":
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.split(".")[0] == "rnnlab":
                target = node.module.partition(".")[2]
            else:
                continue
            names = [f"{target}.{a.name}" if target else a.name for a in node.names]
            # ``from . import x`` / ``from .pkg import mod`` name modules; keep the module when it
            # is one
            found.update(
                n
                for n in names
                if (PACKAGE / Path(*n.split("."))).with_suffix(".py").exists()
                or (PACKAGE / Path(*n.split("."))).is_dir()
            )
            if target:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.partition(".")[2] for a in node.names if a.name.startswith("rnnlab.")
            )
    return {f for f in found if f and f != module}


def upward_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for target in imports(path):
            if LAYERS.index(layer(target)) > LAYERS.index(layer(module)):
                found.add((module, target))
    return found


def test_no_upward_import():
    found = upward_imports()
    assert not found, "imports that run up the layers (move the code down instead): " + ", ".join(
        f"{a} → {b}" for a, b in sorted(found)
    )


def test_the_walk_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "rnnlab"
    (fake / "data").mkdir(parents=True)
    (fake / "models").mkdir()
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "m.py").write_text("X = 1\n")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "d.py").write_text("def f():\n    from ..models.m import X\n    return X\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)  # this module, in its package
    assert upward_imports() == {("data.d", "models.m")}


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        assert layer(_module_name(path)), path
    with pytest.raises(KeyError, match="has no layer"):
        layer("nowhere")
