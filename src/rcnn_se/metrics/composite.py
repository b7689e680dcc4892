"""Segmental SNR, LLR, WSS and the composite measures CSIG/CBAK/COVL (Hu & Loizou 2008).

The composite measures are regressions fitted on listener ratings, so they only mean something when their
inputs are computed the way they were fitted. The VoiceBank-DEMAND literature (noisy test set: PESQ 1.97,
CSIG 3.35, CBAK 2.44, COVL 2.63, SSNR 1.68) follows the conventions of Loizou's `composite.m` (Speech
Enhancement: Theory and Practice), except that PESQ is the wide-band P.862.2 MOS-LQO. The conventions here,
chosen to match that:

- Both signals get machine epsilon (2.2e-16) added, as `composite.m` does; this keeps LPC analysis defined
  on digital silence and changes nothing else measurably.
- Framing: 30 ms Hann frames (w[n] = 0.5 - 0.5·cos(2πn/(N+1)), n = 1..N, i.e. MATLAB's `hanning`), hop of
  a quarter frame (7.5 ms), floor((L - N)/hop) frames starting at sample 0 (one fewer than would fit, as in
  the original). No voice-activity detection.
- segSNR: per frame 10·log10(Es/(En + eps) + eps), clipped to [-10, 35] dB, mean over all frames.
- LLR: autocorrelation-method LPC (Levinson-Durbin) of order 10 below 10 kHz and 16 otherwise (16 at
  16 kHz, as `composite.m`; the standalone `comp_llr.m` additionally caps frames at 2, `composite.m` does
  not, nor do we); per frame log(a_d R_r a_dᵀ / a_r R_r a_rᵀ) with R_r the Toeplitz autocorrelation of the
  reference frame; mean of the lowest 95 % of frames.
- WSS (Klatt 1982): power spectrum with an FFT of 2^ceil(log2(2N)) points, 25 Gaussian critical-band
  filters (the 50 Hz-3.6 kHz table of the original, placed against fs/2, entries under -30 dB zeroed),
  band energies in dB floored at -100 dB, weights K_max/(K_max + dB_max - E) · K_locmax/(K_locmax +
  E_peak - E) with K_max = 20, K_locmax = 1, averaged between the two signals, and per-frame distortion
  normalised by the sum of the weights; mean of the lowest 95 % of frames. The "nearest peak" searched to
  the right stops one band short of the peak, exactly as in the original code, since the fitted
  coefficients absorbed that behaviour.
- The 95 % trim keeps round(0.95·frames) frames, rounding halves away from zero like MATLAB.
- CSIG/CBAK/COVL are clipped to [1, 5]; a NaN PESQ (refused input) makes them NaN too.
"""

from __future__ import annotations

import numpy as np

from rcnn_se.metrics.quality import check_pair, pesq_wb

_MATLAB_EPS = float(np.finfo(np.float64).eps)
SNR_RANGE_DB = (-10.0, 35.0)
TRIM_FRACTION = 0.95
K_MAX, K_LOCMAX = 20.0, 1.0
# Critical bands of the original WSS code: centre frequencies and bandwidths in Hz.
BAND_CENTRES_HZ = np.array([
    50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717, 904.128, 1020.38,
    1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17,
    3597.63,
])  # fmt: skip
BAND_WIDTHS_HZ = np.array([
    70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914, 140.423,
    153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126, 321.465, 346.136,
])  # fmt: skip


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def framed_pair(ref: np.ndarray, deg: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """Windowed 30 ms frames [n_frames, N] of both signals, after the eps offset of the original code."""
    ref, deg = check_pair(ref, deg)
    win = _round_half_up(0.030 * fs)
    hop = win // 4
    n_frames = (len(ref) - win) // hop
    if n_frames < 1:
        raise ValueError(f"{len(ref)} samples at {fs} Hz is too short: need at least {win + hop}")
    window = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(1, win + 1) / (win + 1)))

    def frames(x: np.ndarray) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(x + _MATLAB_EPS, win)[::hop][:n_frames] * window

    return frames(ref), frames(deg)


def _trimmed_mean(per_frame: np.ndarray) -> float:
    """Mean of the lowest 95 % of frames: the worst few frames (often silence) would otherwise dominate."""
    kept = np.sort(per_frame)[: max(1, _round_half_up(len(per_frame) * TRIM_FRACTION))]
    return float(np.mean(kept))


def _segsnr(ref_frames: np.ndarray, deg_frames: np.ndarray) -> float:
    signal = np.sum(ref_frames**2, axis=1)
    noise = np.sum((ref_frames - deg_frames) ** 2, axis=1)
    snr = 10.0 * np.log10(signal / (noise + _MATLAB_EPS) + _MATLAB_EPS)
    return float(np.mean(np.clip(snr, *SNR_RANGE_DB)))


