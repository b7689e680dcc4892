"""A damaged `mlflow.db` as users meet one (a disk that filled up mid-write, a copy cut short, a file
overwritten, an empty file, another program's database at the store's path) given to every command that
opens the store: one line naming the file and what to do, a non-zero exit, and the file left byte for byte
as it was. MLflow itself answers the first two with an 80-line SQLAlchemy traceback and the last two by
adding its tables to the file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from helpers.jobs import TINY, train
from rcnn_se.data.audio import write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.reporting.tables import main as paper_tables_main
from rcnn_se.tracking.runs_cli import main as runs_main

ADVICE = "left untouched: restore it from a backup, or move it aside"


def another_programs_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('not runs')")
    db.close()


DAMAGES = {
    "truncated": (
        "damaged (database disk image is malformed)",
        lambda p, good: p.write_bytes(good[: len(good) // 2]),
    ),
    "garbage": ("damaged (file is not a database)", lambda p, good: p.write_bytes(os.urandom(len(good)))),
    "empty": ("an empty file, not an MLflow database", lambda p, good: p.write_bytes(b"")),
    "other_app": (
        "not an MLflow database (no table alembic_version, experiments, runs",
        lambda p, good: another_programs_database(p),
    ),
}


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real MLflow SQLite store holding one run, made once (MLflow's migrations are slow)."""
    path = tmp_path_factory.mktemp("good") / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.create_run(client.create_experiment("rcnn_se"))
    return path.read_bytes()


def damaged(root: Path, damage: str, good: bytes) -> tuple[Path, bytes]:
    """A project folder whose store is damaged as named, and the damaged file's bytes."""
    path = root / "mlruns" / "mlflow.db"
    path.parent.mkdir(parents=True)
    DAMAGES[damage][1](path, good)
    return path, path.read_bytes()


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("RCNN_SE_ROOT", str(tmp_path))
    monkeypatch.delenv("RCNN_SE_TRACKING_URI", raising=False)
    return tmp_path


@pytest.mark.parametrize("damage", DAMAGES)
def test_rcnn_se_commands_name_a_damaged_store_in_one_line_and_leave_it(
    project: Path, good_store: bytes, damage: str, capsys: pytest.CaptureFixture
) -> None:
    path, before = damaged(project, damage, good_store)
    expected = f"MLflow store {path}: {DAMAGES[damage][0]}"
    wav = write_wav(project / "in.wav", np.zeros(1600), 16000)

    with pytest.raises(SystemExit) as runs:
        runs_main(["clean"])
    assert runs.value.code == 1
    assert paper_tables_main(["--out", str(project / "paper")]) == 1
    with pytest.raises(SystemExit) as enhance:
        enhance_main([str(wav), "-o", str(project / "out"), "--run-id", "0123456789abcdef"])
    said = capsys.readouterr().err.splitlines() + [str(enhance.value.code)]

    assert [line.split(": ", 1)[0] for line in said] == ["rcnn-se runs", "paper-tables", "rcnn-se enhance"]
    assert all(expected in line and ADVICE in line for line in said), said
    assert path.read_bytes() == before, "the damaged store was changed"
    assert sorted(p.name for p in path.parent.iterdir()) == ["mlflow.db"]
    assert not (project / "paper").exists() and not (project / "out").exists()


@pytest.mark.parametrize("damage", DAMAGES)
def test_train_refuses_a_damaged_store_before_it_starts(
    tmp_path: Path, good_store: bytes, damage: str
) -> None:
    path, before = damaged(tmp_path, damage, good_store)
    proc = train(tmp_path, *TINY, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (
        proc.stderr.strip().splitlines()[-1].startswith(f"Error: MLflow store {path}: {DAMAGES[damage][0]}")
    )
    assert ADVICE in proc.stderr
    assert path.read_bytes() == before, "the damaged store was changed"
    runs = tmp_path / "outputs" / "train" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a refused store leaves no job folder"
