"""Multiply-accumulates of a convolutional network, counted from its conv layers and an input size.

Speed figures mean little as steps/s alone: a machine's matmul peak (GMAC/s) bounds what any step can reach,
so `make bench` reports training and inference as achieved GMAC/s against the peak measured in the same run,
and experiments/README.md projects long runs (the paper's 200 epochs) from the same counts.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_macs(model: nn.Module, freq_bins: int, frames: int) -> list[tuple[nn.Conv2d, int]]:
    """Forward MACs of each Conv2d for one [1, 1, freq_bins, frames] input, in the order they run.

    Counted from the real output shapes of one forward pass (hooks), so padding, stride and groups are
    whatever the layers do: MACs = output elements x (input channels / groups) x kernel area.
    """
    counts: list[tuple[nn.Conv2d, int]] = []

    def hook(layer: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        kh, kw = layer.kernel_size
        counts.append((layer, output.numel() * (layer.in_channels // layer.groups) * kh * kw))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, 1, freq_bins, frames, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return counts


def forward_macs(model: nn.Module, freq_bins: int, frames: int) -> int:
    """MACs of one forward pass over a [1, 1, freq_bins, frames] input (inference)."""
    return sum(macs for _, macs in conv_macs(model, freq_bins, frames))


def training_macs(model: nn.Module, freq_bins: int, frames: int) -> int:
    """MACs of one training step's forward and backward pass over one [1, 1, freq_bins, frames] item.

    Backward repeats each convolution's work twice, once for the weight gradient and once for the input
    gradient, except the first layer's input gradient, which nothing needs (the data take no gradient).
    """
    counts = conv_macs(model, freq_bins, frames)
    if not counts:
        return 0
    return 3 * sum(macs for _, macs in counts) - counts[0][1]
