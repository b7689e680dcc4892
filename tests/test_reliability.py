"""The pieces that keep jobs apart and failures clear, each on real files, processes, sockets and stores:
relaunch checks, job folders, checkpoint fallback, config value checks, the tracking-server probe, run
ownership and `rcnn-se runs clean`."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from helpers.configs import EXPERIMENTS, composed, sweep_points
from helpers.jobs import TINY, train
from helpers.net import unused_port
from rcnn_se.config.checks import check_values
from rcnn_se.jobs.resume import GROWABLE, OtherJobError, check_same_job, save_job_config
from rcnn_se.tracking.runs_cli import main as runs_main
from rcnn_se.tracking.status import OWNER_TAG, owner, owner_alive
from rcnn_se.tracking.store import TrackingUnavailable, check_server
from rcnn_se.training.checkpoints import readable_checkpoint


def split(cfg: DictConfig) -> tuple[DictConfig, dict]:
    """A composed config as a job sees it: the task config and Hydra's choices."""
    task = OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"})
    return task, dict(cfg.hydra.runtime.choices)


def test_relaunch_with_another_config_is_refused_and_leaves_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = composed(["model=rcnn"], tmp_path)
    save_job_config(split(first)[0], first, out)
    saved = {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()}
    assert set(saved) == {"config.yaml", "hydra.yaml", "overrides.yaml"}

    def check(*overrides: str, growable: tuple[str, ...] = GROWABLE) -> None:
        task, choices = split(composed(list(overrides), tmp_path))
        check_same_job(task, out, growable, choices)

    check("model=rcnn")
    check("model=rcnn", "threads=1", "evaluate.workers=0")  # speed only
    with pytest.raises(OtherJobError, match=r"other settings \(model: rcnn -> cnn\); start a new folder"):
        check("model=cnn")
    with pytest.raises(OtherJobError, match=r"settings \(scheduler: onecycle -> none\); start"):
        check("model=rcnn", "scheduler=none", "trainer.max_epochs=9")
    with pytest.raises(
        OtherJobError, match=r"\(seed: 42 -> 7\).*own overrides: paths.root_dir=.* model=rcnn$"
    ):
        check("model=rcnn", "seed=7")
    with pytest.raises(OtherJobError, match="OneCycleLR is planned over the run's length, so it cannot grow"):
        check("model=rcnn", "trainer.max_epochs=9")
    assert {p.name: p.read_bytes() for p in (out / ".hydra").iterdir()} == saved


def test_a_folder_from_before_loggers_were_named_still_resumes(tmp_path: Path) -> None:
    """Job folders written before `logger.mlflow` (one logger at the top of `logger`, its choices without
    the demo block's placement) are the same job; another logger in one is not."""
    out = tmp_path / "out"
    first = composed([], tmp_path)
    task, choices = split(first)
    save_job_config(task, first, out)
    for name in ("config.yaml", "hydra.yaml"):  # rewritten as such a folder holds them
        saved = OmegaConf.load(out / ".hydra" / name)
        node = saved if name == "config.yaml" else saved.hydra.runtime.choices
        if name == "config.yaml":
            node.logger = node.logger.mlflow
        else:
            del node["demo_corpus@data.demo"]
        OmegaConf.save(saved, out / ".hydra" / name)
    check_same_job(task, out, GROWABLE, choices)
    other, other_choices = split(composed(["logger=csv"], tmp_path))
    with pytest.raises(OtherJobError, match=r"logger: mlflow -> csv"):
        check_same_job(other, out, GROWABLE, other_choices)


