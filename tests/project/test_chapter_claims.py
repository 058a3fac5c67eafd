"""Every chapter ends with its claims ledger: the last code cell calls ``claims()``, imported from
rnnlab.

So a learner finishes each chapter with the table of what their run measured against each target
(see `rnnlab.claims.claims`).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _imported_from_rnnlab(cells: list[dict]) -> set[str]:
    """Names the notebook's code cells import with ``from rnnlab import ...`` (IPython magics
    skipped)."""
    names: set[str] = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "\n".join(
            line
            for line in "".join(cell["source"]).splitlines()
            if not line.lstrip().startswith(("%", "!"))
        )
        names |= {
            alias.asname or alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module == "rnnlab"
            for alias in node.names
        }
    return names


def test_there_are_chapters() -> None:
    assert len(CHAPTERS) == 7, [p.name for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_last_code_cell_shows_the_claims_ledger(path: Path) -> None:
    cells = _cells(path)
    last = max(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    tree = ast.parse("".join(cells[last]["source"]))
    final = tree.body[-1] if tree.body else None
    assert (
        isinstance(final, ast.Expr)
        and isinstance(final.value, ast.Call)
        and isinstance(final.value.func, ast.Name)
        and final.value.func.id == "claims"
        and not final.value.args
    ), f"{path.name}: the last code cell must end with `claims()` (its value is the table shown)"
    assert "claims" in _imported_from_rnnlab(cells), (
        f"{path.name}: `claims` must be imported from rnnlab (`from rnnlab import claims`)"
    )
