"""The paper's spectral CNN (Fig. 1): convolutions only, same padding, no pooling, with an optional
input->output skip that turns it into the residual CNN (RCNN) and a final ReLU on the output.

With the skip the network only has to learn a correction to the noisy spectrum, which is why it keeps
low-level detail that the plain CNN must rebuild from scratch (paper, section III).
"""

from __future__ import annotations

import torch
from torch import nn

from rcnn_se.config.schema import SYSTEM

# A class for each name of the schema's ACTIVATIONS (tests/test_configs.py holds the two together).
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU, "selu": nn.SELU, "prelu": nn.PReLU}


class SpectralCNN(nn.Module):
    """Magnitude spectrogram [B, 1, F, T] -> magnitude spectrogram of the same shape.

    The settings are trusted as rcnn_se.config.checks passed them (n_layers >= 2, an odd kernel, one of the
    schema's activations, dropout in [0, 1)); the default activation and dropout are the schema's.
    """

    def __init__(
        self,
        n_layers: int = 4,
        channels: int = 54,
        kernel_size: int | tuple[int, int] = 5,
        activation: str = SYSTEM.activation,
        dropout: float = SYSTEM.dropout,
        skip: bool = True,
        final_activation: bool = True,
    ) -> None:
        super().__init__()
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        widths = [1] + [channels] * (n_layers - 1) + [1]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Conv2d(c_in, c_out, kernel, padding="same"))
            if i < n_layers - 1:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.skip = skip
        self.final = nn.ReLU() if final_activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.final(x + y if self.skip else y)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_size_mb(model: nn.Module) -> float:
    """Size of the weights in megabytes (10^6 bytes), the unit of the paper's Table 2."""
    return sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
