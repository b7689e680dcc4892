"""(d) Test-set evaluation: metric workers on every core against serial scoring."""

from __future__ import annotations

import os
from pathlib import Path

from peak import best_seconds

from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.deploy.inference import fast_enhancer
from rcnn_se.evaluation.scoring import evaluate
from rcnn_se.metrics.pool import MetricPool
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem


def bench_evaluation(corpus: Path, cache_dir: Path, n: int) -> None:
    system = EnhancementSystem(SpectralCNN()).eval()
    cache = build_cache(
        scan_split(corpus, "test"), system.stft_config, cache_dir / "fresh", source_sample_rate=48000
    )
    identity = Baseline("noisy", system.stft_config.as_dict())
    workers = os.cpu_count() or 1
    serial = best_seconds(lambda: evaluate(identity, cache, workers=0, max_utterances=n), 3)
    cold = best_seconds(lambda: evaluate(identity, cache, workers=workers, max_utterances=n), 2)
    before = best_seconds(lambda: evaluate(system.enhancer(), cache, workers=0, max_utterances=n))
    with MetricPool(workers) as pool:  # started ahead, as a training job starts it before training
        evaluate(identity, cache, pool=pool, max_utterances=2 * workers)  # until every worker is up
        warm = best_seconds(lambda: evaluate(identity, cache, pool=pool, max_utterances=n), 3)
        after = best_seconds(lambda: evaluate(fast_enhancer(system), cache, pool=pool, max_utterances=n))
    print(
        f"(d) evaluation of {min(n, len(cache.items))} test utterances, full metric suite: "
        f"serial {serial:.2f} s"
    )
    print(
        f"(d) {workers} workers, pool started ahead as in a job: {warm:.2f} s, "
        f"speed-up {serial / warm:.2f}x (target >= 1.7x)"
    )
    print(
        f"(d) {workers} workers, pool start-up included: {cold:.2f} s, speed-up {serial / cold:.2f}x "
        f"(start-up ~ {cold - warm:.1f} s)"
    )
    print(
        f"(d) whole test phase with the paper RCNN: plain forward + serial metrics {before:.2f} s, "
        f"fast enhancer + {workers} ready workers {after:.2f} s ({before / after:.2f}x)"
    )
