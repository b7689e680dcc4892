"""Metrics against identities and hand-computed values, on real synthetic speech (espeak-ng)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly, stft

from rcnn_se.metrics import (
    composite,
    effective_gain,
    estoi,
    llr,
    nr_sd,
    pesq_nb,
    pesq_wb,
    segsnr,
    si_sdr,
    stoi,
    utterance_metrics,
    wss,
)

FS = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog, while seven wizards quietly hum a tune."


@pytest.fixture(scope="module")
def raw_speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """espeak-ng speech at 16 kHz, with the exact digital silence a synthesiser leaves between words."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: the metric tests need real speech to score")
    wav = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True, capture_output=True)
    audio, sr = sf.read(wav)
    assert sr == 22050
    return resample_poly(audio, 320, 441)


@pytest.fixture(scope="module")
def speech(raw_speech: np.ndarray) -> np.ndarray:
    """The sentence over a -60 dB white floor, like a recording: no digital silence anywhere."""
    rng = np.random.default_rng(1)
    return raw_speech + np.sqrt(np.mean(raw_speech**2)) * 1e-3 * rng.standard_normal(len(raw_speech))


def with_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """Clean plus white noise at `snr_db` measured over the whole utterance."""
    noise = np.random.default_rng(seed).standard_normal(len(clean))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise


# --- NR / SD -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spectra(speech: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clean and noise STFTs of a 5 dB mixture."""
    noise = with_noise(speech, 5.0) - speech
    return stft(speech, FS, nperseg=512)[2], stft(noise, FS, nperseg=512)[2]


def test_nr_sd_unit_and_zero_gain(spectra):
    clean, noise = spectra
    unit = nr_sd(clean, noise, np.ones(clean.shape))
    assert unit["nr"] == pytest.approx(0, abs=1e-12) and unit["sd"] == 0 and unit["nr_db"] == pytest.approx(0)
    assert unit["sd_db"] == pytest.approx(-120)  # capped by eps, not -inf
    zero = nr_sd(clean, noise, np.zeros(clean.shape))
    assert zero["nr"] == 1 and zero["sd"] == pytest.approx(1) and zero["sd_db"] == pytest.approx(0, abs=1e-9)
    assert zero["nr_db"] == pytest.approx(120)  # capped by eps, not +inf


@pytest.mark.parametrize("g", [0.1, 0.5, 0.9, 1.5])
def test_nr_sd_constant_gain(spectra, g):
    out = nr_sd(*spectra, np.float64(g))
    assert out["nr"] == pytest.approx(1 - g**2, rel=1e-12)
    assert out["sd"] == pytest.approx((1 - g) ** 2, rel=1e-12)
    assert out["nr_db"] == pytest.approx(-20 * np.log10(g), rel=1e-12)
    assert out["sd_db"] == pytest.approx(20 * np.log10(abs(1 - g)), rel=1e-12)


def test_nr_sd_complex_gain_counts_phase_as_distortion(spectra):
    out = nr_sd(*spectra, np.full(spectra[0].shape, -1.0 + 0j))  # polarity flip: |G-1|² = 4, |G|² = 1
    assert out["sd"] == pytest.approx(4.0) and out["nr"] == pytest.approx(0.0, abs=1e-12)


def test_nr_sd_oracle_ratio_mask(spectra):
    clean, noise = spectra
    noisy = clean + noise
    mask = np.sqrt(np.abs(clean) ** 2 / (np.abs(clean) ** 2 + np.abs(noise) ** 2 + 1e-20))
    gain = effective_gain(mask * np.abs(noisy), np.abs(noisy))
    np.testing.assert_allclose(gain[np.abs(noisy) > 1e-6], mask[np.abs(noisy) > 1e-6], rtol=1e-9)
    out = nr_sd(clean, noise, gain)
    assert 0.7 < out["nr"] < 1 and out["nr_db"] > 5  # most of the noise gone...
    assert 0 < out["sd"] < 0.1 and out["sd_db"] < -10  # ...for little damage to the speech


