"""Every consumer of the STFT settings follows them: with the hop doubled (256 instead of 128), the
enhancement path, evaluation, the enhance CLI, the logged MLflow model, the baselines, the figures and the
bench's quality check all work in frames of the new hop, taken from the data config or the checkpoint,
never the default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from mlflow.pyfunc import PythonModelContext
from omegaconf import OmegaConf

from helpers.audio import write_pair_corpus
from helpers.configs import composed
from rcnn_se.data.audio import read_wav, write_wav
from rcnn_se.data.cache import FeatureCache, build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig, enhance_waveform, stft
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.deploy.inference import enhance_recording, fast_enhancer
from rcnn_se.deploy.pyfunc_model import WEIGHTS, WaveformEnhancer
from rcnn_se.evaluation.scoring import evaluate
from rcnn_se.models.baselines import Baseline, wiener_dd
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.reporting.figures import log_spectrogram
from rcnn_se.reporting.paper_figure import stft_of_run
from rcnn_se.tracking.mlflow_runs import flatten
from rcnn_se.training.system import EnhancementSystem

ROOT = Path(__file__).resolve().parents[1]
DEFAULT, LONG_HOP = StftConfig(), StftConfig(hop_length=256)
MODEL = {"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN", "channels": 4, "kernel_size": 3}


def noisy_tone(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = 0.05 * np.random.default_rng(0).standard_normal(len(t)) * (1 + (t > seconds / 2))  # it changes
    return (0.3 * np.sin(2 * np.pi * 300 * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def long_hop_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of a small RCNN whose front end hops 256 samples, as `from_checkpoint` reads one."""
    torch.manual_seed(0)
    system = EnhancementSystem(SpectralCNN(channels=4, kernel_size=3), model_config=MODEL,
                               stft=LONG_HOP.as_dict(), gain_floor_db=-12, gain_ceiling_db=0)  # fmt: skip
    path = tmp_path_factory.mktemp("hop256") / "model.ckpt"
    torch.save({"hyper_parameters": dict(system.hparams), "state_dict": system.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_pair_corpus(root, "train", [("p301_001", "white", 5.0)], sr=48000)
    return write_pair_corpus(root, "test", [("p901_001", "cafe", 2.5), ("p901_002", "bus", 17.5)], sr=48000)


def frames_seen() -> tuple[list[int], object]:
    """An identity enhancer that records the frame count of every spectrum it is given."""
    seen: list[int] = []

    def identity(magnitude: torch.Tensor) -> torch.Tensor:
        seen.append(magnitude.shape[-1])
        return magnitude

    return seen, identity


def test_the_waveform_path_works_in_frames_of_its_hop() -> None:
    wave = noisy_tone(1.0, 16000)
    for cfg in (DEFAULT, LONG_HOP):
        out = enhance_waveform(lambda magnitude: 0.5 * magnitude, wave, cfg)
        assert out.magnitude.shape == out.noisy_spec.shape == (cfg.n_bins, cfg.n_frames(len(wave)))
        np.testing.assert_allclose(out.wave.numpy(), 0.5 * wave, atol=1e-5)  # the noisy phase, reused


def test_evaluation_follows_the_cache(corpus: Path, tmp_path: Path) -> None:
    cache = build_cache(scan_split(corpus, "test"), LONG_HOP, tmp_path / "cache")
    seen, identity = frames_seen()
    rows = evaluate(identity, cache, workers=0, full=False)
    assert seen == [LONG_HOP.n_frames(len(cache.wave(i, "noisy"))) for i in range(len(rows))]
    assert all(abs(row["nr"]) < 1e-6 for row in rows), "the identity removes no noise, at any hop"


def test_the_cli_and_the_logged_model_follow_the_checkpoint(
    long_hop_checkpoint: Path, tmp_path: Path
) -> None:
    system = EnhancementSystem.from_checkpoint(long_hop_checkpoint)
    assert system.stft_config == LONG_HOP
    samples = noisy_tone(1.0, 22050)
    write_wav(tmp_path / "in.wav", samples, 22050)
    assert enhance_main([str(tmp_path / "in.wav"), "-o", str(tmp_path / "out"),
                         "--checkpoint", str(long_hop_checkpoint)]) == 0  # fmt: skip
    written, _ = read_wav(tmp_path / "out" / "in_enhanced.wav")
    noisy, _ = read_wav(tmp_path / "in.wav")
    expected = enhance_recording(fast_enhancer(system), noisy, 22050, LONG_HOP)
    at_default_hop = enhance_recording(fast_enhancer(system), noisy, 22050, DEFAULT)
    np.testing.assert_allclose(written, expected, atol=1e-4)  # 16-bit rounding
    assert np.abs(expected - at_default_hop).max() > 1e-3, "the hop must matter to this model"
    model = WaveformEnhancer()
    model.load_context(PythonModelContext(artifacts={WEIGHTS: str(long_hop_checkpoint)}, model_config={}))
    table = model.predict(None, pd.DataFrame({"waveform": [noisy], "sample_rate": [22050]}))
    np.testing.assert_allclose(table["waveform"][0], expected, atol=1e-5)


def test_baselines_count_their_window_in_frames_of_the_data_hop(tmp_path: Path) -> None:
    cfg = composed(["model=wiener", "data.stft.hop_length=256"], tmp_path)
    baseline = instantiate(cfg.model)
    assert isinstance(baseline, Baseline) and baseline.frames_per_second == 16000 / 256
    magnitude = stft(noisy_tone(6.0, 16000), LONG_HOP).abs()  # the noise doubles after 3 s
    got = baseline(magnitude[None, None])[0, 0].double().numpy()
    np.testing.assert_allclose(got, wiener_dd(magnitude.numpy(), frames_per_second=62.5), rtol=1e-6)
    at_default = wiener_dd(magnitude.numpy(), frames_per_second=125.0)
    assert np.abs(got - at_default).max() > 1e-3, "a 1.5 s window is twice as many frames at hop 128"


def test_figures_draw_with_the_run_s_stft(tmp_path: Path) -> None:
    x = noisy_tone(1.0, 16000)
    for cfg in (DEFAULT, LONG_HOP):
        assert log_spectrogram(x, cfg).shape == (cfg.n_bins, cfg.n_frames(len(x)))
    data = OmegaConf.to_container(composed(["data.stft.hop_length=256"], tmp_path).data, resolve=True)
    assert stft_of_run(flatten({"data": data})) == LONG_HOP  # as a training run logs its params
    with pytest.raises(ValueError, match="data.stft.hop_length"):
        stft_of_run({k: v for k, v in flatten({"data": data}).items() if k != "data.stft.hop_length"})


def test_the_bench_quality_check_follows_the_checkpoint(
    long_hop_checkpoint: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from inference_net import bench_precision, noisy_spectra

    bench_precision(corpus, tmp_path / "cache", long_hop_checkpoint)
    assert capsys.readouterr().out.count("(c) test-set quality") == 3
    caches = [FeatureCache(index.parent) for index in (tmp_path / "cache").rglob("index.json")]
    assert caches and all(cache.stft == LONG_HOP for cache in caches)
    (spectrum,) = noisy_spectra(corpus, "train", 1, LONG_HOP)
    assert spectrum.shape[-1] == LONG_HOP.n_frames(8000)  # 0.5 s at 16 kHz
