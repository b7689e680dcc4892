"""Per-utterance evaluation metrics: pure functions on numpy arrays.

Importing this package loads numpy and the pesq extension but neither torch nor (until STOI is first used)
scipy, because the scores run in spawned worker processes and the evaluation's main process only needs
nr_sd. Layer 1, beside `data` and `models`: it also holds the worker pool that runs these scores (`pool`)
and the metric names the tables share (`names`), and imports only its own package and layer 0.
"""

from __future__ import annotations

import numpy as np

from rcnn_se.metrics.composite import composite, llr, segsnr, wss
from rcnn_se.metrics.nrsd import effective_gain, nr_sd
from rcnn_se.metrics.quality import estoi, pesq_nb, pesq_wb, si_sdr, stoi

__all__ = [
    "composite",
    "effective_gain",
    "estoi",
    "llr",
    "nr_sd",
    "pesq_nb",
    "pesq_wb",
    "segsnr",
    "si_sdr",
    "stoi",
    "utterance_metrics",
    "wss",
]


def utterance_metrics(
    clean: np.ndarray, enhanced: np.ndarray, fs: int = 16000, *, full: bool = True
) -> dict[str, float]:
    """Scores of one enhanced utterance: pesq_wb, stoi, si_sdr, and with `full` also pesq_nb, estoi and the
    composite family (csig, cbak, covl, ssnr, llr, wss). `full=False` is the cheap set for validation during
    training; PESQ-WB, the slowest score, is computed once either way."""
    scores = {"pesq_wb": pesq_wb(clean, enhanced, fs)}
    if full:
        scores.update(composite(clean, enhanced, fs, pesq=scores["pesq_wb"]))
    scores["stoi"] = stoi(clean, enhanced, fs)
    scores["si_sdr"] = si_sdr(clean, enhanced)
    if full:
        scores["pesq_nb"] = pesq_nb(clean, enhanced, fs)
        scores["estoi"] = estoi(clean, enhanced, fs)
    return scores
