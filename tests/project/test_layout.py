"""The tests mirror the package: ``tests/models/test_seq2vec.py`` tests
``rnnlab/models/seq2vec.py``.

A test file is either named after the module it tests, at the same relative path, or lives in a
folder for checks that cut across the package: ``tests/project/`` (the whole course: hygiene,
layers, chapter claims, exercises, the wheel) and ``tests/e2e/`` (JupyterLab and the course site in
a real browser). So a maintainer finds a module's tests without searching, and the layout cannot
drift back.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CROSS_CUTTING = ("project", "e2e")


def misplaced(tests: Path, package: Path) -> list[str]:
    """Test files under ``tests`` that neither mirror a module of ``package`` nor sit in a
    cross-cutting folder."""
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        rel = path.relative_to(tests)
        if rel.parts[0] in CROSS_CUTTING:
            continue
        module = package / rel.parent / f"{path.stem.removeprefix('test_')}.py"
        if not module.is_file():
            found.append(str(rel))
    return found


def test_every_test_file_mirrors_a_module_or_is_cross_cutting():
    stray = misplaced(ROOT / "tests", ROOT / "rnnlab")
    assert not stray, (
        f"{stray}: name a test file after the module it tests, at the same path as in rnnlab/ "
        f"(tests/models/test_seq2vec.py for rnnlab/models/seq2vec.py), or put it in "
        f"tests/{{{','.join(CROSS_CUTTING)}}}/ if it checks the course as a whole"
    )


def test_a_test_file_without_its_module_is_found(tmp_path):
    package, tests = tmp_path / "rnnlab", tmp_path / "tests"
    for name in (
        "rnnlab/data/dates.py",
        "rnnlab/cache.py",
        "tests/data/test_dates.py",
        "tests/test_cache.py",
        "tests/project/test_anything.py",
        "tests/test_dates.py",
        "tests/models/test_cache.py",
        "tests/test_chapter1_data.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert misplaced(tests, package) == [
        "models/test_cache.py",
        "test_chapter1_data.py",
        "test_dates.py",
    ]


def test_every_test_folder_is_a_package_so_equal_file_names_do_not_clash():
    folders = {p.parent for p in (ROOT / "tests").rglob("test_*.py")}
    assert [
        str(f.relative_to(ROOT)) for f in sorted(folders) if not (f / "__init__.py").is_file()
    ] == []
