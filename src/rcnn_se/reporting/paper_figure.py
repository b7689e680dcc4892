"""The paper's Figure 3 from your runs: spectrograms of clean, noisy, RCNN- and CNN-enhanced speech.

Every training job logs the same deterministic audio examples (`audio/<uid>_{clean,noisy,enhanced}.wav`), so
the newest dropout-free RCNN and CNN runs share an utterance to show side by side.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from rcnn_se.data.audio import read_wav
from rcnn_se.data.features import StftConfig
from rcnn_se.reporting.figures import spectrogram_figure


def stft_of_run(params: Mapping[str, str]) -> StftConfig:
    """The STFT settings a run trained with, from its logged `data.stft.*` params: its audio examples are
    drawn with the front end its model saw."""
    names = [f.name for f in fields(StftConfig)]
    missing = [f"data.stft.{name}" for name in names if f"data.stft.{name}" not in params]
    if missing:
        raise ValueError(f"run params lack {', '.join(missing)}: cannot tell the run's STFT settings")
    kinds = StftConfig()  # each field's type, from its default (the annotations are strings)
    return StftConfig(**{name: type(getattr(kinds, name))(params[f"data.stft.{name}"]) for name in names})


def _newest(runs: Sequence, model: str):
    chosen = [
        r for r in runs if r.params.get("choice.model") == model and float(r.params.get("dropout", 0)) == 0
    ]
    return max(chosen, key=lambda r: r.start_time, default=None)


def figure3(runs: Sequence, tracking_uri: str, out: Path) -> Path | None:
    """Write `out/figure3.png`; None (and nothing written) when the runs lack what the figure needs."""
    from mlflow.tracking import MlflowClient

    rcnn, cnn = _newest(runs, "rcnn"), _newest(runs, "cnn")
    if rcnn is None or cnn is None:
        return None
    client = MlflowClient(tracking_uri=tracking_uri)
    names = [{Path(a.path).name for a in client.list_artifacts(r.run_id, "audio")} for r in (rcnn, cnn)]
    shared = sorted(
        n.removesuffix("_enhanced.wav") for n in names[0] & names[1] if n.endswith("_enhanced.wav")
    )
    if not shared:
        return None
    uid = shared[0]
    with tempfile.TemporaryDirectory() as tmp:

        def fetch(run_id: str, kind: str):
            local = client.download_artifacts(run_id, f"audio/{uid}_{kind}.wav", tmp)
            return read_wav(local)

        (clean, _), (noisy, _) = fetch(rcnn.run_id, "clean"), fetch(rcnn.run_id, "noisy")
        panels = [("[a] clean", clean), ("[b] noisy", noisy)]
        panels += [("[c] RCNN, no dropout", fetch(rcnn.run_id, "enhanced")[0])]
        panels += [("[d] CNN, no dropout", fetch(cnn.run_id, "enhanced")[0])]
        return spectrogram_figure(panels, stft_of_run(rcnn.params), out / "figure3.png")
