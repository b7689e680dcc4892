"""Composite quality measures CSIG, CBAK, COVL and their ingredients segSNR, LLR and WSS.

Written from the published definitions (Hu & Loizou, "Evaluation of objective quality measures for speech
enhancement", IEEE TASLP 2008; Quackenbush, Barnwell & Clements 1988; Klatt 1982), with the conventions of
the measures as commonly reported on VoiceBank-DEMAND:
- frames of 30 ms, hop of a quarter frame, Hann window;
- segSNR: per-frame SNR clipped to [-10, 35] dB, averaged over all frames;
- LLR: LPC order 10 below 10 kHz sampling and 16 above, per-frame values clipped to [0, 2], mean of the best
  95 % of frames;
- WSS: 25 critical bands (centres 50 Hz .. 3.6 kHz), Kmax = 20, Klocmax = 1, mean of the best 95 % of frames;
- PESQ in the formulas is wide-band PESQ (the convention behind the widely quoted noisy-set figures
  CSIG 3.35 / CBAK 2.44 / COVL 2.63 at PESQ-WB 1.97).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_toeplitz

from rcnn_se.metrics.quality import check_pair, pesq_wb

CENTRES = np.array([50, 120, 190, 260, 330, 400, 470, 540, 617.372, 703.378, 798.717, 904.128, 1020.38, 1148.30,
                    1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97, 2978.04, 3276.17, 3597.63])
BANDWIDTHS = np.array([70, 70, 70, 70, 70, 70, 70, 77.3724, 86.0056, 95.3398, 105.411, 116.256, 127.914, 140.423,
                       153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072, 298.126, 321.465,
                       346.136])  # fmt: skip
EPS = np.finfo(float).eps


def frames(x: np.ndarray, fs: int) -> np.ndarray:
    """Hann-windowed 30 ms frames with a quarter-frame hop, as rows."""
    win = int(round(0.030 * fs))
    hop = win // 4
    n = max(0, (len(x) - win) // hop + 1)
    index = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[index] * np.hanning(win + 2)[1:-1]


def _best(values: np.ndarray, share: float = 0.95) -> float:
    kept = np.sort(values)[: max(1, int(round(len(values) * share)))]
    return float(np.mean(kept))


def segsnr(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    ref, deg = check_pair(ref, deg)
    r, d = frames(ref, fs), frames(deg, fs)
    signal = np.sum(r**2, axis=1)
    noise = np.sum((r - d) ** 2, axis=1)
    return float(np.mean(np.clip(10 * np.log10(signal / (noise + EPS) + EPS), -10, 35)))


def _autocorrelation(f: np.ndarray, order: int) -> np.ndarray:
    return np.stack([np.sum(f[:, : f.shape[1] - k] * f[:, k:], axis=1) for k in range(order + 1)], axis=1)


def _lpc(r: np.ndarray) -> np.ndarray:
    """Prediction-error filter [1, a1..aP] from autocorrelation r[0..P] (Yule-Walker, Toeplitz solve)."""
    if r[0] <= 0:
        return np.concatenate([[1.0], np.zeros(len(r) - 1)])
    r = r.copy()
    r[0] *= 1 + 1e-9  # white-noise correction keeps near-singular frames solvable
    return np.concatenate([[1.0], -solve_toeplitz(r[:-1], r[1:])])


def llr(ref: np.ndarray, deg: np.ndarray, fs: int = 16000) -> float:
    ref, deg = check_pair(ref, deg)
    order = 10 if fs < 10000 else 16
    rc, rd = _autocorrelation(frames(ref, fs), order), _autocorrelation(frames(deg, fs), order)
    values = []
    for r_clean, r_deg in zip(rc, rd, strict=True):
        a_clean, a_deg = _lpc(r_clean), _lpc(r_deg)
        toeplitz = r_clean[np.abs(np.subtract.outer(np.arange(order + 1), np.arange(order + 1)))]
        num, den = a_deg @ toeplitz @ a_deg, a_clean @ toeplitz @ a_clean
        values.append(np.log(max(num, EPS) / max(den, EPS)) if den > 0 else 0.0)
    return _best(np.clip(np.array(values), 0, 2))


def _critical_band_filters(fs: int, n_fft: int) -> np.ndarray:
    half = n_fft // 2
    bins = np.arange(half)
    f0 = np.floor(CENTRES / (fs / 2) * half)
    bw = BANDWIDTHS / (fs / 2) * half
    norm = np.log(BANDWIDTHS[0]) - np.log(BANDWIDTHS)
    filt = np.exp(-11 * ((bins[None, :] - f0[:, None]) / bw[:, None]) ** 2 + norm[:, None])
    return filt * (filt > np.exp(-30 / (2 * 2.303)))


def _nearest_peaks(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Energy of the spectral peak each band's slope leads to (up the slope), per Klatt's weighting."""
    peaks = np.empty_like(slope)
    for i in range(len(slope)):
        n = i
        if slope[i] > 0:
            while n < len(slope) and slope[n] > 0:
                n += 1
            peaks[i] = energy[n]
        else:
            while n >= 0 and slope[n] <= 0:
                n -= 1
            peaks[i] = energy[n + 1]
    return peaks


def wss(ref: np.ndarray, deg: np.ndarray, fs: int = 16000, k_max: float = 20.0, k_locmax: float = 1.0) -> float:
    ref, deg = check_pair(ref, deg)
    r, d = frames(ref, fs), frames(deg, fs)
    n_fft = int(2 ** np.ceil(np.log2(2 * r.shape[1])))
    filters = _critical_band_filters(fs, n_fft)
    half = n_fft // 2
    values = []
    for fr, fd in zip(r, d, strict=True):
        energies = [
            10 * np.log10(np.maximum(filters @ (np.abs(np.fft.fft(f, n_fft)[:half]) ** 2), 1e-10)) for f in (fr, fd)
        ]
        slopes = [np.diff(e) for e in energies]
        weights = []
        for e, s in zip(energies, slopes, strict=True):
            peaks = _nearest_peaks(e, s)
            weights.append(k_max / (k_max + e.max() - e[:-1]) * k_locmax / (k_locmax + peaks - e[:-1]))
        w = (weights[0] + weights[1]) / 2
        values.append(np.sum(w * (slopes[0] - slopes[1]) ** 2) / np.sum(w))
    return _best(np.array(values))


def composite(ref: np.ndarray, deg: np.ndarray, fs: int = 16000, pesq: float | None = None) -> dict[str, float]:
    """CSIG (signal distortion), CBAK (background intrusiveness), COVL (overall), each clipped to [1, 5]."""
    p = pesq_wb(ref, deg, fs) if pesq is None else pesq
    l_, w, s = llr(ref, deg, fs), wss(ref, deg, fs), segsnr(ref, deg, fs)
    csig = 3.093 - 1.029 * l_ + 0.603 * p - 0.009 * w
    cbak = 1.634 + 0.478 * p - 0.007 * w + 0.063 * s
    covl = 1.594 + 0.805 * p - 0.512 * l_ - 0.007 * w
    clip = lambda v: float(np.clip(v, 1, 5))  # noqa: E731 - NaN PESQ stays NaN through np.clip
    return {"csig": clip(csig), "cbak": clip(cbak), "covl": clip(covl), "ssnr": s, "llr": l_, "wss": w, "pesq_wb": p}
