"""Classic baselines on real (espeak-ng) speech in white noise: they must remove noise and keep speech."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rcnn_se.data.features import StftConfig, enhance_waveform, stft
from rcnn_se.data.synth import DemoSpec, generate_demo_corpus
from rcnn_se.metrics import effective_gain, nr_sd, si_sdr
from rcnn_se.models.baselines import BASELINES, Baseline, estimate_noise_psd

CFG = StftConfig()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    from rcnn_se.data.audio import read_wav

    root = generate_demo_corpus(tmp_path_factory.mktemp("bl") / "c", DemoSpec(1, 1, sample_rate=16000))
    clean, _ = read_wav(sorted((root / "clean_testset_wav").glob("*.wav"))[0])
    return clean


def enhance(name: str, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The enhanced waveform and the effective gain, by the path and gain every model is scored with."""
    out = enhance_waveform(Baseline(name, CFG.as_dict()), noisy, CFG)
    return out.wave.numpy(), effective_gain(out.magnitude.numpy(), out.noisy_spec.abs().numpy())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "min_gain_db"), [("wiener", 6.0), ("spectral_subtraction", 2.5)])
@pytest.mark.parametrize("snr", [0.0, 5.0])
def test_baselines_improve_si_sdr_and_remove_noise(
    speech: np.ndarray, name: str, min_gain_db: float, snr: float
):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(len(speech)).astype(np.float32)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10 ** (snr / 10))
    noisy = speech + noise
    out, gain = enhance(name, noisy)
    assert si_sdr(speech, out) > si_sdr(speech, noisy) + min_gain_db
    scores = nr_sd(stft(speech, CFG).numpy(), stft(noise, CFG).numpy(), gain)
    # flite's awb voice in white noise at 0 dB: Wiener's SD is 0.108 (an identity scores 0, silence 1).
    assert scores["nr"] > 0.5 and scores["sd"] < 0.12


@pytest.mark.slow
def test_noise_only_and_clean_input(speech: np.ndarray) -> None:
    noise = np.random.default_rng(2).standard_normal(32000).astype(np.float32) * 0.05
    for name in ("wiener", "spectral_subtraction"):
        out, _ = enhance(name, noise)
        assert np.sum(out**2) < 0.3 * np.sum(noise**2)
        kept, _ = enhance(name, speech)
        assert np.sum(kept**2) > 0.5 * np.sum(speech**2), "speech without noise must survive"


def test_minimum_statistics_tracks_stationary_noise() -> None:
    noise = np.random.default_rng(3).standard_normal(48000) * 0.1
    power = stft(noise.astype(np.float32), CFG).abs().numpy().astype(np.float64) ** 2
    estimate = estimate_noise_psd(power, frames_per_second=CFG.frames_per_second)
    ratio_db = 10 * np.log10(estimate[5:-5].mean() / power[5:-5].mean())
    assert abs(ratio_db) < 3.0


@pytest.mark.parametrize("mag", [np.zeros((257, 20)), np.ones((257, 1)), np.full((257, 30), 1e4)])
def test_edge_inputs_stay_finite_and_never_amplify(mag: np.ndarray) -> None:
    for fn in BASELINES.values():
        out = fn(mag, frames_per_second=CFG.frames_per_second)
        assert out.shape == mag.shape and np.all(np.isfinite(out))
        assert np.all(out <= mag * (1 + 1e-9)), f"{fn.__name__} amplified a bin: enhancers only attenuate"


def test_baseline_module() -> None:
    module = Baseline("wiener")
    x = torch.rand(2, 1, 257, 12)
    assert module(x).shape == x.shape and sum(p.numel() for p in module.parameters()) == 0
    with pytest.raises(ValueError, match=r"known: \['noisy', 'spectral_subtraction', 'wiener'\]"):
        Baseline("kalman")
