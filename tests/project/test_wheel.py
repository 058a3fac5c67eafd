"""The wheel stands alone: built from this tree, installed (not editable) into a fresh environment,
it carries the shipped data with their SOURCE.md, runs ``doctor`` and starts from any folder."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA_FOLDERS = sorted(p.name for p in (ROOT / "rnnlab" / "data" / "files").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # a copy: setuptools writes build/ and *.egg-info beside the sources it builds
    source = out / "source"
    shutil.copytree(
        ROOT / "rnnlab", source / "rnnlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT.md"):
        shutil.copy(ROOT / name, source / name)
    # --no-build-isolation: build with this environment's setuptools (offline, seconds)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (found,) = out.glob("rnnlab-*.whl")
    return found


def test_wheel_carries_the_data_their_sources_and_the_licences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in DATA_FOLDERS:
        shipped = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "rnnlab" / "data" / "files" / folder).iterdir()
        }
        assert shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
        assert f"rnnlab/data/files/{folder}/SOURCE.md" in names
    assert not any(n.startswith(("tests/", "chapters/", "exercises/")) for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Requires-Dist: torch>=2.4" in text  # a range: installing rnnlab never downgrades torch
    # `pip install rnnlab` (no extras) brings neither the teacher's nor the site's tools
    plain = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert plain and not [r for r in plain if r.startswith(("otter", "jupyter-book", "jupyterlab"))]
    extras = {
        line.split(":", 1)[1].strip() for line in text.splitlines() if "Provides-Extra" in line
    }
    assert {"lab", "exercises", "grading", "site", "test"} <= extras, extras
    assert 'Requires-Dist: otter-grader<8,>=7.0; extra == "grading"' in text


def test_installed_wheel_runs_from_any_folder(wheel, tmp_path):
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    # The fresh environment sees this one's dependencies (torch is large) but not rnnlab's source
    # tree.
    (purelib,) = (env_dir / "lib").glob("python*/site-packages")
    (purelib / "course-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["RNNLAB_CACHE_DIR"] = str(tmp_path / "cache")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(python), *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    probe = run(
        "-c",
        "import rnnlab, pathlib; from rnnlab.data.sunspots import load_sunspots; "
        "print(pathlib.Path(rnnlab.__file__).resolve()); print(len(load_sunspots()[1]))",
    )
    assert probe.returncode == 0, probe.stderr
    location, rows = probe.stdout.split()
    assert Path(location).is_relative_to(env_dir.resolve()) and int(rows) > 3000
    doctor = run("-m", "rnnlab", "doctor")
    assert doctor.returncode == 0 and "torch" in doctor.stdout, doctor.stderr
    from_here = run(
        "-c",
        "from rnnlab.cli import lab_command; import sys; print(lab_command([], is_root=False))",
    )
    assert f"--ServerApp.root_dir={elsewhere}" in from_here.stdout, from_here.stderr
    (elsewhere / "01_architectures.ipynb").write_text("{}")
    grade = run("-m", "rnnlab", "grade", "01_architectures.ipynb", "--unsandboxed")
    assert (
        grade.returncode == 2
        and "no exercise masters" in grade.stderr
        and "--source-dir" in grade.stderr
    ), grade.stderr
