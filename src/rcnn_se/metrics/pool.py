"""Worker processes for the per-utterance metrics (PESQ, STOI, composite measures).

These are single-threaded CPU libraries, so evaluation only scales with the cores if they run in separate
processes. Starting such a process costs seconds (a fresh interpreter that re-imports the launching
script), which on a test set of a few dozen utterances eats the whole gain; so a job starts its pool when
it starts, the workers get ready while it trains, and the pool is warm by evaluation time.

Workers are spawned, not forked: the parent holds torch's OpenMP pool, MLflow's threads and Lightning's
state, none of which survive a fork safely. Each worker runs single-threaded BLAS (one busy core per
worker, instead of workers fighting over every core with multithreaded OpenBLAS, which made LLR/WSS several
times slower), and exits on its own when its parent dies, so a killed job leaves no orphans behind.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

import numpy as np

from rcnn_se.metrics import utterance_metrics

_SINGLE_THREADED = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def resolve_workers(workers: int | str | None) -> int:
    """'auto' means one worker per core; 0 means score in this process (useful under a debugger). A count
    from a config was checked there (rcnn_se.config.schema.Evaluate.workers)."""
    return os.cpu_count() or 1 if workers in (None, "auto") else int(workers)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: a daemon thread that ends the worker once the parent process is gone.

    A SIGKILLed parent cannot shut its pool down, and an idle worker blocks forever on its task queue.
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            threading.Event().wait(1.0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _standard_start_method() -> None:
    """A spawned child sets up its parent's default start method first thing. In a loky worker (Hydra's
    parallel launcher, hydra/launcher=local_parallel) that is 'loky', which the child cannot find, and
    every metric worker died before scoring: this job process gets the standard 'spawn' default instead."""
    standard = (None, *multiprocessing.get_all_start_methods())
    if multiprocessing.get_start_method(allow_none=True) not in standard:
        multiprocessing.set_start_method("spawn", force=True)


class MetricPool:
    """`submit(clean, enhanced, fs)` -> Future of the metric dict; `workers=0` computes in this process.

    The workers are launched in the constructor without waiting for them to be ready, so creating the pool
    at the start of a job costs nothing; use it as a context manager so they are always shut down.
    """

    def __init__(self, workers: int | str | None = "auto", *, full: bool = True) -> None:
        self.n_workers = resolve_workers(workers)
        self.full = full
        self._executor: ProcessPoolExecutor | None = None
        if self.n_workers:
            self._executor = self._launch(self.n_workers)

    @staticmethod
    def _launch(n_workers: int) -> ProcessPoolExecutor:
        _standard_start_method()
        saved = {name: os.environ.get(name) for name in _SINGLE_THREADED}
        os.environ.update(_SINGLE_THREADED)  # inherited by the workers, which are started right here
        try:
            executor = ProcessPoolExecutor(
                n_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            for _ in range(n_workers):  # each submit spawns a worker while the environment is set
                executor.submit(os.getpid)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return executor

    def submit(self, clean: np.ndarray, enhanced: np.ndarray, fs: int) -> Future:
        if self._executor is not None:
            return self._executor.submit(utterance_metrics, clean, enhanced, fs, full=self.full)
        future: Future = Future()
        future.set_result(utterance_metrics(clean, enhanced, fs, full=self.full))
        return future

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def __enter__(self) -> MetricPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