def test_nr_sd_shapes(spectra):
    clean, noise = spectra
    per_band = np.linspace(0, 1, clean.shape[0])[:, None]  # [F, 1] broadcasts over frames
    assert 0 < nr_sd(clean, noise, per_band)["nr"] < 1
    with pytest.raises(ValueError, match=r"\(257, \d+\).*\(257, 5\)"):
        nr_sd(clean, noise[:, :5], 1.0)
    with pytest.raises(ValueError, match=r"gain shape \(3, 1\)"):
        nr_sd(clean, noise, np.ones((3, 1)))
    with pytest.raises(ValueError, match="gain shape"):
        nr_sd(clean, noise, np.ones((2, *clean.shape)))  # would broadcast the spectra up: refuse
    assert np.isnan(nr_sd(clean, np.zeros_like(noise), 0.5)["nr"])  # no noise: NR undefined


# --- SI-SDR, PESQ, STOI --------------------------------------------------------------------------------


def test_si_sdr(speech):
    assert si_sdr(speech, speech) > 100
    ref = speech - speech.mean()
    noise = np.random.default_rng(3).standard_normal(len(ref))
    noise -= noise.mean()
    noise -= (noise @ ref) / (ref @ ref) * ref  # orthogonal to the reference, zero-mean
    noise *= np.sqrt((ref @ ref) / (noise @ noise) / 10 ** (7.5 / 10))
    assert si_sdr(speech, speech + noise) == pytest.approx(7.5, abs=1e-6)
    # The optimal scale absorbs the reference's gain: 2·ref + n has 4x the target energy, +6.02 dB.
    assert si_sdr(speech, 2 * speech + noise) == pytest.approx(7.5 + 10 * np.log10(4), abs=1e-6)
    assert si_sdr(speech, 3 * (speech + noise) + 0.2) == pytest.approx(7.5, abs=1e-6)


def test_validation(speech):
    for f in (pesq_wb, stoi, si_sdr, segsnr, composite):
        with pytest.raises(ValueError, match=f"{len(speech)} samples but deg has {len(speech) - 1}"):
            f(speech, speech[:-1])
    with pytest.raises(ValueError, match="1-D"):
        si_sdr(speech[None], speech[None])
    with pytest.raises(ValueError, match="non-finite"):
        stoi(speech, np.where(np.arange(len(speech)) == 9, np.nan, speech))
    with pytest.raises(ValueError, match="fs in"):
        pesq_wb(speech, speech, 8000)
    with pytest.raises(ValueError, match="too short"):
        llr(speech[:500], speech[:500])


def test_pesq(speech):
    assert 4.63 < pesq_wb(speech, speech) < 4.65  # the P.862.2 MOS-LQO ceiling, 4.644
    assert 4.54 < pesq_nb(speech, speech) < 4.56  # the P.862.1 MOS-LQO ceiling, 4.549
    for f in (pesq_wb, pesq_nb):
        scores = [f(speech, with_noise(speech, snr)) for snr in (0, 15, 30)]
        assert scores[0] < scores[1] < scores[2] and scores[2] - scores[0] > 1, (f.__name__, scores)


def test_pesq_refusals_are_nan(speech, caplog):
    with caplog.at_level(logging.WARNING, logger="rcnn_se.metrics.quality"):
        assert np.isnan(pesq_wb(speech, np.zeros_like(speech)))
        assert np.isnan(pesq_nb(speech[:2000], speech[:2000]))  # 1/8 s: under PESQ's minimum
    assert "all zeros" in caplog.text and "buffer too short" in caplog.text


def test_stoi_estoi(speech):
    assert stoi(speech, speech) == pytest.approx(1, abs=1e-6)
    assert estoi(speech, speech) == pytest.approx(1, abs=1e-6)
    for f in (stoi, estoi):
        scores = [f(speech, with_noise(speech, snr)) for snr in (-5, 5, 15)]
        assert scores == sorted(scores), (f.__name__, scores)


# --- segSNR, LLR, WSS, composite -----------------------------------------------------------------------


