"""Intrusive quality and intelligibility measures from their reference libraries (pesq, pystoi) and SI-SDR.

PESQ refuses some inputs (silence, too short): such an utterance scores NaN with a logged reason instead of
stopping an evaluation of hundreds of files; the aggregation counts the NaNs.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def check_pair(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, deg = np.asarray(ref, dtype=np.float64), np.asarray(deg, dtype=np.float64)
    if ref.ndim != 1 or deg.ndim != 1:
        raise ValueError(f"expected 1-D signals, got shapes {ref.shape} and {deg.shape}")
    if len(ref) != len(deg):
        raise ValueError(f"reference has {len(ref)} samples but the degraded signal has {len(deg)}")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(deg))):
        raise ValueError("signals contain NaN or infinite samples")
    return ref, deg


def _pesq(ref: np.ndarray, deg: np.ndarray, fs: int, mode: str) -> float:
    from pesq import PesqError, pesq

    ref, deg = check_pair(ref, deg)
    score = pesq(fs, ref, deg, mode, on_error=PesqError.RETURN_VALUES)
    if score < 0:  # pesq's error codes are negative integers
        log.warning("PESQ-%s refused the input (error code %s: silent or too short?): scored NaN", mode, score)
        return float("nan")
    return float(score)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    return _pesq(ref, deg, fs, "wb")


def pesq_nb(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    return _pesq(ref, deg, fs, "nb")


def stoi(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    from pystoi import stoi as _stoi

    ref, deg = check_pair(ref, deg)
    return float(_stoi(ref, deg, fs, extended=False))


def estoi(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    from pystoi import stoi as _stoi

    ref, deg = check_pair(ref, deg)
    return float(_stoi(ref, deg, fs, extended=True))


def si_sdr(ref: np.ndarray, deg: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019): zero-mean signals, optimal scaling of the reference."""
    ref, deg = check_pair(ref, deg)
    ref, deg = ref - ref.mean(), deg - deg.mean()
    target = (np.dot(deg, ref) / (np.dot(ref, ref) + eps)) * ref
    residual = deg - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(residual, residual) + eps)))