def test_limits_may_grow_under_a_schedule_that_does_not_plan_the_length(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = composed(["scheduler=plateau", "trainer.max_epochs=5"], tmp_path)
    save_job_config(split(first)[0], first, out)
    grown, choices = split(composed(["scheduler=plateau", "trainer.max_epochs=8"], tmp_path))
    check_same_job(grown, out, GROWABLE, choices)
    with pytest.raises(OtherJobError, match="a finished job"):
        check_same_job(grown, out, (), choices)
    shrunk, choices = split(composed(["scheduler=plateau", "trainer.max_epochs=4"], tmp_path))
    with pytest.raises(OtherJobError, match=r"trainer\.max_epochs: 5 -> 4"):
        check_same_job(shrunk, out, GROWABLE, choices)


@pytest.mark.slow
def test_config_values_are_checked_by_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^dropout='abc': expected a number in \[0, 1\)$"):
        check_values(composed(["dropout=abc"], tmp_path))
    with pytest.raises(ValueError, match=r"^dropout=1.5: expected a number in \[0, 1\)$"):
        check_values(composed(["dropout=1.5"], tmp_path))
    with pytest.raises(ValueError, match=r"^optimizer.lr='fast': expected a positive number$"):
        check_values(composed(["optimizer.lr=fast"], tmp_path))
    with pytest.raises(ValueError, match=r"^trainer.max_epochs=2.5: expected a whole number"):
        check_values(composed(["trainer.max_epochs=2.5"], tmp_path))
    with pytest.raises(ValueError, match=r"^data.eq_augment_db=-3: expected a number of dB >= 0"):
        check_values(composed(["data.eq_augment_db=-3"], tmp_path))
    check_values(composed(["data.eq_augment_db=3"], tmp_path))
    with pytest.raises(ValueError, match=r"^envelope_weight=-0.5: expected a weight >= 0"):
        check_values(composed(["envelope_weight=-0.5"], tmp_path))
    for experiment in EXPERIMENTS:  # every shipped sweep point passes
        for point in sweep_points(experiment, tmp_path):
            check_values(composed(point, tmp_path))
    check_values(composed(["model=wiener"], tmp_path))


def test_job_folders_started_in_the_same_second_are_distinct(tmp_path: Path) -> None:
    code = "from rcnn_se.jobs.job_dir import claim_job_dir as c; import sys; a = c(sys.argv[1]); "
    code += "print(a == c(sys.argv[1]), a)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    lines = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(same == "True" for same, _ in lines)  # one claim per process, remembered
    folders = {folder for _, folder in lines}
    assert len(folders) == 6 and {Path(f) for f in folders} == set(tmp_path.iterdir())


def test_truncated_last_checkpoint_falls_back_to_the_newest_readable(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    caplog,
) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "epoch000.ckpt").write_bytes(checkpoint.read_bytes())
    time.sleep(0.05)
    (folder / "epoch001.ckpt").write_bytes(b"PK\x03\x04 cut short")  # newer, but unreadable
    (folder / "last.ckpt").write_bytes(checkpoint.read_bytes()[:3000])
    with caplog.at_level(logging.WARNING, logger="rcnn_se.training.checkpoints"):
        found = readable_checkpoint(folder, folder / "last.ckpt")
    assert found == folder / "epoch000.ckpt"
    assert "last.ckpt: not a readable checkpoint" in caplog.text
    assert f"resuming from {found} instead of {folder / 'last.ckpt'}" in caplog.text
    (folder / "last.ckpt").write_bytes(checkpoint.read_bytes())
    assert readable_checkpoint(folder, folder / "last.ckpt") == folder / "last.ckpt"
    for path in folder.iterdir():
        path.write_bytes(b"")
    assert readable_checkpoint(folder, folder / "last.ckpt") is None
    torch.load(checkpoint, weights_only=True)  # the source itself stayed whole


@pytest.mark.slow
def test_unreachable_tracking_server_fails_fast_in_one_line() -> None:
    uri = f"http://127.0.0.1:{unused_port()}"
    start = time.monotonic()
    with pytest.raises(
        TrackingUnavailable, match=rf"^tracking URI {uri}: no MLflow server answers .*refused"
    ):
        check_server(uri)
    assert time.monotonic() - start < 15
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TrackingUnavailable, match="timed out.*MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
            check_server(uri)
        assert time.monotonic() - start < 15


@pytest.mark.slow
def test_runs_clean_lists_and_deletes_failed_and_stale_runs(tmp_path: Path, capsys) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("rcnn_se", artifact_location=(tmp_path / "art").as_uri())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = owner().rsplit(":", 2)[0] + f":{dead.pid}:1"
    assert (
        owner_alive(owner()) is True and owner_alive(gone) is False and owner_alive("elsewhere:1:1") is None
    )

    def run(name: str, status: str | None, **tags: str) -> str:
        run_id = client.create_run(exp, run_name=name, tags=tags).info.run_id
        if status:
            client.set_terminated(run_id, status=status)
        return run_id

    failed = run("failed", "FAILED")
    stale = run("stale", None, **{OWNER_TAG: gone})
    alive = run("alive", None, **{OWNER_TAG: owner()})
    finished = run("finished", "FINISHED")
    sweep = run("sweep", "FAILED", **{"rcnn_se.kind": "sweep"})
    run("job", "FINISHED", **{"mlflow.parentRunId": sweep})

    assert runs_main(["clean", "--tracking-uri", uri]) == 0
    listed = capsys.readouterr().out
    assert failed in listed and stale in listed and "stale: its process is gone" in listed
    assert alive not in listed and finished not in listed
    assert f"{sweep}  FAILED" in listed and "kept: 1 finished jobs under it" in listed
    assert "2 of these can be removed" in listed
    assert runs_main(["clean", "--tracking-uri", uri, "--delete"]) == 0
    assert "deleted 2 runs" in capsys.readouterr().out
    left = {r.info.run_id for r in client.search_runs([exp])}
    assert failed not in left and stale not in left and {alive, finished, sweep} <= left
    exe = Path(sys.executable).parent / "rcnn-se"
    done = subprocess.run([str(exe), "runs", "clean", "--tracking-uri", uri], capture_output=True, text=True)
    assert done.returncode == 0 and failed not in done.stdout and sweep in done.stdout


@pytest.mark.slow
def test_a_folder_whose_job_runs_is_not_entered_by_a_second_process(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "outputs" / "job"
    out.mkdir(parents=True)
    with open(out / ".job.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the running job holds it
        second = train(tmp_path, f"hydra.run.dir={out}", *TINY, check=False)
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert f"Error: {out}: another process is running this job now" in second.stderr
    assert not (out / ".hydra").exists() and not (tmp_path / "mlruns").exists()


def test_config_errors_become_one_line_and_bugs_keep_their_traceback(monkeypatch) -> None:
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from rcnn_se.errors import OneLineError, one_line_errors

    network = {"_target_": "rcnn_se.models.baselines.Baseline", "name": "nosuch"}
    with pytest.raises(OneLineError, match=r"^Error: baseline 'nosuch' unknown"), one_line_errors():
        instantiate(network)
    with pytest.raises(RuntimeError, match="a bug"), one_line_errors():
        raise RuntimeError("a bug keeps its traceback")
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(InstantiationException), one_line_errors():
        instantiate(network)