def test_segsnr_identical_and_constant_ratio(speech):
    assert segsnr(speech, speech) == 35.0
    # 30 ms frames, 7.5 ms hop, floor((L - N)/hop) frames. With deg = 1.1·ref every frame has an SNR of
    # exactly 20 dB, except frames of pure digital silence (no signal energy), which score the -10 dB floor.
    win, hop = 480, 120
    gated = speech.copy()
    gated[: 40 * hop] = gated[200 * hop : 260 * hop] = 0.0  # hop-aligned gaps: no barely-touched frames
    starts = range(0, ((len(gated) - win) // hop) * hop, hop)
    expected = np.mean([20.0 if np.any(gated[s : s + win]) else -10.0 for s in starts])
    assert segsnr(gated, 1.1 * gated) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx((20 * (len(starts) - 94) - 10 * 94) / len(starts))  # 37 + 57 silent


def test_segsnr_stationary_noise():
    """A stationary 'signal' plus independent white noise has the same SNR, 10 dB, in every frame."""
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(3 * FS)
    assert segsnr(ref, ref + np.sqrt(0.1) * rng.standard_normal(len(ref))) == pytest.approx(10, abs=0.2)


def test_llr_wss_identities(speech):
    assert llr(speech, speech) == 0 and wss(speech, speech) == 0
    # Both compare spectral shapes, so a gain changes nothing (the -60 dB floor keeps every band above the
    # -100 dB energy floor of WSS).
    assert llr(speech, 0.3 * speech) == pytest.approx(0, abs=1e-9)
    assert wss(speech, 0.3 * speech) == pytest.approx(0, abs=1e-6)
    for f in (llr, wss):
        values = [f(speech, with_noise(speech, snr)) for snr in (20, 10, 0)]
        assert 0 < values[0] < values[1] < values[2], (f.__name__, values)


def test_llr_of_ar1_against_white_noise():
    """For an AR(1) reference (ρ = 0.9) and a white 'degraded' signal the LPC of the latter is flat, so
    the LLR is log(R(0) / prediction error) = -log(1 - ρ²) = 1.66 (frames are long enough to be close)."""
    rng = np.random.default_rng(6)
    excitation = rng.standard_normal(3 * FS)
    ar = np.empty_like(excitation)
    ar[0] = excitation[0]
    for i in range(1, len(ar)):
        ar[i] = 0.9 * ar[i - 1] + excitation[i]
    assert llr(ar, rng.standard_normal(len(ar))) == pytest.approx(-np.log(1 - 0.81), abs=0.15)


def test_composite(speech):
    top = composite(speech, speech)
    assert top["pesq_wb"] == pytest.approx(4.644, abs=0.01)
    assert (top["csig"], top["cbak"], top["covl"]) == (5.0, 5.0, 5.0)
    assert (top["ssnr"], top["llr"], top["wss"]) == (35.0, 0.0, 0.0)
    rows = [composite(speech, with_noise(speech, snr)) for snr in (0, 5, 10)]
    for name in ("csig", "cbak", "covl", "pesq_wb", "ssnr"):
        assert [r[name] for r in rows] == sorted(r[name] for r in rows), name
    for r in rows:
        assert all(1 <= r[k] <= 5 for k in ("csig", "cbak", "covl"))
        p, l_, w, s = r["pesq_wb"], r["llr"], r["wss"], r["ssnr"]
        assert r["cbak"] == pytest.approx(np.clip(1.634 + 0.478 * p - 0.007 * w + 0.063 * s, 1, 5))
        assert r["covl"] == pytest.approx(np.clip(1.594 + 0.805 * p - 0.512 * l_ - 0.007 * w, 1, 5))
        assert r["csig"] == pytest.approx(np.clip(3.093 - 1.029 * l_ + 0.603 * p - 0.009 * w, 1, 5))


def test_composite_given_pesq_and_refused_pesq(speech):
    noisy = with_noise(speech, 10)
    given = composite(speech, noisy, pesq=3.0)
    assert given["pesq_wb"] == 3.0
    assert given["cbak"] == pytest.approx(1.634 + 0.478 * 3 - 0.007 * given["wss"] + 0.063 * given["ssnr"])
    refused = composite(speech, np.zeros_like(speech))
    assert np.isnan(refused["pesq_wb"]) and np.isnan(refused["csig"]) and np.isnan(refused["covl"])
    assert refused["ssnr"] == pytest.approx(0, abs=1e-6)  # the others still report: noise = -speech


def test_utterance_metrics(speech):
    noisy = with_noise(speech, 5)
    fast = utterance_metrics(speech, noisy, full=False)
    assert set(fast) == {"pesq_wb", "stoi", "si_sdr"}
    full = utterance_metrics(speech, noisy)
    expected = {"pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr", "csig", "cbak", "covl", "ssnr", "llr", "wss"}
    assert set(full) == expected and all(isinstance(v, float) for v in full.values())
    assert full["pesq_wb"] == fast["pesq_wb"] == pesq_wb(speech, noisy)
    assert full["csig"] == composite(speech, noisy)["csig"]


def test_metrics_import_without_torch():
    code = "import sys, rcnn_se.metrics; assert 'torch' not in sys.modules, 'metrics import torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
