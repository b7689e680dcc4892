"""The suite's time rests on pytest-xdist keeping each `xdist_group` on one worker (the headline sweep's
readers share one build; tests/conftest.py). pytest 9.2 with pytest-xdist 3.8 silently stopped doing it
(pytest-xdist issue 1386): this runs the installed pair on two grouped files and fails if they split."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GROUPED = """
import os
import pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    with open(os.environ["WORKERS_LOG"], "a") as log:
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


@pytest.mark.slow
def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(GROUPED)
    log = tmp_path / "workers.log"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={"WORKERS_LOG": str(log), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = log.read_text().split()
    assert len(workers) == 8
    assert len(set(workers)) == 1, f"one group ran on {sorted(set(workers))}: see pyproject's pytest pin"
