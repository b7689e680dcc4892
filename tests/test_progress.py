"""Progress lines for logs, and the noise a job no longer prints."""

from __future__ import annotations

import io
import logging
import warnings

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.progress import ProgressLines, format_duration
from rcnn_se.training.quiet import silence_known_noise
from rcnn_se.training.system import EnhancementSystem


class Pipe(io.StringIO):
    """A stream that is not a terminal, like a log file."""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def fit(stream: io.StringIO, every: int) -> None:
    noisy = torch.rand(12, 1, 17, 8)
    loader = DataLoader(TensorDataset(noisy, noisy * 0.5), batch_size=2)
    system = EnhancementSystem(SpectralCNN(channels=4), lambda params: torch.optim.Adam(params, lr=1e-3))
    trainer = L.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[ProgressLines(every, stream=stream)],
    )  # fmt: skip
    trainer.fit(system, loader, loader)


def test_lines_every_n_steps_when_not_a_terminal() -> None:
    out = Pipe()
    fit(out, every=4)
    lines = out.getvalue().splitlines()
    assert lines[0] == "training: 12 steps at most, a line every 4"
    steps = [line for line in lines if " step " in line]
    assert [line.split()[3] for line in steps] == ["4/12", "8/12", "12/12"]
    assert steps[0].startswith("epoch 1/2 step 4/12 loss ") and "steps/s" in steps[0] and " eta " in steps[0]
    assert steps[-1].endswith("eta -"), "nothing left at the last step"
    assert sum(line.split()[2] == "val/loss" for line in lines) == 2, "one validation line per epoch"


def test_silent_on_a_terminal() -> None:
    out = Terminal()
    fit(out, every=1)
    assert out.getvalue() == ""


def test_every_n_steps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="every_n_steps=0"):
        ProgressLines(0)


def test_format_duration() -> None:
    assert (format_duration(59.6), format_duration(61), format_duration(3725)) == ("1:00", "1:01", "1:02:05")


def test_tips_and_known_warnings_are_dropped_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    silence_known_noise()
    silence_known_noise()
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert len(logger.filters) == len({type(f) for f in logger.filters}), "installed once"
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        logger.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        silence_known_noise()  # catch_warnings restores the filters on exit, so install inside
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something new"]
