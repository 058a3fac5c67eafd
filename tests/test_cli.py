import re
import subprocess
import sys

import pytest

from rnnlab.cli import main


def test_doctor_reports_versions_devices_and_mode(capsys, monkeypatch):
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for word in ("python", "torch", "jupyterlab", "ipywidgets", "nbval", "cpu threads", "gpus", "widgets"):
        assert word in out
    assert re.search(r"^quick mode +on", out, re.M)


def test_unknown_command_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "rnnlab", "doctor"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "torch" in result.stdout


def test_bench_options_reach_the_bench(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "padding", "--help"])
    assert exit_info.value.code == 0
    assert "--json" in capsys.readouterr().out
