"""Shared fixtures: tiny corpora of real wav files, a real checkpoint, a real `mlflow server`, a data folder.

Plain helpers (launching `train.py`, reading the store, composing configs) live in tests/helpers/.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.audio import write_pair_corpus
from helpers.jobs import HEADLINE, ROOT, TINY, train
from helpers.net import mlflow_server as start_mlflow_server
from rcnn_se.data.features import StftConfig
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem

SMALL_MODEL = {"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN", "channels": 6, "kernel_size": 3}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist the workers already share the cores, so each worker, and every job it starts, runs
    one torch thread: oversubscribed OpenMP threads spin. Two tiny train.py jobs side by side took 48 s
    each with torch's default 2 threads and 37 s with one (2-core AMD EPYC, AVX2)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    train = [
        (f"p{s}_{i:03d}", noise, snr)
        for s in (301, 302, 303)
        for i, (noise, snr) in enumerate([("white", 15.0), ("pink", 10.0), ("white", 5.0), ("pink", 0.0)])
    ]
    write_pair_corpus(root, "train", train, sr=48000)
    write_pair_corpus(root, "test", [("p901_001", "babble", 17.5), ("p901_002", "cafe", 2.5)], sr=48000)
    return root


@pytest.fixture(scope="session", autouse=True)
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder (demo corpus + feature cache) for every training subprocess of the session, across
    pytest-xdist's workers too: the corpus is deterministic, the cache keyed by content and both are renamed
    into place only when complete, so sharing changes no result, only the time."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared_data"
    folder.mkdir(exist_ok=True)
    os.environ["RCNN_SE_TEST_DATA"] = str(folder)
    return folder


def small_system() -> EnhancementSystem:
    """The SMALL_MODEL network (6 channels, 3x3) in the Lightning system, log1p, Adam at 1e-3."""
    return EnhancementSystem(
        SpectralCNN(channels=6, kernel_size=3),
        lambda params: torch.optim.Adam(params, lr=1e-3),
        compress="log1p",
        model_config=SMALL_MODEL,
        stft=StftConfig().as_dict(),
    )


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint from a real (one-step) Lightning fit, the same in every worker (seeded)."""
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    system = small_system()
    data = TensorDataset(torch.rand(4, 1, 257, 8), torch.rand(4, 1, 257, 8))
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=folder,
        enable_model_summary=False,
    )
    trainer.fit(system, DataLoader(data, batch_size=2))
    path = folder / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


@dataclass(frozen=True)
class Server:
    url: str  # what a job's logger.mlflow.tracking_uri names
    store: str  # the server's own backend store


def required_in_ci(reason: str, what: str) -> None:
    """Where a real service cannot start here: a failure under CI=true, where .ci/run installs it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must {what}: {reason}")


@contextlib.contextmanager
def short_folder(prefix: str) -> Iterator[Path]:
    """A new folder in /tmp, removed afterwards: a service's own user may not enter pytest's folders, and a
    Unix socket's path must fit in 108 characters."""
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's `chromium`, not a downloaded one) driven by Playwright (the ui-test
    extra); skipped with the reason where either is missing, never in CI, which installs both."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        required_in_ci("chromium is not installed", "run the browser tests")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        required_in_ci("playwright is not installed", "run the browser tests")
        pytest.skip("playwright is not installed (pip install -e '.[ui-test]')")
    with sync_playwright() as playwright:
        # root (as in CI) needs --no-sandbox
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots() -> Path:
    """Where the browser tests leave their screenshots: test-artifacts/ui (or $RCNN_SE_TEST_ARTIFACTS/ui)."""
    folder = Path(os.environ.get("RCNN_SE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[Server]:
    """A real `mlflow server` on loopback over a new store of its own: a real PostgreSQL database, the
    store many machines share (tests/helpers/postgres.py), where PostgreSQL is installed, as .ci/run makes
    sure (CI=true fails without it); else a SQLite file, with the reason printed."""
    from helpers.postgres import missing, postgres_server

    folder = tmp_path / "server"
    folder.mkdir()
    reason = missing()
    if reason is None:
        with short_folder("pg-") as data, postgres_server(data) as store:
            with start_mlflow_server(store, folder / "art") as url:
                yield Server(url, store)
        return
    required_in_ci(reason, "test the server on PostgreSQL")
    print(f"mlflow server on SQLite: {reason}")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    with start_mlflow_server(store, folder / "art") as url:
        yield Server(url, store)


@pytest.fixture
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real one-node SLURM cluster (tests/helpers/slurm.py); the environment its clients need. Skipped with
    the reason where it cannot start, never in CI (CI=true), where .ci/run installs it."""
    from helpers.slurm import missing, slurm_cluster

    reason = missing()
    if reason:
        required_in_ci(reason, "run the SLURM tests")
        pytest.skip(reason)
    with short_folder("slurm-") as state, slurm_cluster(state) as env:  # munged's socket lives there
        yield env


@pytest.fixture(scope="session")
def headline_sweep(shared_data_dir: Path) -> tuple[Path, str]:
    """`python train.py -m model=rcnn,cnn dropout=0,0.2` on the tiny setting, with models registered, system
    metrics and a progress line per step: (project folder, console output). Trained once per session for
    the tests that only read a sweep back, whichever pytest-xdist workers they land on: the first worker
    trains it under a file lock in the workers' shared temp folder and the others wait and reuse it. Their
    `xdist_group` keeps them on one worker, so nobody waits (pytest < 9.2: tests/test_xdist_groups.py); the
    lock keeps the build single when they do split (a run without `--dist loadgroup`). Its console output
    is written last, as the mark of a complete build: a folder without it is a failed build, removed and
    trained again, never reused. (Not renamed into place: the store holds absolute artifact paths.)"""
    work = shared_data_dir.parent / "headline_sweep"
    console = work / "console.txt"
    with (shared_data_dir.parent / "headline_sweep.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not console.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            proc = train(work, *HEADLINE, *TINY)
            console.write_text(proc.stdout + proc.stderr)
    return work, console.read_text()


@pytest.fixture(scope="session")
def realcheck_archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the real-speech check's downloaded talker archives, fetched once per session
    for the realcheck and realnoise tests (tests that damage archives copy the folder first)."""
    from rcnn_se.data.realcheck import fetch_clips

    cache = tmp_path_factory.mktemp("realcheck_archives")
    fetch_clips(cache)
    return cache
