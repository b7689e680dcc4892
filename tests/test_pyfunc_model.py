"""A trained enhancer as an MLflow model: logged to a real SQLite store, registered, loaded back with
`mlflow.pyfunc.load_model` and used on a real wav file; `rcnn-se enhance --model` takes it too."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from rcnn_se.data.audio import read_wav, write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.deploy.inference import enhance_recording, fast_enhancer
from rcnn_se.deploy.pyfunc_model import log_enhancer
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, EnhancementSystem, Path]:
    """A small RCNN with random weights, logged and registered as `tiny` in a fresh store."""
    folder = tmp_path_factory.mktemp("pyfunc")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    torch.manual_seed(0)
    model = SpectralCNN(channels=6)
    system = EnhancementSystem(model, model_config={"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN",
                               "channels": 6}, gain_floor_db=-12, gain_ceiling_db=0)  # fmt: skip
    client = MlflowClient(uri)
    experiment = client.create_experiment("e", artifact_location=(folder / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    rng = np.random.default_rng(0)
    example = (0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    model_uri = log_enhancer(run_id, uri, system, example, register_as="tiny")
    assert client.get_run(run_id).info.status == "RUNNING", "the job's run stays open for its evaluation"
    assert model_uri.startswith("models:/"), "MLflow 3 names the logged model by its id"
    return uri, system.eval(), folder


def noisy_wav(path: Path, sr: int = 22050) -> Path:
    rng = np.random.default_rng(1)
    t = np.arange(int(0.8 * sr)) / sr
    return write_wav(path, 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t)), sr)


@pytest.mark.slow
def test_load_model_enhances_a_wav_file(logged: tuple[str, EnhancementSystem, Path], tmp_path: Path) -> None:
    uri, system, _ = logged
    mlflow.set_tracking_uri(uri)
    (run,) = MlflowClient(uri).search_runs(MlflowClient(uri).search_experiments()[0].experiment_id)
    samples, sr = read_wav(noisy_wav(tmp_path / "noisy.wav"))
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    out = model.predict(pd.DataFrame({"waveform": [samples.tolist()], "sample_rate": [sr]}))
    enhanced = np.asarray(out["waveform"][0])
    assert out["sample_rate"][0] == sr and enhanced.shape == samples.shape
    expected = enhance_recording(fast_enhancer(system), samples, sr, system.stft_config)
    np.testing.assert_allclose(enhanced, expected, atol=1e-5)
    assert np.abs(enhanced - samples).max() > 1e-3, "the model changed the audio"
    signature = model.metadata.signature
    assert signature.inputs.input_names() == ["waveform", "sample_rate"]
    assert model.metadata.saved_input_example_info is not None


@pytest.mark.slow
def test_bad_waveform_is_refused_with_its_shape(logged: tuple[str, EnhancementSystem, Path]) -> None:
    mlflow.set_tracking_uri(logged[0])
    model = mlflow.pyfunc.load_model("models:/tiny/1")
    with pytest.raises(Exception, match="mono samples"):
        model.predict(pd.DataFrame({"waveform": [[]], "sample_rate": [16000]}))


@pytest.mark.slow
def test_enhance_cli_takes_the_registered_model(
    logged: tuple[str, EnhancementSystem, Path], tmp_path: Path
) -> None:
    uri, system, _ = logged
    wav = noisy_wav(tmp_path / "in.wav", sr=16000)
    assert enhance_main([str(wav), "-o", str(tmp_path / "out"), "--model", "models:/tiny/1",
                         "--tracking-uri", uri]) == 0  # fmt: skip
    enhanced, sr = read_wav(tmp_path / "out" / "in_enhanced.wav")
    samples, _ = read_wav(wav)
    expected = enhance_recording(fast_enhancer(system), samples, sr, system.stft_config)
    np.testing.assert_allclose(enhanced, expected, atol=1e-4)  # 16-bit wav rounding


@pytest.mark.slow
def test_enhance_cli_names_a_missing_model(
    logged: tuple[str, EnhancementSystem, Path], tmp_path: Path
) -> None:
    wav = noisy_wav(tmp_path / "in.wav", sr=16000)
    with pytest.raises(SystemExit) as exit_:
        enhance_main([str(wav), "-o", str(tmp_path / "out"), "--model", "models:/absent/1",
                      "--tracking-uri", logged[0]])  # fmt: skip
    message = str(exit_.value.code)
    assert message.startswith("rcnn-se enhance: --model models:/absent/1: cannot be read from sqlite:///")
    assert "\n" not in message and not (tmp_path / "out" / "in_enhanced.wav").exists()


@pytest.mark.slow
def test_a_long_input_is_enhanced_in_blocks_to_the_same_samples(
    logged: tuple[str, EnhancementSystem, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over 30 s the model enhances a block at a time (`enhance_samples`): the same output to 1e-5."""
    from rcnn_se.deploy import streaming

    reads = []
    original = streaming.Enhanced.read
    monkeypatch.setattr(
        streaming.Enhanced, "read", lambda self, lo, hi: reads.append(lo) or original(self, lo, hi)
    )
    uri, system, _ = logged
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/tiny/1")
    rng = np.random.default_rng(2)
    samples = (0.1 * rng.standard_normal(int(31.5 * 22050))).astype(np.float32)
    out = model.predict(pd.DataFrame({"waveform": [samples.tolist()], "sample_rate": [22050]}))
    enhanced = np.asarray(out["waveform"][0])
    assert enhanced.shape == samples.shape and len(reads) == 2, "two blocks of 30 s"
    expected = enhance_recording(fast_enhancer(system), samples, 22050, system.stft_config)
    assert np.abs(enhanced - expected).max() < 1e-5
