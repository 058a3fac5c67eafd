import re
import subprocess
import sys

import pytest

from rnnlab.cli import main


def test_doctor_reports_versions_devices_and_mode(capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for word in (
        "python",
        "torch",
        "jupyterlab",
        "ipywidgets",
        "nbval",
        "cpu threads",
        "gpus",
        "widgets",
    ):
        assert word in out
    assert re.search(r"^quick mode +on", out, re.M)


def test_unknown_command_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "rnnlab", "doctor"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "torch" in result.stdout


def test_bench_options_reach_the_bench(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "padding", "--help"])
    assert exit_info.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_lab_as_root_adds_allow_root_and_says_so(tmp_path):
    from rnnlab.cli import lab_command

    (tmp_path / "chapters").mkdir()
    as_root = lab_command([], folder=tmp_path, is_root=True)
    assert "--allow-root" in as_root
    assert f"--ServerApp.root_dir={tmp_path}" in as_root
    assert "--LabApp.default_url=/lab/tree/chapters" in as_root
    assert "--allow-root" not in lab_command([], folder=tmp_path, is_root=False)
    assert lab_command(["--allow-root"], folder=tmp_path, is_root=True).count("--allow-root") == 1


def test_lab_opens_the_current_folder_not_the_package(tmp_path, monkeypatch):
    from rnnlab.cli import lab_command

    monkeypatch.chdir(tmp_path)
    command = lab_command(["--port=9"], is_root=False)
    assert f"--ServerApp.root_dir={tmp_path}" in command
    # no chapters/ here: open the folder itself
    assert not any("default_url" in part for part in command)
    assert command[-1] == "--port=9" and "--ServerApp.ip=127.0.0.1" in command


def test_every_bench_named_has_a_command_line_and_every_command_line_is_named():
    import importlib
    import pkgutil

    from rnnlab import bench

    modules = {
        m.name: importlib.import_module(f"rnnlab.bench.{m.name}")
        for m in pkgutil.iter_modules(bench.__path__)
    }
    with_main = sorted(name for name, module in modules.items() if hasattr(module, "main"))
    assert list(bench.BENCHES) == with_main
