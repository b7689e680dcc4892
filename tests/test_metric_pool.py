"""The metric worker pool: in-process scores, clear errors, and no orphans when its owner is killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rcnn_se.metrics import utterance_metrics
from rcnn_se.metrics.pool import MetricPool, resolve_workers


def signals(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(32000) / 16000
    clean = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return clean, (clean + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.slow
def test_pool_scores_equal_in_process_scores():
    pairs = [signals(seed) for seed in range(3)]
    with MetricPool(2) as pool:
        futures = [pool.submit(clean, noisy, 16000) for clean, noisy in pairs]
        pooled = [f.result() for f in futures]
    with MetricPool(0) as serial:
        inline = [serial.submit(clean, noisy, 16000).result() for clean, noisy in pairs]
    direct = [utterance_metrics(clean, noisy, 16000, full=True) for clean, noisy in pairs]
    # Equal up to the summation order of single- vs multi-threaded BLAS.
    for a, b, c in zip(pooled, inline, direct, strict=True):
        assert a.keys() == b.keys() == c.keys()
        assert a == pytest.approx(c, rel=1e-9) and b == pytest.approx(c, rel=1e-9)
    assert {"pesq_wb", "stoi", "csig"} <= set(direct[0])


def test_pool_full_false_scores_fewer_metrics():
    clean, noisy = signals(0)
    with MetricPool(1, full=False) as pool:
        short = pool.submit(clean, noisy, 16000).result()
    assert short == pytest.approx(utterance_metrics(clean, noisy, 16000, full=False), rel=1e-9)
    assert "csig" not in short


def pooled_pesq(seed: int) -> float:
    with MetricPool(1, full=False) as pool:
        return pool.submit(*signals(seed), 16000).result()["pesq_wb"]


@pytest.mark.slow
def test_pool_inside_a_loky_worker():
    """Hydra's parallel launcher (hydra/launcher=local_parallel, joblib's loky backend) runs each job in a
    loky worker, whose start method 'loky' a spawned metric worker cannot set up: the pool crashed there."""
    from joblib import Parallel, delayed

    scores = Parallel(n_jobs=2, backend="loky")(delayed(pooled_pesq)(seed) for seed in range(2))
    inline = [utterance_metrics(*signals(seed), 16000, full=False)["pesq_wb"] for seed in range(2)]
    assert scores == pytest.approx(inline, rel=1e-9)


def test_worker_count_auto_is_one_per_core():  # bad counts: tests/test_configs.py (the schema's rule)
    assert resolve_workers("auto") == resolve_workers(None) >= 1 and resolve_workers(3) == 3


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found |= {int(p) for p in text.split()}
    return found


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_exit_when_their_owner_is_killed(tmp_path: Path):
    script = textwrap.dedent(
        """
        import os, signal, sys
        from rcnn_se.metrics.pool import MetricPool

        if __name__ == "__main__":
            pool = MetricPool(2)
            pool.submit([0.0] * 16000, [0.0] * 16000, 16000).exception()  # workers are up
            print("ready", flush=True)
            sys.stdin.readline()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    (tmp_path / "owner.py").write_text(script)
    owner = subprocess.Popen(
        [sys.executable, str(tmp_path / "owner.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout.readline().strip() == "ready"
    workers = children(owner.pid)
    assert len(workers) >= 2
    owner.stdin.write("\n")
    owner.stdin.flush()
    assert owner.wait(timeout=30) == -9
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "metric workers outlived their killed owner"
