"""The LightningModule: a magnitude-domain enhancer trained with MSE (paper, section II).

The network sees (optionally log-compressed) magnitudes. `SpectralEnhancer` is the one path from a noisy
magnitude to an estimate (compress -> network -> decompress -> gain bounds): `EnhancementSystem.enhancer()`
hands it out to validation, test evaluation and export, and `rcnn_se.deploy.inference.fast_enhancer` puts a
faster run of the same network inside it for evaluation, the enhance CLI and the logged MLflow model.
Training and validation losses compare the network's output with the clean target in the network's domain,
over real frames only (zero padding is masked out).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from rcnn_se.config.schema import SYSTEM
from rcnn_se.data.features import StftConfig, compress, decompress
from rcnn_se.errors import ConfigError
from rcnn_se.models.spectral_cnn import model_size_mb, parameter_count
from rcnn_se.training.envelope_loss import envelope_correlation_loss, third_octave_matrix


class SpectralEnhancer(nn.Module):
    """Noisy magnitude [B, 1, F, T] -> enhanced magnitude: compress, network, decompress, gain bounds.

    The effective gain Ŝ/Y is kept within [`gain_floor_db`, `gain_ceiling_db`] in every bin, as classic
    enhancers bound their gains: a network's over-suppression would otherwise dig holes into speech that
    listeners (and PESQ, LLR) punish far more than a little residual noise, and a gain above 0 dB can only
    add noise when the noisy phase is reused. None switches a bound off.
    """

    def __init__(
        self, network: nn.Module, kind: str, gain_floor_db: float | None, gain_ceiling_db: float | None
    ) -> None:
        super().__init__()
        self.network, self.kind = network, kind
        self.floor = 0.0 if gain_floor_db is None else 10 ** (gain_floor_db / 20)
        self.ceiling = None if gain_ceiling_db is None else 10 ** (gain_ceiling_db / 20)

    def to_network(self, noisy_mag: torch.Tensor) -> torch.Tensor:
        return compress(noisy_mag, self.kind)

    def from_network(self, values: torch.Tensor, noisy_mag: torch.Tensor) -> torch.Tensor:
        mag = decompress(values, self.kind)
        if self.ceiling is not None:
            mag = torch.minimum(mag, self.ceiling * noisy_mag)
        return torch.maximum(mag, self.floor * noisy_mag) if self.floor > 0 else mag

    def forward(self, noisy_mag: torch.Tensor) -> torch.Tensor:
        return self.from_network(self.network(self.to_network(noisy_mag)), noisy_mag)


def masked_mse(
    estimate: torch.Tensor, target: torch.Tensor, valid_frames: torch.Tensor, under_weight: float = 1.0
) -> torch.Tensor:
    """Mean squared error over the first `valid_frames[b]` frames of each item [B, 1, F, T].

    `under_weight` > 1 counts an estimate below the target (speech removed) that many times more than one
    above it (noise left): intelligibility suffers more from lost speech than from residual noise.
    """
    frames = torch.arange(estimate.shape[-1], device=estimate.device)
    mask = (frames[None, :] < valid_frames[:, None]).to(torch.float32)[:, None, None, :]
    error = estimate.float() - target.float()
    if under_weight != 1.0:
        mask = mask * torch.where(error < 0, under_weight, 1.0)
    squared = error**2 * mask
    real = (frames[None, :] < valid_frames[:, None]).sum()
    return squared.sum() / (real * estimate.shape[-2]).clamp_min(1.0)


def build_scheduler(factory: Callable[..., Any], optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
    """The configured scheduler for this optimizer, given what the config cannot know in advance."""
    extra: dict[str, Any] = {}
    accepted = inspect.signature(getattr(factory, "func", factory)).parameters
    if "total_steps" in accepted:
        extra["total_steps"] = total_steps  # one-cycle spans the run
    if "cycle_momentum" in accepted and not {"momentum", "betas"} & set(optimizer.defaults):
        extra["cycle_momentum"] = False  # Adagrad has no momentum to cycle; the learning rate still cycles
    return factory(optimizer, **extra)


def plain(node: Mapping[str, Any]) -> dict[str, Any]:
    """A config node (DictConfig or dict) as a plain dict, interpolations resolved."""
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def instantiate_partial(node: Mapping[str, Any]) -> Callable[..., Any]:
    """An optimizer or scheduler factory from its config group (`_partial_: true`); its `_target_` was
    checked with the whole config before the job began (rcnn_se.config.safety)."""
    from hydra.utils import instantiate

    return instantiate(node)


def build_network(config: Mapping[str, Any], source: str) -> nn.Module:
    """The network a model config names, built the one way training and checkpoints share: the class must be
    defined in `rcnn_se.models` (rcnn_se.config.safety.model_class) and takes the other keys as arguments."""
    from rcnn_se.config.safety import model_class

    network_class = model_class(dict(config), source)
    try:
        return network_class(**{k: v for k, v in config.items() if k != "_target_"})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source} does not build its network ({exc})") from None


class EnhancementSystem(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        compress: str = SYSTEM.compress,
        model_config: dict | None = None,
        stft: dict | None = None,
        gain_floor_db: float | None = SYSTEM.gain_floor_db,
        scheduler: dict | None = None,
        gain_ceiling_db: float | None = SYSTEM.gain_ceiling_db,
        underestimate_weight: float = SYSTEM.underestimate_weight,
        envelope_weight: float = SYSTEM.envelope_weight,
        model_name: str | None = None,
    ) -> None:
        """`model_config`, `stft` and the gain bounds ride along in every checkpoint, so `from_checkpoint`
        can rebuild the network and its front end without the Hydra config that trained it. `scheduler`
        holds a partial learning-rate scheduler (`scheduler`) and Lightning's `interval`/`monitor`. The
        defaults are the schema's (rcnn_se.config.schema.SYSTEM), as a job's config has them. `model_name` is
        the model config group's choice that built the network (`rcnn`, `cnn`, a user's own), kept so an
        evaluation of the checkpoint names the model as its training run did."""
        super().__init__()
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"], logger=False)
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_config = scheduler
        self.compress = compress
        self.gain_floor_db, self.gain_ceiling_db = gain_floor_db, gain_ceiling_db
        self.underestimate_weight = underestimate_weight
        self.envelope_weight = envelope_weight  # > 0 adds `envelope_correlation_loss` (what STOI measures)
        cfg = self.stft_config
        bands = third_octave_matrix(cfg.n_fft, cfg.sample_rate) if envelope_weight else None
        self.register_buffer("bands", bands, persistent=False)
        # One default-length segment (64 frames): Lightning's model summary runs it through the network to
        # print its FLOPs and tensor sizes at the start of every fit (without it, "Total FLOPs: 0").
        self.example_input_array = torch.zeros(1, 1, self.stft_config.n_bins, 64)

    def enhancer(self, network: nn.Module | None = None) -> SpectralEnhancer:
        """The deployable path around this system's network (shared weights, no trainer attached), or around
        `network`: another run of the same weights (`rcnn_se.deploy.inference.fast_enhancer`), in the same
        path."""
        network = self.model if network is None else network
        return SpectralEnhancer(network, self.compress, self.gain_floor_db, self.gain_ceiling_db)

    @property
    def stft_config(self) -> StftConfig:
        """The front end the model was trained on (the defaults for checkpoints that predate the field)."""
        return StftConfig(**(self.hparams.get("stft") or {}))

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.model.parameters())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)

    def on_fit_start(self) -> None:
        # oneDNN runs convolutions natively in channels-last: 1.3-1.5x faster training steps on CPU.
        self.model.to(memory_format=torch.channels_last)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        noisy, clean = batch[0], batch[1]
        # (noisy, clean) batches from a user's own dataset carry no padding: every frame counts.
        frames = torch.full((len(noisy),), noisy.shape[-1], device=noisy.device)
        valid = batch[2] if len(batch) > 2 else frames
        x = compress(noisy, self.compress).contiguous(memory_format=torch.channels_last)
        estimate = self(x)
        target = compress(clean, self.compress)
        loss = masked_mse(estimate, target, valid, self.underestimate_weight)
        if stage == "val":  # the plain error, comparable across loss weights (what a search compares)
            mse = loss if self.underestimate_weight == 1.0 else masked_mse(estimate, target, valid)
            self.log("val/mse", mse, on_step=False, on_epoch=True, batch_size=len(noisy))
        if self.envelope_weight:
            linear = decompress(estimate.float(), self.compress)
            envelope = envelope_correlation_loss(linear, clean, valid, self.bands)
            self.log(f"{stage}/envelope", envelope, on_step=False, on_epoch=True, batch_size=len(noisy))
            loss = loss + self.envelope_weight * envelope
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

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ValueError("no optimizer configured: set the optimizer config group (adam, sgd, adagrad)")
        optimizer = self.optimizer_factory(params=self.parameters())
        if not self.scheduler_config or self.scheduler_config.get("scheduler") is None:
            return optimizer
        steps = int(self.trainer.estimated_stepping_batches)
        scheduler = {
            "scheduler": build_scheduler(self.scheduler_config["scheduler"], optimizer, steps),
            "interval": self.scheduler_config["interval"],
        }
        if self.scheduler_config.get("monitor"):
            scheduler["monitor"] = self.scheduler_config["monitor"]
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    @classmethod
    def from_config(
        cls,
        model: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        *,
        source: str = "model",
        **settings: Any,
    ) -> EnhancementSystem:
        """The system of a job's config (conf/module/enhancement.yaml, which Hydra's `instantiate` calls
        without recursion) or of a checkpoint: the network from its config by `build_network`, the optimizer
        and scheduler groups as partials; `settings` are the constructor's keyword arguments, `source` names
        where the config came from in an error."""
        model_config = plain(model)
        factory = instantiate_partial(optimizer) if optimizer else None
        schedule = plain(scheduler) if scheduler else None
        if schedule and schedule.get("scheduler"):
            schedule["scheduler"] = instantiate_partial(schedule["scheduler"])
        else:
            schedule = None
        network = build_network(model_config, source)
        plain_settings = {k: plain(v) if isinstance(v, Mapping) else v for k, v in settings.items()}  # stft
        return cls(network, factory, model_config=model_config, scheduler=schedule, **plain_settings)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> EnhancementSystem:
        """Rebuild a trained system from its checkpoint alone. Loaded weights-only, and the network built
        only from a class of `rcnn_se.models`: a checkpoint may come from a shared tracking server, and
        neither its pickle nor its `model_config._target_` may run code (rcnn_se.config.safety)."""
        from rcnn_se.config.safety import UnsafeTargetError, check_checkpoint_targets
        from rcnn_se.training.checkpoints import CheckpointError, load_checkpoint

        ckpt = load_checkpoint(path)
        hparams = ckpt.get("hyper_parameters", {})
        config = hparams.get("model_config")
        if not isinstance(config, dict) or not config:
            raise CheckpointError(f"{path}: checkpoint has no model_config; it was not written by rcnn_se")
        check_checkpoint_targets(hparams, str(path))  # stft or any other key naming a _target_: refused
        kept = ("compress", "stft", "gain_floor_db", "gain_ceiling_db", "model_name")
        try:
            system = cls.from_config(
                config, source=f"{path}: model_config", **{key: hparams.get(key) for key in kept}
            )
        except UnsafeTargetError:
            raise
        except ConfigError as exc:  # a class of rcnn_se.models that does not take the stored arguments
            raise CheckpointError(str(exc)) from None
        system.load_state_dict(ckpt["state_dict"])
        return system.eval()

    @torch.no_grad()
    def silent_fraction(self, noisy_mag: torch.Tensor) -> float:
        """The share of bins where the network outputs zero for these noisy magnitudes [B, 1, F, T], in eval
        mode. Near 1, the network died in training (no input opens its final ReLU) and the enhancer only
        scales the input down to the gain floor: the scores then look like the noisy input's, quieter."""
        was_training = self.training
        self.eval()
        try:
            features = compress(noisy_mag.to(self.device), self.compress)
            return float((self(features) <= 0).float().mean())
        finally:
            self.train(was_training)

    def size_summary(self) -> dict[str, float]:
        return {"model/parameters": parameter_count(self.model), "model/size_mb": model_size_mb(self.model)}
