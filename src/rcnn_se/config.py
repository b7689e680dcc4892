"""OmegaConf resolvers the configs use; registered by the entry points before Hydra composes a config.

Kept free of heavy imports: torch is loaded only when a resolver is actually evaluated.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def cpu_precision() -> str:
    """bf16 autocast where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): about 2x the fp32
    training rate at the same validation loss (make bench); full fp32 elsewhere, where bf16 is emulated."""
    from rcnn_se.inference import bf16_is_native

    return "bf16-mixed" if bf16_is_native() else "32-true"


def register_resolvers() -> None:
    from rcnn_se.store import default_tracking_uri

    if not OmegaConf.has_resolver("cpu_precision"):
        OmegaConf.register_new_resolver("cpu_precision", cpu_precision)
    if not OmegaConf.has_resolver("tracking_uri"):  # RCNN_SE_TRACKING_URI, else the store in `mlruns_dir`
        OmegaConf.register_new_resolver("tracking_uri", default_tracking_uri)
