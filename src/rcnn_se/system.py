"""The LightningModule: a magnitude-domain enhancer trained with MSE (paper, section II).

The network sees (optionally log-compressed) magnitudes; `enhance_magnitude` is the one path from a noisy
magnitude to an estimate, shared by validation, test evaluation, the enhance CLI and export.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch import nn

from rcnn_se.data.features import StftConfig, compress, decompress
from rcnn_se.models.spectral_cnn import model_size_mb, parameter_count


class EnhancementSystem(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        compress: str = "log1p",
        model_config: dict | None = None,
        stft: dict | None = None,
    ) -> None:
        """`model_config` and `stft` ride along in every checkpoint, so `from_checkpoint` can rebuild the
        network and its front end without the Hydra config that trained it."""
        super().__init__()
        self.save_hyperparameters(ignore=["model", "optimizer"], logger=False)
        self.model = model
        self.optimizer_factory = optimizer
        self.compress = compress
        self.loss = nn.MSELoss()

    @property
    def stft_config(self) -> StftConfig:
        """The front end the model was trained on (the defaults for checkpoints that predate the field)."""
        return StftConfig(**(self.hparams.get("stft") or {}))

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.model.parameters())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)

    def enhance_magnitude(self, noisy_mag: torch.Tensor) -> torch.Tensor:
        """Noisy magnitude [B, 1, F, T] -> enhanced magnitude, in the linear domain."""
        return decompress(self(compress(noisy_mag, self.compress)), self.compress)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        noisy, clean = batch
        loss = self.loss(self(compress(noisy, self.compress)), compress(clean, self.compress))
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=stage == "train",
            on_epoch=True,
            batch_size=len(noisy),
        )
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_factory is None:
            raise ValueError("no optimizer configured: set the optimizer config group (adam, sgd, adagrad)")
        return self.optimizer_factory(params=self.parameters())

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> EnhancementSystem:
        from hydra.utils import instantiate

        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ValueError(f"{path}: not a readable checkpoint ({exc})") from exc
        hparams = ckpt.get("hyper_parameters", {})
        if not hparams.get("model_config"):
            raise ValueError(f"{path}: checkpoint has no model_config; it was not written by rcnn_se")
        system = cls(
            instantiate(hparams["model_config"]),
            None,
            hparams["compress"],
            hparams["model_config"],
            hparams.get("stft"),
        )
        system.load_state_dict(ckpt["state_dict"])
        return system.eval()

    def size_summary(self) -> dict[str, float]:
        return {"model/parameters": parameter_count(self.model), "model/size_mb": model_size_mb(self.model)}
