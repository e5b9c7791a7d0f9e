"""The shared CLI subprocess helper (`tests.conftest.run_mlops`) ends a command that overruns its timeout: the
test fails with a readable message, and no process of the command's group is left running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_mlops


def processes_in(folder: Path) -> list[int]:
    """Ids of the processes whose working directory is `folder` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads /proc")
def test_a_command_past_its_timeout_fails_the_test_and_leaves_no_process(tmp_path: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(tmp_path / "home")}
    with pytest.raises(pytest.fail.Exception, match=r"`mlops --help` still running after 0\.01 s") as failed:
        run_mlops("--help", cwd=tmp_path, env=env, timeout=0.01)
    assert "Traceback" not in str(failed.value)
    assert processes_in(tmp_path.resolve()) == []


def test_a_command_returns_its_exit_code_and_output(tmp_path: Path) -> None:
    r = run_mlops("no-such-command", cwd=tmp_path, env={**os.environ, "COLUMNS": "200"}, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "No such command 'no-such-command'" in r.stderr