def segsnr(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Segmental SNR in dB; the [-10, 35] dB clip stops silent or perfect frames from dominating the mean."""
    return _segsnr(*framed_pair(ref, deg, fs))


def _autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    n = frames.shape[1]
    return np.stack([np.sum(frames[:, : n - k] * frames[:, k:], axis=1) for k in range(order + 1)], axis=1)


def _levinson(r: np.ndarray) -> np.ndarray:
    """Prediction-error polynomials [1, -a_1, ..., -a_p] for a batch of autocorrelation rows [n, p+1]."""
    n, order = r.shape[0], r.shape[1] - 1
    a = np.zeros((n, order))
    error = r[:, 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):
            k = (r[:, i + 1] - np.sum(a[:, :i] * r[:, i:0:-1], axis=1)) / error
            a[:, :i] = a[:, :i] - k[:, None] * a[:, :i][:, ::-1]
            a[:, i] = k
            error = (1.0 - k * k) * error
    return np.concatenate([np.ones((n, 1)), -a], axis=1)


def llr_per_frame(ref_frames: np.ndarray, deg_frames: np.ndarray, order: int) -> np.ndarray:
    """Log-likelihood ratio of each frame pair; NaN/inf where the LPC fit breaks down numerically."""
    r_ref = _autocorrelation(ref_frames, order)
    a_ref, a_deg = _levinson(r_ref), _levinson(_autocorrelation(deg_frames, order))
    lags = np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])
    toeplitz = r_ref[:, lags]
    num = np.einsum("fi,fij,fj->f", a_deg, toeplitz, a_deg)
    den = np.einsum("fi,fij,fj->f", a_ref, toeplitz, a_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(num / den)


def _llr(ref_frames: np.ndarray, deg_frames: np.ndarray, fs: int, order: int | None) -> float:
    per_frame = llr_per_frame(ref_frames, deg_frames, order or (10 if fs < 10000 else 16))
    # A broken LPC fit (only on near-constant frames) counts as the worst frame, so the trim drops it first.
    return _trimmed_mean(np.where(np.isfinite(per_frame), per_frame, np.inf))


def llr(ref: np.ndarray, deg: np.ndarray, fs: int = 16000, order: int | None = None) -> float:
    """Log-likelihood ratio (Itakura): spectral-envelope mismatch, 0 for identical envelopes."""
    return _llr(*framed_pair(ref, deg, fs), fs, order)


def _critical_band_filters(fs: int, n_fft: int) -> np.ndarray:
    half = n_fft // 2
    centres = np.floor(BAND_CENTRES_HZ / (fs / 2) * half)
    widths = BAND_WIDTHS_HZ / (fs / 2) * half
    gain = np.log(BAND_WIDTHS_HZ[0]) - np.log(BAND_WIDTHS_HZ)
    bins = np.arange(half)
    filters = np.exp(-11.0 * ((bins[None, :] - centres[:, None]) / widths[:, None]) ** 2 + gain[:, None])
    return filters * (filters > np.exp(-30.0 / (2.0 * 2.303)))


def _local_peaks(energy: np.ndarray) -> np.ndarray:
    """Energy of the nearest spectral peak for each of the first 24 bands, the original code's way.

    A rising slope searches right and stops at the first non-rising slope n, taking band n-1 (one short of
    the peak); a non-rising slope searches left to the last rising slope m and takes band m+1 (the peak).
    """
    slope = np.diff(energy, axis=1)
    bands = slope.shape[1]
    idx = np.broadcast_to(np.arange(bands), slope.shape)
    stop_right = np.minimum.accumulate(np.where(slope <= 0, idx, bands)[:, ::-1], axis=1)[:, ::-1]
    stop_left = np.maximum.accumulate(np.where(slope > 0, idx, -1), axis=1)
    peak_band = np.where(slope > 0, stop_right - 1, stop_left + 1)
    return np.take_along_axis(energy, peak_band, axis=1)


def wss_per_frame(ref_frames: np.ndarray, deg_frames: np.ndarray, fs: int) -> np.ndarray:
    """Weighted spectral slope distance (Klatt 1982) of each frame pair."""
    n_fft = 1 << int(np.ceil(np.log2(2 * ref_frames.shape[1])))
    filters = _critical_band_filters(fs, n_fft)
    weights, slopes = [], []
    for frames in (ref_frames, deg_frames):
        power = np.abs(np.fft.rfft(frames, n_fft, axis=1)[:, : n_fft // 2]) ** 2
        energy = 10.0 * np.log10(np.maximum(power @ filters.T, 1e-10))
        head = energy[:, :-1]
        w_max = K_MAX / (K_MAX + energy.max(axis=1, keepdims=True) - head)
        w_locmax = K_LOCMAX / (K_LOCMAX + _local_peaks(energy) - head)
        weights.append(w_max * w_locmax)
        slopes.append(np.diff(energy, axis=1))
    w = (weights[0] + weights[1]) / 2.0
    return np.sum(w * (slopes[0] - slopes[1]) ** 2, axis=1) / np.sum(w, axis=1)


def wss(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    """Weighted spectral slope distance: compares slopes near spectral peaks, 0 for identical spectra."""
    return _trimmed_mean(wss_per_frame(*framed_pair(ref, deg, fs), fs))


def _mos(value: float) -> float:
    """Clip to the 1-5 MOS scale; np.clip lets a NaN (refused PESQ) through where min/max would hide it."""
    return float(np.clip(value, 1.0, 5.0))


def composite(
    ref: np.ndarray, deg: np.ndarray, fs: int = 16000, pesq: float | None = None
) -> dict[str, float]:
    """CSIG (signal distortion), CBAK (background intrusiveness), COVL (overall), each a 1-5 MOS estimate,
    plus the measures they are built from (ssnr, llr, wss, pesq_wb). Pass `pesq` (wide-band) when the
    caller already has it: it is the slowest ingredient."""
    ref_frames, deg_frames = framed_pair(ref, deg, fs)
    p = pesq_wb(ref, deg, fs) if pesq is None else float(pesq)
    l_, w = _llr(ref_frames, deg_frames, fs, None), _trimmed_mean(wss_per_frame(ref_frames, deg_frames, fs))
    s = _segsnr(ref_frames, deg_frames)
    csig = 3.093 - 1.029 * l_ + 0.603 * p - 0.009 * w
    cbak = 1.634 + 0.478 * p - 0.007 * w + 0.063 * s
    covl = 1.594 + 0.805 * p - 0.512 * l_ - 0.007 * w
    return {"csig": _mos(csig), "cbak": _mos(cbak), "covl": _mos(covl), "ssnr": s, "llr": l_, "wss": w,
            "pesq_wb": p}  # fmt: skip
