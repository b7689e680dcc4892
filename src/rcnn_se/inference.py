"""Fast CPU inference of a trained enhancer, for evaluation, `rcnn-se enhance` and deployment.

Three things make the paper-sized RCNN several times faster on a CPU than a plain forward pass, all
measured by `make bench` (part c):

* channels-last tensors, the layout oneDNN's convolutions run natively (no reorder per layer);
* blocks of about a second of frames (plus the receptive field's context on each side), so a layer's
  activations stay in the cache instead of streaming 54 x 257 x T floats through memory;
* optionally bfloat16 weights and activations, which CPUs with AMX or AVX512-BF16 multiply natively.

fp32 gives the plain forward pass's output up to float rounding; bf16 trades about three significant digits
of the network's output for speed, so it is opt-in and never used to score the test set.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from rcnn_se.data.features import StftConfig, compress, decompress
from rcnn_se.system import EnhancementSystem

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Layers that look at a bounded neighbourhood of frames: only stacks of these can be run in blocks.
LOCAL_LAYERS = (nn.Conv2d, nn.Dropout, nn.Identity, nn.ReLU, nn.ELU, nn.SELU, nn.PReLU)


def receptive_context(model: nn.Module) -> int:
    """Frames of context each side that a stack of 'same'-padded convolutions looks at."""
    return sum(
        (m.kernel_size[-1] - 1) // 2 * m.dilation[-1] for m in model.modules() if isinstance(m, nn.Conv2d)
    )


def bf16_is_native() -> bool:
    """True when oneDNN runs bfloat16 convolutions in hardware; elsewhere bf16 is emulated and slower."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class FastEnhancer:
    """Noisy magnitude [B, 1, F, T] -> enhanced magnitude, like `system.enhance_magnitude`, only faster.

    The system's network is copied (in eval mode, in `precision`), so the system itself is left untouched.
    Compression and decompression stay in float32; only the network runs in `precision`.
    """

    def __init__(
        self, system: EnhancementSystem, *, precision: str = "fp32", block_frames: int = 128
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: expected one of {sorted(PRECISIONS)}")
        if block_frames < 1:
            raise ValueError(f"block_frames={block_frames}: must be >= 1")
        leaves = [m for m in system.model.modules() if not list(m.children())]
        if not leaves or not all(isinstance(m, LOCAL_LAYERS) for m in leaves):
            raise ValueError(
                f"{type(system.model).__name__} is not a stack of convolutions: it cannot be run in blocks "
                "(baselines are fast as they are; use system.enhance_magnitude)"
            )
        self.dtype = PRECISIONS[precision]
        self.block_frames = block_frames
        self.compress = system.compress
        self.stft = StftConfig(**(system.hparams.get("stft") or {}))
        self.model = copy.deepcopy(system.model).eval().to(self.dtype).to(memory_format=torch.channels_last)
        self.context = receptive_context(self.model)

    @torch.inference_mode()
    def __call__(self, noisy_mag: torch.Tensor) -> torch.Tensor:
        if noisy_mag.dim() != 4 or noisy_mag.shape[1] != 1:
            raise ValueError(f"noisy magnitude of shape {tuple(noisy_mag.shape)}: expected [B, 1, F, T]")
        x = compress(noisy_mag.float(), self.compress)
        total = x.shape[-1]
        pieces = []
        for start in range(0, total, self.block_frames):
            stop = min(start + self.block_frames, total)
            lo, hi = max(0, start - self.context), min(total, stop + self.context)
            block = x[..., lo:hi].to(self.dtype).contiguous(memory_format=torch.channels_last)
            pieces.append(self.model(block)[..., start - lo : stop - lo].float())
        return decompress(torch.cat(pieces, dim=-1), self.compress)
