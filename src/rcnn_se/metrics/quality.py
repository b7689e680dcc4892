"""Intrusive quality and intelligibility scores of one enhanced utterance against its clean reference.

PESQ comes from the `pesq` package (ITU-T P.862 / P.862.2 C code; both modes return MOS-LQO: at most
≈4.64 wide-band, ≈4.55 narrow-band), STOI and ESTOI from `pystoi` (which resamples to 10 kHz itself), and
SI-SDR is computed here (Le Roux et al., ICASSP 2019).

PESQ refuses some inputs (silence, under 1/4 s, no detectable utterance). In an 824-utterance evaluation one
refusal must not kill the run, so such a score is NaN plus a logged warning naming the reason; the
evaluation's means skip NaNs and count them. Malformed input (wrong rank, unequal lengths, NaN/inf samples,
an unsupported rate) is a bug upstream and raises ValueError.
"""

from __future__ import annotations

import logging

import numpy as np
from pesq import PesqError, pesq

log = logging.getLogger(__name__)

_PESQ_REASONS = {
    int(getattr(PesqError, name)): name.lower().replace("_", " ")
    for name in ("UNKNOWN", "INVALID_SAMPLE_RATE", "OUT_OF_MEMORY_REF", "OUT_OF_MEMORY_DEG",
                 "OUT_OF_MEMORY_TMP", "BUFFER_TOO_SHORT", "NO_UTTERANCES_DETECTED")
}  # fmt: skip


def check_pair(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64, after checking they can be compared sample by sample."""
    ref, deg = np.asarray(ref), np.asarray(deg)
    if ref.ndim != 1 or deg.ndim != 1:
        raise ValueError(f"expected 1-D signals, got ref shape {ref.shape} and deg shape {deg.shape}")
    if len(ref) != len(deg):
        raise ValueError(f"ref has {len(ref)} samples but deg has {len(deg)}")
    ref, deg = ref.astype(np.float64, copy=False), deg.astype(np.float64, copy=False)
    for name, x in (("ref", ref), ("deg", deg)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(x)))} non-finite samples")
    return ref, deg


def _pesq(ref: np.ndarray, deg: np.ndarray, fs: int, mode: str) -> float:
    ref, deg = check_pair(ref, deg)
    allowed = (16000,) if mode == "wb" else (8000, 16000)
    if fs not in allowed:
        raise ValueError(f"PESQ-{mode.upper()} needs fs in {allowed}, got {fs}")
    # The pesq wrapper divides by the joint peak, so all-zero input would reach the C code as NaNs.
    silent = [name for name, x in (("reference", ref), ("degraded", deg)) if not np.any(x)]
    if silent:
        log.warning("PESQ-%s: %s signal is all zeros; returning NaN", mode.upper(), " and ".join(silent))
        return float("nan")
    score = pesq(fs, ref, deg, mode, on_error=PesqError.RETURN_VALUES)
    if isinstance(score, int | np.integer) and score < 0:
        reason = _PESQ_REASONS.get(int(score), f"error code {score}")
        log.warning("PESQ-%s refused the pair (%s, %d samples); NaN", mode.upper(), reason, len(ref))
        return float("nan")
    if not np.isfinite(score):
        log.warning("PESQ-%s returned %r for a %d-sample pair; returning NaN", mode.upper(), score, len(ref))
        return float("nan")
    return float(score)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Wide-band PESQ (P.862.2 MOS-LQO), the score the VoiceBank-DEMAND literature reports as "PESQ"."""
    return _pesq(ref, deg, fs, "wb")


def pesq_nb(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Narrow-band PESQ (P.862 mapped to MOS-LQO); older papers quote this one."""
    return _pesq(ref, deg, fs, "nb")


def _pystoi(ref: np.ndarray, deg: np.ndarray, fs: int, extended: bool) -> float:
    # Imported on first use: pystoi pulls in scipy.signal (~0.6 s), which a process that only needs nr_sd
    # (the evaluation's main process) should not pay for.
    from pystoi import stoi as pystoi_stoi

    ref, deg = check_pair(ref, deg)
    return float(pystoi_stoi(ref, deg, fs, extended=extended))


def stoi(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Short-time objective intelligibility (Taal et al. 2011), in [0, 1] in practice."""
    return _pystoi(ref, deg, fs, extended=False)


def estoi(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Extended STOI (Jensen & Taal 2016): unlike STOI it stays valid in strongly fluctuating noise."""
    return _pystoi(ref, deg, fs, extended=True)


def si_sdr(ref: np.ndarray, deg: np.ndarray, eps: float = 1e-12) -> float:
    """Scale-invariant SDR in dB: how far `deg` is from the best-scaled copy of the (zero-mean) reference.

    `eps` is relative to the larger signal energy, so the value stays scale-invariant and is capped at
    ±10·log10(1/eps) (±120 dB by default) rather than infinite for a perfect or an empty estimate.
    """
    ref, deg = check_pair(ref, deg)
    ref, deg = ref - ref.mean(), deg - deg.mean()
    ref_energy = float(ref @ ref)
    floor = eps * max(ref_energy, float(deg @ deg), np.finfo(np.float64).tiny)
    target = (float(ref @ deg) / max(ref_energy, floor)) * ref
    residual = deg - target
    return float(10.0 * np.log10((target @ target + floor) / (residual @ residual + floor)))
