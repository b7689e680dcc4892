"""Scoring a job's model on its test sets: the demo test split and the real-speech check's two sets (real
talkers in the demo test noises, `realcheck`, and in real recorded noise, `realnoise`), each beside the
noisy input, with the breakdown, per-utterance rows, audio examples and figures logged to the job's log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from rcnn_se.data.audio import write_wav
from rcnn_se.data.cache import FeatureCache, build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.deploy.inference import fp32_enhancer
from rcnn_se.evaluation.scoring import (
    EnhancedUtterance,
    evaluate,
    noisy_input_rows,
    summarize,
    write_rows,
)
from rcnn_se.jobs.job_logs import JobLog
from rcnn_se.metrics.pool import MetricPool
from rcnn_se.training.system import EnhancementSystem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobScoring:
    """What scoring any of a job's sets needs from the job: its config, the system to score, where it logs
    (`record`) and writes (`out_dir`), the model's name in figures and tables, and the metric workers."""

    cfg: DictConfig
    system: EnhancementSystem
    record: JobLog
    out_dir: Path
    model_name: str
    pool: MetricPool


def example_indices(cache: FeatureCache, n: int) -> set[int]:
    """Up to n utterances spread over the SNR conditions, so the audio samples span easy to hard."""
    by_snr: dict[float, list[int]] = {}
    for i, item in enumerate(cache.items):
        by_snr.setdefault(item.snr, []).append(i)
    picked: list[int] = []
    while len(picked) < n and any(by_snr.values()):
        for snr in sorted(by_snr, reverse=True):
            if by_snr[snr] and len(picked) < n:
                picked.append(by_snr[snr].pop(0))
    return set(picked)


def score_test_set(job: JobScoring, cache: FeatureCache, prefix: str = "test") -> tuple[dict, dict]:
    """Score a whole test split; log the breakdown (metrics named `<prefix>/...`, the noisy input's as
    `noisy/<prefix>/...`), per-utterance rows and a few audio examples. The demo test split also gets
    figures; the real-speech check's sets are `prefix=realcheck` and `realnoise`. Returns the model's and the
    noisy input's summaries."""
    cfg, system, record, out_dir = job.cfg, job.system, job.record, job.out_dir
    audio_dir = out_dir / ("audio" if prefix == "test" else f"audio_{prefix}")
    uids = {cache.items[i].uid for i in example_indices(cache, cfg.evaluate.n_audio_examples)}
    fs = cache.stft.sample_rate

    examples: list[EnhancedUtterance] = []

    def keep_audio(item: EnhancedUtterance) -> None:
        if item.uid in uids:
            examples.append(item)
            for kind in ("noisy", "enhanced", "clean"):
                write_wav(audio_dir / f"{item.uid}_{kind}.wav", getattr(item, kind), fs)

    system.eval()
    rows = evaluate(
        fp32_enhancer(system),
        cache,
        pool=job.pool,
        max_utterances=cfg.evaluate.max_utterances,
        on_enhanced=keep_audio,
    )
    summary = summarize(rows, prefix=prefix)
    noisy = noisy_input_rows(rows)
    noisy_summary = summarize(noisy, prefix=prefix)
    record.log_metrics(summary | {f"noisy/{k}": v for k, v in noisy_summary.items()})
    csv_path = write_rows(rows, out_dir / f"{prefix}_utterances.csv")
    record.log_artifact(csv_path, "evaluation")
    if audio_dir.is_dir():
        record.log_artifacts(audio_dir, audio_dir.name)
    if prefix == "test":
        log_figures(record, rows, noisy, examples, cache.stft, out_dir / "figures", job.model_name)
    return summary, noisy_summary


def realcheck_cache(cfg: DictConfig, stft: StftConfig) -> FeatureCache | None:
    """The real-speech check set's features, built on first use; None (with a warning) when it cannot be
    had, e.g. offline on a fresh machine: a run never fails for want of it."""
    from rcnn_se.data.realcheck import RealcheckError, ensure_realcheck

    return _check_set_cache("realcheck", ensure_realcheck, RealcheckError, cfg.realcheck.root, cfg, stft)


