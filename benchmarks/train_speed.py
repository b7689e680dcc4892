"""Training speed as a job sees it: Lightning's Trainer driving the default job's LightningModule.

The system, optimizer, scheduler and data module are those `python train.py` composes (conf/train.yaml), so
the figure includes what a job pays per step: Lightning's loop, autocast, the masked loss, logging calls,
the one-cycle scheduler and the DataLoader. Only checkpoints, loggers and validation are off. The work per
step is counted from the model's conv layers (rcnn_se.training.macs) and reported as GMAC/s against the
matmul peak of the step's dtype, measured in the same run (benchmarks/peak.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from peak import Peaks

from rcnn_se.config import register_resolvers
from rcnn_se.cpu import bf16_is_native
from rcnn_se.jobs.train_job import build_system
from rcnn_se.training.macs import training_macs

ROOT = Path(__file__).resolve().parents[1]


def job_config(overrides: list[str]) -> DictConfig:
    """The config `python train.py OVERRIDES` would run, rooted at the project folder."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"paths.root_dir={ROOT}", *overrides])


class StepClock(L.Callback):
    """Wall time from the start of batch `warmup` to the end of the last batch, and how much of it was
    spent inside training steps (the rest is fetching batches and the loop's own work)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = self.batch_start = 0.0
        self.in_steps = 0.0
        self.steps = 0
        self.fastest = float("inf")  # the step least slowed by other load, comparable with a best-of peak

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        self.batch_start = time.perf_counter()
        if trainer.global_step == self.warmup:
            self.start = self.batch_start

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if trainer.global_step > self.warmup:
            self.end = time.perf_counter()
            self.in_steps += self.end - self.batch_start
            self.steps += 1
            self.fastest = min(self.fastest, self.end - self.batch_start)


def lightning_rate(
    cfg: DictConfig, datamodule, precision: str, channels_last: bool, steps: int, warmup: int = 3
) -> dict[str, float]:
    """Train `warmup + steps` steps of the configured job under Lightning; rates over the last `steps`."""
    torch.manual_seed(cfg.seed)
    system = build_system(cfg)
    if not channels_last:
        system.on_fit_start = lambda: None  # weights stay in PyTorch's default layout
    clock = StepClock(warmup)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=precision,
        max_steps=warmup + steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(system, datamodule=datamodule)
    elapsed = clock.end - clock.start
    freq_bins = cfg.data.stft.n_fft // 2 + 1
    macs = training_macs(system.model, freq_bins, cfg.data.segment_frames) * cfg.data.batch_size
    return {
        "gmacs": clock.steps * macs / elapsed / 1e9,
        "gmacs_best": macs / clock.fastest / 1e9,
        "steps_per_s": clock.steps / elapsed,
        "step_share": clock.in_steps / elapsed,
        "macs_per_step": macs,
    }


def loader_rate(datamodule, batches: int) -> float:
    """Batches/s of the training DataLoader alone (no model): what data loading could feed. Runs into as
    many epochs as `batches` needs, as training does (a small corpus has fewer batches than that)."""
    dataloader = datamodule.train_dataloader()
    loader = iter(dataloader)
    next(loader)  # workers (if any) start on the first batch
    start = time.perf_counter()
    for _ in range(batches):
        try:
            next(loader)
        except StopIteration:
            loader = iter(dataloader)
            next(loader)
    return batches / (time.perf_counter() - start)


def import_seconds() -> float:
    """Wall time of a fresh interpreter importing what a job imports (Lightning, MLflow, the runner)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rcnn_se.jobs.train_job"], check=True)
    return time.perf_counter() - start


def bench_lightning(peaks: Peaks, steps: int, overrides: list[str]) -> None:
    """Print each precision x layout's achieved GMAC/s as a share of its dtype's peak, the loader's rate
    beside the step rate, and a job's fixed costs before its first step."""
    cfg = job_config(overrides)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    start = time.perf_counter()
    checked = instantiate(cfg.data)  # what every job does before training, here with the cache built
    checked.prepare_data()
    checked.setup("fit")
    corpus_check = time.perf_counter() - start
    threads = torch.get_num_threads()
    variants = [("32-true", "fp32"), ("bf16-mixed", "bf16")]
    if not bf16_is_native():  # emulated bf16 matmuls: 10 against fp32's 78 GMAC/s (AVX2 EPYC); no job runs it
        variants = variants[:1]
        print("(b) bf16 training skipped: this CPU has no native bf16 (jobs train in fp32 here)")
    for precision, dtype in variants:
        for channels_last in (True, False):
            rate, local, peak = peaks.beside(
                dtype, lightning_rate, cfg, datamodule, precision, channels_last, steps
            )
            layout = "channels-last" if channels_last else "default layout"
            print(
                f"(b) Lightning training step, default job, {precision}, {layout}, batch "
                f"{cfg.data.batch_size} x {cfg.data.segment_frames} frames, {threads} threads: "
                f"{rate['gmacs']:.1f} GMAC/s = {rate['gmacs'] / local:.0%} of the {dtype} peak measured "
                f"beside it ({local:.0f}), {rate['gmacs'] / peak:.0%} of the run's best; fastest "
                f"step {rate['gmacs_best']:.1f} GMAC/s = {rate['gmacs_best'] / local:.0%} "
                f"({rate['steps_per_s']:.2f} steps/s, {rate['macs_per_step'] / 1e9:.1f} GMAC a step, "
                f"{rate['step_share']:.0%} of the time inside steps)"
            )
    loader = loader_rate(datamodule, 4 * steps)
    print(
        f"(b) training DataLoader alone (num_workers={cfg.data.num_workers}): {loader:.0f} batches/s, "
        f"against the step rates above"
    )
    print(
        f"(b) a job's fixed costs: imports {import_seconds():.1f} s, corpus and cache checks "
        f"{corpus_check:.1f} s ({len(checked.train_cache.items) + len(checked.test_cache.items)} utterances)"
    )
