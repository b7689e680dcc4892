"""Figures logged with runs and tables: spectrograms like the paper's Figure 3, metrics against SNR.

Headless (Agg) and pure: data in, PNG path out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from rcnn_se.data.features import StftConfig


def log_spectrogram(x: np.ndarray, cfg: StftConfig) -> np.ndarray:
    """dB magnitudes [F, T] of the model's own front end (`cfg`), so a figure shows what the model saw."""
    from rcnn_se.data.features import stft  # torch, only where a spectrogram is drawn

    return 20 * np.log10(stft(np.asarray(x, dtype=np.float32), cfg).abs().numpy().astype(np.float64) + 1e-8)


def spectrogram_figure(panels: Sequence[tuple[str, np.ndarray]], cfg: StftConfig, path: Path) -> Path:
    """Stacked log-magnitude spectrograms on one colour scale (top 80 dB), e.g. clean, noisy, RCNN, CNN;
    the signals are at `cfg.sample_rate`."""
    specs = [(title, log_spectrogram(x, cfg)) for title, x in panels]
    top = max(s.max() for _, s in specs)
    fig, axes = plt.subplots(len(specs), 1, figsize=(8, 2.2 * len(specs)), sharex=True, squeeze=False)
    for ax, (title, spec) in zip(axes[:, 0], specs, strict=True):
        extent = (0, spec.shape[1] / cfg.frames_per_second, 0, cfg.sample_rate / 2000)
        image = ax.imshow(
            spec, origin="lower", aspect="auto", extent=extent, vmin=top - 80, vmax=top, cmap="magma"
        )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("kHz")
    axes[-1, 0].set_xlabel("time (s)")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="dB")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _means_by_snr(rows: Sequence[dict], metric: str) -> tuple[list[float], list[float]]:
    groups: dict[float, list[float]] = defaultdict(list)
    for row in rows:
        value = float(row[metric])
        if not np.isnan(value):
            groups[float(row["snr"])].append(value)
    snrs = sorted(groups)
    return snrs, [float(np.mean(groups[s])) for s in snrs]


Curves = dict[str, dict[float, dict[str, float]]]  # label -> SNR -> metric -> mean


def metric_vs_snr_figure(
    rows: Sequence[dict],
    metrics: Sequence[str],
    path: Path,
    baseline_rows: Sequence[dict] | None = None,
    label: str = "enhanced",
    baseline_label: str = "noisy",
) -> Path:
    """Mean of each metric per test SNR (one panel per metric), optionally beside a baseline's rows."""
    present = [m for m in metrics if rows and m in rows[0]]
    curves: Curves = {label: _curve(rows, present)}
    if baseline_rows:
        curves[baseline_label] = _curve(baseline_rows, present)
    return curves_figure(curves, present, path, dashed={baseline_label})


def _curve(rows: Sequence[dict], metrics: Sequence[str]) -> dict[float, dict[str, float]]:
    curve: dict[float, dict[str, float]] = defaultdict(dict)
    for metric in metrics:
        for snr, value in zip(*_means_by_snr(rows, metric), strict=True):
            curve[snr][metric] = value
    return dict(curve)


def curves_figure(curves: Curves, metrics: Sequence[str], path: Path, dashed: Collection[str] = ()) -> Path:
    """One panel per metric, one line per label over the SNRs it was scored at; `dashed` labels (the
    noisy input, say) are drawn as references."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for label, curve in curves.items():
            snrs = sorted(s for s in curve if metric in curve[s])
            style = {"marker": "s", "linestyle": "--", "color": "0.4"} if label in dashed else {"marker": "o"}
            ax.plot(snrs, [curve[s][metric] for s in snrs], label=label, **style)
        ax.set_title(metric)
        ax.set_xlabel("SNR (dB)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    # below the panels, where it hides no curve however many jobs a sweep has
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
