"""Hints teach, they do not hand over the answer: no hint holds a line of the solution.

Every question of every master (``exercises/source/*.ipynb``) has collapsed hint boxes, markdown
cells holding ``<summary>Hint N</summary>``: the first gives the idea, the second the shape of the
computation (a skeleton, the tensor shapes, the function to look up). A learner opens them all, so
none may contain the solution itself.

**The rule.** The *solution lines* of a master are exactly the lines Otter Assign takes out of the
student copy: every line of a code cell that ``otter.assign.solutions.replace_solutions`` drops or
rewrites (``# BEGIN SOLUTION`` … ``# END SOLUTION`` blocks, ``# SOLUTION`` lines) and every line of
a markdown cell inside a ``# BEGIN SOLUTION`` raw block (otter deletes those cells). From each
solution line, with its trailing comment cut and **all whitespace removed**, the *forms* are:

- the line itself;
- its value: what follows a leading ``return``/``yield``, or the first top-level ``=``
  (augmented assignments too);
- each top-level comma-separated element of that value (``h, c = f(a), g(b)`` gives ``f(a)`` and
  ``g(b)``).

A form is *trivial*, and allowed, when it is shorter than `MIN_FORM` characters (``returnout``,
``returnh,c``, ``else:``, ``pass``, brackets), or when the line is an import. A hint's text
(HTML entities decoded, backticks and tags removed, all whitespace removed, so a line split or
re-spaced is still found) must contain no non-trivial form of any solution line of its notebook.
"""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

import nbformat
import pytest
from otter.assign.solutions import replace_solutions

from rnnlab.grading import build

MIN_FORM = 12  # characters without whitespace: shorter forms (return out, h, c, else:) are trivial
HINT = re.compile(r"<summary>\s*Hint\s+(\d+)\s*</summary>")
_OPEN = "([{"
_CLOSE = ")]}"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _cut_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _top_level(text: str, separators: str) -> list[int]:
    """Positions of ``separators`` characters outside brackets and quotes."""
    depth, quote, found = 0, None, []
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and ch in separators:
            found.append(i)
    return found


def _value(code: str) -> str | None:
    """What a ``return``/``yield`` gives or what the first top-level ``=`` assigns; None
    otherwise."""
    keyword = re.match(r"(return|yield)\b", code)
    if keyword:
        return code[keyword.end() :]
    for i in _top_level(code, "="):
        before, after = code[i - 1 : i], code[i + 1 : i + 2]
        if after != "=" and before not in "=<>!":
            return code[i + 1 :]
    return None


def solution_forms(line: str) -> set[str]:
    """The non-trivial forms (whitespace removed) of one solution line; empty when it is
    trivial."""
    code = _cut_comment(line).strip()
    if re.match(r"(import|from)\s+\S", code):
        return set()
    forms = {code}
    value = _value(code)
    if value is not None:
        forms.add(value)
        cuts = [-1, *_top_level(value, ","), len(value)]
        forms.update(value[a + 1 : b] for a, b in itertools.pairwise(cuts))
    return {f for f in map(_squash, forms) if len(f) >= MIN_FORM}


def _solution_blocks(cells: list[nbformat.NotebookNode]) -> list[bool]:
    """For each cell: is it inside a ``# BEGIN SOLUTION`` … ``# END SOLUTION`` raw block?"""
    inside, out = False, []
    for cell in cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN SOLUTION"):
            inside = True
        elif cell.cell_type == "raw" and cell.source.startswith("# END SOLUTION"):
            inside = False
        out.append(inside and cell.cell_type != "raw")
    return out


def solution_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The lines Otter Assign removes from (or rewrites in) the student copy of ``nb``."""
    lines = []
    for cell, in_block in zip(nb.cells, _solution_blocks(nb.cells), strict=True):
        source = cell.source.splitlines()
        if cell.cell_type == "code":
            kept = set(replace_solutions(source, "python"))
            lines.extend(line for line in source if line not in kept)
        elif cell.cell_type == "markdown" and in_block:
            lines.extend(line.replace("#", "") for line in source)
    return [line for line in lines if _cut_comment(line).strip()]


def hint_text(source: str) -> str:
    """A hint cell's text as the rule reads it: no tags, no backticks, no whitespace."""
    text = html.unescape(re.sub(r"</?(details|summary)>", "", source))
    return _squash(text.replace("`", ""))


def leaks(hint: str, lines: list[str]) -> list[str]:
    """The solution lines one of whose forms ``hint`` (a hint cell's source) contains."""
    text = hint_text(HINT.sub("", hint))
    return [line.strip() for line in lines if any(form in text for form in solution_forms(line))]


