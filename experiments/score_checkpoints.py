"""Score checkpoints and the classic baselines on test-layout corpora, with and without the gain floor.

The measurement behind the domain and gain-floor choice in experiments/README.md:

    python experiments/score_checkpoints.py --corpus demo=data/demo_corpus --corpus realcheck=data/realcheck \
        --checkpoint raw=outputs/.../best.ckpt --checkpoint log1p=outputs/.../best.ckpt --floors none,-25

Prints one Markdown table per corpus: every model (and floor) overall and per test SNR, the noisy input first.
The floor only acts at inference, so one checkpoint is scored with and without it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.deploy.inference import fp32_enhancer
from rcnn_se.evaluation.scoring import evaluate, summarize
from rcnn_se.metrics.pool import MetricPool
from rcnn_se.models.baselines import Baseline
from rcnn_se.training.system import EnhancementSystem

KEYS = ("pesq_wb", "stoi", "csig", "cbak", "covl", "ssnr", "si_sdr", "nr", "sd")


def pairs(values: list[str]) -> list[tuple[str, str]]:
    return [tuple(v.split("=", 1)) for v in values]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", default=[], help="NAME=ROOT of a test-layout corpus")
    parser.add_argument("--checkpoint", action="append", default=[], help="NAME=PATH of a checkpoint")
    parser.add_argument("--floors", default="none,-25", help="gain floors in dB to score each checkpoint at")
    parser.add_argument("--ceilings", default="none", help="gain ceilings in dB to score each checkpoint at")
    parser.add_argument("--cache-dir", type=Path, default=Path("data/cache"))
    parser.add_argument("--baselines", default="noisy,wiener,spectral_subtraction")
    args = parser.parse_args()
    floors = [None if f == "none" else float(f) for f in args.floors.split(",")]
    ceilings = [None if f == "none" else float(f) for f in args.ceilings.split(",")]
    systems: list[tuple[str, EnhancementSystem]] = []
    for name, path in pairs(args.checkpoint):
        for floor in floors:
            for ceiling in ceilings:
                system = EnhancementSystem.from_checkpoint(path)
                system.gain_floor_db, system.gain_ceiling_db = floor, ceiling
                label = f"{name}, floor {'none' if floor is None else f'{floor:g} dB'}"
                label += "" if ceiling is None else f", ceiling {ceiling:g} dB"
                systems.append((label, system))
    stft = systems[-1][1].stft_config if systems else StftConfig()  # the baselines see the same spectra
    baselines = [b for b in args.baselines.split(",") if b]
    systems[:0] = [(b, EnhancementSystem(Baseline(b, stft.as_dict()), compress="none")) for b in baselines]
    with MetricPool() as pool:
        for corpus, root in pairs(args.corpus):
            cache = build_cache(scan_split(root, "test"), stft, args.cache_dir)
            snrs = sorted({item.snr for item in cache.items})
            print(f"\n### {corpus} ({len(cache.items)} utterances, {root})\n")
            per_snr = [f"{m} {s:g} dB" for m in ("PESQ", "STOI") for s in snrs]
            print("| model | " + " | ".join(KEYS) + " | " + " | ".join(per_snr) + " |")
            print("|---" * (1 + len(KEYS) + len(per_snr)) + "|")
            for label, system in systems:
                enhancer = fp32_enhancer(system)
                summary = summarize(evaluate(enhancer, cache, pool=pool))
                cells = [f"{summary[f'test/{k}']:.3f}" for k in KEYS]
                cells += [f"{summary[f'test/snr_{s:g}/{m}']:.3f}" for m in ("pesq_wb", "stoi") for s in snrs]
                print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
