from pathlib import Path

import numpy as np

from rcnn_se.data.features import StftConfig
from rcnn_se.reporting.figures import metric_vs_snr_figure, spectrogram_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_spectrogram_figure_has_one_panel_per_signal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) + 0.1 * rng.standard_normal(16000)
    path = spectrogram_figure([("clean", x), ("noisy", x + rng.standard_normal(16000)), ("RCNN", x)],
                              StftConfig(), tmp_path / "s.png")  # fmt: skip
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000
    import matplotlib.image

    height = matplotlib.image.imread(path).shape[0]
    assert height == 3 * 220  # 2.2 inches per panel at 100 dpi


def test_metric_vs_snr_figure(tmp_path: Path) -> None:
    rows = [{"uid": f"u{i}", "snr": snr, "pesq_wb": 1 + snr / 10, "stoi": float("nan")}
            for i, snr in enumerate([2.5, 7.5, 12.5, 17.5] * 3)]  # fmt: skip
    path = metric_vs_snr_figure(rows, ["pesq_wb", "stoi", "absent"], tmp_path / "m.png", baseline_rows=rows)
    assert path.read_bytes().startswith(PNG)