def questions(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """``{question name: [its hint cells' sources, in order]}``."""
    out: dict[str, list[str]] = {}
    current = None
    for cell in nb.cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            current = re.search(r"^name:\s*(\w+)", cell.source, re.M).group(1)
            out[current] = []
        elif cell.cell_type == "raw" and cell.source.startswith("# END QUESTION"):
            current = None
        elif cell.cell_type == "markdown" and HINT.search(cell.source):
            assert current is not None, f"a hint outside any question: {cell.source[:60]!r}"
            out[current].append(cell.source)
    return out


MASTERS = build.masters()


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_no_hint_holds_a_line_of_the_solution(master: Path):
    nb = nbformat.read(master, as_version=4)
    lines = solution_lines(nb)
    assert lines, f"{master.name}: no solution lines found (are the otter markers there?)"
    found = {
        f"{name}, hint {k}": leak
        for name, hints in questions(nb).items()
        for k, hint in enumerate(hints, start=1)
        if (leak := leaks(hint, lines))
    }
    assert not found, f"{master.name}: hints that hold solution lines: {found}"


@pytest.mark.parametrize("master", MASTERS, ids=[p.stem for p in MASTERS])
def test_every_question_has_an_idea_hint_then_a_shape_hint(master: Path):
    for name, hints in questions(nbformat.read(master, as_version=4)).items():
        numbers = [int(HINT.search(h).group(1)) for h in hints]
        assert len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1)), (
            f"{master.name} {name}: hints numbered {numbers}; want Hint 1 (the idea), "
            "Hint 2 (the shape of the computation), in order"
        )


SOLUTION = [
    "def f(lstm, x_t, h, c):",
    "    # BEGIN SOLUTION",
    "    gates = x_t @ lstm.weight_ih_l0.T + h @ lstm.weight_hh_l0.T  # the pre-activation",
    "    i, f, g, o = gates.chunk(4, dim=1)",
    "    h, c = torch.where(running, h_new, h), torch.where(running, c_new, c)",
    "    from torch.nn.utils.rnn import pack_padded_sequence",
    "    return out",
    "    # END SOLUTION",
    "MASKED_STEPS = 6  # SOLUTION",
]


def _hint(body: str) -> str:
    return f"<details><summary>Hint 2</summary>\n\n{body}\n\n</details>"


@pytest.fixture
def master_lines() -> list[str]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell("# BEGIN SOLUTION"),
        nbformat.v4.new_code_cell("\n".join(SOLUTION)),
        nbformat.v4.new_markdown_cell("The answer is forty-two, because of the mask."),
        nbformat.v4.new_raw_cell("# END SOLUTION"),
    ]
    return solution_lines(nb)


def test_the_solution_lines_are_what_otter_removes(master_lines):
    assert "def f(lstm, x_t, h, c):" not in master_lines  # the prompt the student sees
    assert "MASKED_STEPS = 6  # SOLUTION" in master_lines
    assert "The answer is forty-two, because of the mask." in master_lines  # a markdown answer
    assert all("BEGIN SOLUTION" not in line for line in master_lines)


@pytest.mark.parametrize(
    "body",
    [
        "`i, f, g, o = gates.chunk(4, dim=1)`",  # the line itself
        "Use `i,f,g,o = gates.chunk( 4, dim = 1 )`.",  # re-spaced
        "split it with `gates.chunk(4, dim=1)`",  # the value of the assignment
        "the new `h` is `torch.where(running, h_new, h)`",  # one element of a tuple value
        "```python\ngates = x_t @ lstm.weight_ih_l0.T\n    + h @ lstm.weight_hh_l0.T\n```",  # split
        "The answer is forty-two, because of the mask.",  # a markdown answer
        "`MASKED_STEPS = 6`",
    ],
)
def test_a_hint_that_gives_a_solution_line_is_caught(master_lines, body):
    assert leaks(_hint(body), master_lines)


@pytest.mark.parametrize(
    "body",
    [
        "Split the `(B, 4H)` pre-activation into four gates: look up `Tensor.chunk`.",
        "`torch.where(still_running, new, old)` keeps finished rows as they were.",
        "End with `return out`; import `pack_padded_sequence` from `torch.nn.utils.rnn`.",
        "`from torch.nn.utils.rnn import pack_padded_sequence`",  # an import is trivial
    ],
)
def test_a_hint_that_gives_the_idea_or_a_skeleton_passes(master_lines, body):
    assert leaks(_hint(body), master_lines) == []
