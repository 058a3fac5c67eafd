"""Who installs what: every third-party import is declared in the extra of those who run it, a plain
``pip install rnnlab`` pulls none of the teacher's or the site's tools, and the learner's modules
import without them."""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.metadata
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Modules only a teacher (grading) or the site builder runs, and the extra each needs; every other
# module of rnnlab is the learner's and imports only what a plain install brings.
TEACHER_MODULES = {
    "rnnlab.grading.build": "grading",
    "rnnlab.grading.cli": "grading",
    "rnnlab.grading.driver": "grading",
    "rnnlab.grading.gradebook": "grading",
    "rnnlab.grading.grader": "grading",
    "rnnlab.grading.release": "grading",
    "rnnlab.grading.sandbox": "grading",
    "rnnlab.grading.limits": "grading",
    "rnnlab.grading.__main__": "grading",
    "rnnlab.book": "site",
}
# What a plain install must never bring (the teacher's, the site's, the lab's and the tests' tools;
# psutil is not among them: IPython requires it).
NOT_FOR_LEARNERS = ["otter-grader", "jupyter-book", "nbformat", "pytest", "nbval", "jupyterlab"]


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _extra(name: str) -> list[str]:
    """The requirements of one extra, with ``rnnlab[...]`` self-references expanded."""
    found = []
    for requirement in PROJECT["optional-dependencies"][name]:
        parsed = Requirement(requirement)
        if parsed.name == "rnnlab":
            found += [r for extra in sorted(parsed.extras) for r in _extra(extra)]
        else:
            found.append(requirement)
    return found


def _declared(*extras: str) -> set[str]:
    return {_name(r) for r in PROJECT["dependencies"] + [r for e in extras for r in _extra(e)]}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _third_party_imports(path: Path) -> set[str]:
    """Top-level names of the non-standard-library packages a file imports (lazily or not)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("rnnlab", "tests")}


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # reads every installed distribution


def _distribution(import_name: str) -> str:
    (dist, *_) = _distributions()[import_name]
    return re.sub(r"[-_.]+", "-", dist).lower()


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution a plain install of ``requirements`` pulls, read from this environment's
    installed metadata (unconditional requirements only: no extras)."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        parsed = Requirement(todo.pop())
        if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
            continue
        name = re.sub(r"[-_.]+", "-", parsed.name).lower()
        if name in seen:
            continue
        seen.add(name)
        # one not installed here is a leaf: nothing installed here can come through it
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            todo += importlib.metadata.requires(name) or []
    return seen


SOURCES = sorted((ROOT / "rnnlab").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_is_declared_for_those_who_run_the_module(path):
    extra = TEACHER_MODULES.get(_module_name(path))
    wanted = {_distribution(n): n for n in _third_party_imports(path)}
    missing = set(wanted) - _declared(*([extra] if extra else []))
    assert not missing, (
        f"{path.relative_to(ROOT)} imports {sorted(wanted[m] for m in missing)}, which "
        f"{'[' + extra + ']' if extra else 'a plain install'} does not declare"
    )


def test_what_the_tests_import_is_in_the_test_extra():
    files = [*(ROOT / "tests").rglob("*.py"), ROOT / "conftest.py", ROOT / "exercises/conftest.py"]
    imported = {_distribution(n): n for f in files for n in _third_party_imports(f)}
    assert set(imported) <= _declared("test"), sorted(set(imported) - _declared("test"))


def test_a_plain_install_pulls_no_teacher_site_or_test_tools():
    pulled = _closure(PROJECT["dependencies"])
    assert "torch" in pulled and "ipywidgets" in pulled
    assert not pulled & set(NOT_FOR_LEARNERS), sorted(pulled & set(NOT_FOR_LEARNERS))
    assert "jupyterlab" not in pulled  # that is [lab]
    # and each tool is where its users get it
    assert "otter-grader" in _declared("exercises") and "otter-grader" in _declared("grading")
    assert "jupyter-book" in _declared("site") and "jupyterlab" in _declared("lab")
    assert _declared("lab", "exercises", "grading", "site") <= _declared("test")


def test_learner_modules_import_without_the_teacher_and_site_tools():
    modules = [
        _module_name(p)
        for p in SOURCES
        if _module_name(p) not in TEACHER_MODULES and p.name != "__main__.py"
    ]
    blocked = sorted({"otter", "jupyter_book", "nbformat", "pytest", "nbval", "jupyterlab"})
    program = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {blocked!r}:
            sys.modules[name] = None  # import raises ImportError, as if not installed
        for module in {modules!r}:
            importlib.import_module(module)
        print(len({modules!r}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout) == len(modules) > 50


def _requirement_names(reqs):
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_mirrors_pyproject():
    wanted = _requirement_names(
        PROJECT["dependencies"] + [r for e in PROJECT["optional-dependencies"] for r in _extra(e)]
    )
    env = (ROOT / "environment.yml").read_text()
    pip_lines = [
        line.strip()[2:].strip()
        for line in env.splitlines()
        if line.strip().startswith("- ") and line.startswith(" " * 6)
    ]
    listed = _requirement_names([p for p in pip_lines if not p.startswith("-e")])
    assert listed == wanted
    assert "python=3.11" in env


def test_each_make_target_installs_the_extras_it_runs():
    makefile = (ROOT / "Makefile").read_text()
    extras = dict(re.findall(r"^EXTRAS_(\w+)\s*:?=\s*(\S+)", makefile, re.M))
    assert set(extras["lab"].split(",")) == {"lab", "exercises"}
    assert extras["test"] == "test" and extras["site"] == "site" and extras["grading"] == "grading"
    for target, stamp in [
        ("lab", "lab"),
        ("test", "test"),
        ("book", "site"),
        ("exercises", "grading"),
        ("release", "grading"),
        ("lint", "test"),
    ]:
        (line,) = re.findall(rf"^{target}:.*$", makefile, re.M)
        assert f"$(STAMP)-{stamp}" in line, (target, line)