def realnoise_cache(cfg: DictConfig, stft: StftConfig) -> FeatureCache | None:
    """The real-noise set's features (the check's talkers in recorded noise no training run hears), built on
    first use; None with one warning naming what to install when Debian's sound effects or the talkers'
    archives cannot be had."""
    from rcnn_se.data.realnoise import RealnoiseError, ensure_realnoise

    root = cfg.realcheck.real_noise_root
    return _check_set_cache("realnoise", ensure_realnoise, RealnoiseError, root, cfg, stft)


def _check_set_cache(
    name: str,
    ensure: Callable[[str, str], Path],
    refused: type[Exception],
    root: str,
    cfg: DictConfig,
    stft: StftConfig,
) -> FeatureCache | None:
    """A check set built at `root` on first use (`ensure`) and its cached features; None with one warning
    when `ensure` refuses (its material cannot be had)."""
    try:
        built = ensure(root, cfg.data.cache_dir)
    except refused as exc:
        log.warning("%s skipped: %s", name, exc)
        return None
    return build_cache(scan_split(built, "test"), stft, cfg.data.cache_dir)


def score_realnoise(job: JobScoring, stft: StftConfig) -> tuple[dict, dict] | None:
    """The real-noise set scored as the test set is (`realnoise/...`, the noisy input's `noisy/realnoise/...`)
    and the tag `rcnn_se.realnoise` saying `scored` or `skipped`: switched off (`realcheck.enabled` or
    `realcheck.real_noise` false) or its material missing (one warning). The summaries, or None."""
    wanted = job.cfg.realcheck.enabled and job.cfg.realcheck.real_noise
    cache = realnoise_cache(job.cfg, stft) if wanted else None
    scored = score_test_set(job, cache, "realnoise") if cache is not None else None
    job.record.set_tag("rcnn_se.realnoise", "scored" if scored is not None else "skipped")
    return scored


def score_every_set(job: JobScoring, cache: FeatureCache) -> dict[str, dict]:
    """The test split in `cache`, then the real-speech check's sets as `realcheck` asks (tags
    `rcnn_se.realcheck` and `rcnn_se.realnoise` say `scored` or `skipped`), and the job's closing score table
    (rcnn_se.reporting.console.job_report) logged: what a training job and an evaluation both end with.
    Returns the model's summaries by set (`test`, `realcheck`, `realnoise`)."""
    from rcnn_se.reporting.console import job_report

    summary, noisy = score_test_set(job, cache)
    scored, references = {"test": summary}, {"test": noisy}
    checks = realcheck_cache(job.cfg, cache.stft) if job.cfg.realcheck.enabled else None
    if checks is not None:
        scored["realcheck"], references["realcheck"] = score_test_set(job, checks, "realcheck")
    job.record.set_tag("rcnn_se.realcheck", "scored" if checks is not None else "skipped")
    real = score_realnoise(job, cache.stft)
    if real is not None:
        scored["realnoise"], references["realnoise"] = real
    report = job_report(scored, job.record.where(), references, job.model_name)
    log.info("scores of %s against the noisy input:\n%s", job.model_name, report)
    return scored


def log_figures(
    record: JobLog,
    rows: list,
    noisy: list,
    examples: list[EnhancedUtterance],
    stft: StftConfig,
    folder: Path,
    name: str,
) -> None:
    """A Figure-3-style spectrogram of each audio example and the metrics against test SNR, beside the noisy
    input's."""
    from rcnn_se.reporting.figures import metric_vs_snr_figure, spectrogram_figure

    for item in examples:
        panels = [("clean", item.clean), ("noisy", item.noisy), (name, item.enhanced)]
        spectrogram_figure(panels, stft, folder / f"spectrogram_{item.uid}.png")
    metric_vs_snr_figure(
        rows,
        ["pesq_wb", "stoi", "si_sdr", "nr", "sd"],
        folder / "metrics_vs_snr.png",
        baseline_rows=noisy,
        label=name,
    )
    record.log_artifacts(folder, "figures")
