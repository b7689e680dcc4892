"""Per-utterance metrics. Importable without torch: these run in evaluation worker processes."""

from __future__ import annotations

import numpy as np

from rcnn_se.metrics.composite import composite
from rcnn_se.metrics.nrsd import effective_gain, nr_sd
from rcnn_se.metrics.quality import estoi, pesq_nb, pesq_wb, si_sdr, stoi

__all__ = ["effective_gain", "nr_sd", "utterance_metrics"]


def utterance_metrics(clean: np.ndarray, enhanced: np.ndarray, fs: int = 16000, *, full: bool = True) -> dict:
    """PESQ-WB, STOI and SI-SDR; with `full`, also PESQ-NB, eSTOI and the composite measures (PESQ once)."""
    scores = {"pesq_wb": pesq_wb(clean, enhanced, fs), "stoi": stoi(clean, enhanced, fs), "si_sdr": si_sdr(clean, enhanced)}
    if full:
        scores["pesq_nb"] = pesq_nb(clean, enhanced, fs)
        scores["estoi"] = estoi(clean, enhanced, fs)
        scores.update(composite(clean, enhanced, fs, pesq=scores["pesq_wb"]))
    return scores
