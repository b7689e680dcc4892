"""Full-scale readiness: cache build, memory, loader and epoch time of a corpus at (a fraction of) real size.

    rcnn-se make-demo-corpus --root data/demo_full --train-speakers 28 --train-per-speaker 413 \
        --per-condition 20                          # the real corpus's size: 11,564 + 800 utterances
    python benchmarks/scale.py --root data/demo_full [--steps 20] [--cache-dir data/cache]

Prints the feature cache's build time and size on disk, the process's peak RSS, the training DataLoader's
rate alone against the Lightning step rate of the default job on this corpus, and the epoch time those give
(steps per epoch / steps per second; the step rate is measured on `--steps` steps, not a whole epoch).
`--scale-to N` also extrapolates every figure linearly to N training utterances, for a corpus generated
at a fraction of the real size.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from peak import Peaks
from train_speed import job_config, lightning_rate, loader_rate

from rcnn_se.data.segments import SegmentDataset
from rcnn_se.training.quiet import silence_known_noise


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def rss_split_kb() -> dict[str, int]:
    """What the process holds now: its own (anonymous) pages and file-backed ones, from /proc (Linux only)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return {}
    fields = (line.split(":", 1) for line in status.read_text().splitlines())
    return {k: int(v.split()[0]) for k, v in fields if k in ("RssAnon", "RssFile")}


class MemoryWatch:
    """Samples the RSS split every 50 ms on a thread and keeps each part's maximum. The memory-mapped cache's
    pages count in RSS but are the kernel's to drop, so the anonymous peak is what a smaller machine must
    have; the kernel keeps only the total's peak (ru_maxrss)."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0}
        threading.Thread(target=self._run, daemon=True).start()  # until the process exits

    def _run(self) -> None:
        while True:
            time.sleep(0.05)
            for key, kb in rss_split_kb().items():
                self.peak[key] = max(self.peak[key], kb)

    def report(self) -> str:
        text = f"peak RSS {peak_rss_gb():.2f} GB"
        if self.peak["RssAnon"]:
            text += (
                f" (peaks of its parts: {self.peak['RssAnon'] / 1e6:.2f} GB anonymous, "
                f"{self.peak['RssFile'] / 1e6:.2f} GB file-backed)"
            )
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="an Edinburgh-layout corpus")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--scale-to", type=int, help="extrapolate to this many training utterances")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="build into or reuse this cache folder (kept); default: a temporary one, removed after",
    )
    args = parser.parse_args()
    silence_known_noise()
    watch = MemoryWatch()
    with tempfile.TemporaryDirectory(dir=args.root.parent) as tmp:
        cache_dir = (args.cache_dir or Path(tmp)).resolve()
        data = [f"data.root={args.root.resolve()}", "data.demo=null", f"data.cache_dir={cache_dir}"]
        cfg = job_config(data)
        from hydra.utils import instantiate

        datamodule = instantiate(cfg.data)
        start = time.perf_counter()
        datamodule.prepare_data()
        build = time.perf_counter() - start
        datamodule.setup("fit")
        size = folder_bytes(cache_dir)
        n_train = len(datamodule.train_indices)
        segments = len(
            SegmentDataset(datamodule.train_cache, datamodule.train_indices, cfg.data.segment_frames)
        )
        steps_per_epoch = math.ceil(segments / cfg.data.batch_size)
        n_val, n_test = len(datamodule.val_indices), len(datamodule.test_cache.items)
        print(
            f"(scale) {args.root}: {n_train} training utterances ({n_val} validation, {n_test} test), "
            f"{segments} segments = {steps_per_epoch} steps an epoch"
        )
        print(f"(scale) cache build {build:.0f} s, {size / 1e9:.2f} GB on disk; {watch.report()}")
        dtype = "bf16" if "bf16" in str(cfg.trainer.precision) else "fp32"
        rate, peak, _ = Peaks().beside(
            dtype, lightning_rate, cfg, datamodule, cfg.trainer.precision, True, args.steps
        )
        loader = loader_rate(datamodule, 4 * args.steps)
        epoch = steps_per_epoch / rate["steps_per_s"]
        print(
            f"(scale) Lightning step ({cfg.trainer.precision}, channels-last): "
            f"{rate['steps_per_s']:.3f} steps/s, {rate['gmacs']:.1f} GMAC/s "
            f"({rate['gmacs'] / peak:.0%} of the {peak:.0f} GMAC/s matmul peak measured beside it); "
            f"DataLoader alone "
            f"{loader:.0f} batches/s ({loader / rate['steps_per_s']:.0f}x the step rate)"
        )
        print(f"(scale) one epoch ~ {epoch / 60:.1f} min (from {args.steps} steps); {watch.report()}")
        if args.scale_to:
            k = args.scale_to / n_train
            pmac = rate["macs_per_step"] * steps_per_epoch * k / 1e15
            print(
                f"(scale) extrapolated x{k:.2f} to {args.scale_to} training utterances: cache build "
                f"{build * k / 60:.1f} min, {size * k / 1e9:.1f} GB; one epoch {epoch * k / 60:.0f} min; "
                f"200 epochs {200 * epoch * k / 86400:.1f} days ({pmac:.2f} PMAC an epoch)"
            )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
