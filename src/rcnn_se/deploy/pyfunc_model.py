"""A trained enhancer as an MLflow model: `mlflow.pyfunc.load_model("runs:/ID/model")` enhances audio.

The model is the best checkpoint's weights and hyperparameters (no optimizer state: a few hundred kB for
the paper-sized RCNN) plus this package's code, so it loads where rcnn_se is not installed. Its input is a
table with one row per recording: `waveform` (mono float samples) and `sample_rate` (any rate: audio is
resampled to the model's and back, as `rcnn-se enhance` does); its output has the enhanced `waveform` at
the input's rate and length, and that `sample_rate`. A recording longer than 30 s is enhanced 30 s at a time
(`rcnn_se.deploy.streaming.enhance_samples`, the same samples to float rounding), so the work's memory does
not grow with its length; the input and output arrays themselves are whole.
`logger.mlflow.register_as=NAME` also registers it in the Model Registry (`models:/NAME/<version>`),
which `rcnn-se enhance --model` takes.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import torch

ARTIFACT = "model"
WEIGHTS = "weights"  # the artifact key; its file is weights.ckpt
REQUIREMENTS = ("torch", "lightning", "hydra-core", "omegaconf", "numpy", "scipy", "soundfile", "pandas")
EXAMPLE_SECONDS = 0.25


class WaveformEnhancer(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: rows of (waveform, sample_rate) -> rows of enhanced (waveform, sample_rate)."""

    # Inputs are checked against the logged signature. Without this, MLflow asks for type hints on
    # `predict` when the class is defined, under a warnings filter of its own that no filter of ours
    # overrides: one yellow UserWarning in every job's output.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        from rcnn_se.deploy.inference import fp32_enhancer
        from rcnn_se.training.system import EnhancementSystem

        system = EnhancementSystem.from_checkpoint(context.artifacts[WEIGHTS])
        self.enhancer, self.stft = fp32_enhancer(system), system.stft_config

    # model_input carries no type hint: MLflow reads one as a schema of its own, beside the signature's.
    def predict(self, context: Any, model_input, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        from rcnn_se.deploy.streaming import enhance_samples

        waves, rates = [], []
        for wave, rate in zip(model_input["waveform"], model_input["sample_rate"], strict=True):
            samples = np.asarray(wave, dtype=np.float32)
            if samples.ndim != 1 or not len(samples):
                raise ValueError(f"waveform: expected mono samples, got shape {samples.shape}")
            waves.append(enhance_samples(self.enhancer, samples, int(rate), self.stft).astype(np.float32))
            rates.append(int(rate))
        return pd.DataFrame({"waveform": waves, "sample_rate": rates})


def signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, DataType, Schema

    def table(sample: DataType) -> Schema:
        return Schema([ColSpec(Array(sample), "waveform"), ColSpec(DataType.long, "sample_rate")])

    # Python floats and numpy's default are doubles; the model answers in float32.
    return ModelSignature(inputs=table(DataType.double), outputs=table(DataType.float))


def example_input(waveform: np.ndarray, sample_rate: int) -> Any:
    """The first quarter second of a real noisy test utterance: small enough to store with the model."""
    import pandas as pd

    clip = np.asarray(waveform[: int(EXAMPLE_SECONDS * sample_rate)], dtype=np.float64)
    return pd.DataFrame({"waveform": [clip.tolist()], "sample_rate": [int(sample_rate)]})


def save_weights(system: Any, path: Path) -> Path:
    """What `EnhancementSystem.from_checkpoint` reads, and nothing else (no optimizer or loop state)."""
    torch.save({"hyper_parameters": dict(system.hparams), "state_dict": system.state_dict()}, path)
    return path


def log_enhancer(
    run_id: str,
    tracking_uri: str,
    system: Any,
    example: tuple[np.ndarray, int],
    register_as: str | None = None,
) -> str:
    """Log `system` as the run's `model`, registered under `register_as` if given; returns its model URI.

    MLflow logs models through its fluent API, which ends the run it opened: the run is put back to
    RUNNING, since the job still has its evaluation to do (and closes the run with the true status)."""
    from mlflow.tracking import MlflowClient

    import rcnn_se

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_weights(system, Path(tmp) / f"{WEIGHTS}.ckpt")
        code = Path(tmp) / "rcnn_se"
        shutil.copytree(Path(rcnn_se.__file__).parent, code, ignore=shutil.ignore_patterns("__pycache__"))
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=ARTIFACT,
                python_model=str(Path(__file__).with_name("pyfunc_entry.py")),  # code, not a pickle
                artifacts={WEIGHTS: str(weights)},
                code_paths=[str(code)],
                signature=signature(),
                input_example=example_input(*example),
                pip_requirements=[f"{name}=={version(name)}" for name in REQUIREMENTS],
                registered_model_name=register_as,
            )
    MlflowClient(tracking_uri).update_run(run_id, status="RUNNING")
    return info.model_uri


def checkpoint_from_model(model_uri: str, tracking_uri: str, folder: Path) -> Path:
    """The weights inside a logged or registered model (`runs:/ID/model`, `models:/NAME/1`), downloaded:
    `rcnn-se enhance` then runs them like any checkpoint, with every precision it offers."""
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=str(folder), tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
    except Exception as exc:
        raise ValueError(f"--model {model_uri}: cannot be read from {tracking_uri} ({exc})") from exc
    weights = sorted(Path(local).glob(f"artifacts/{WEIGHTS}.ckpt"))
    if not weights:
        raise ValueError(f"--model {model_uri}: not an rcnn_se model (no artifacts/{WEIGHTS}.ckpt inside)")
    return weights[0]
