"""Fast CPU inference of a trained enhancer, for evaluation, `rcnn-se enhance` and deployment.

Three things make the paper-sized RCNN several times faster on a CPU than a plain forward pass, all
measured by `make bench` (part c):

* channels-last tensors, the layout oneDNN's convolutions run natively (no reorder per layer);
* blocks of about a second of frames (plus the receptive field's context on each side), so a layer's
  activations stay in the cache instead of streaming 54 x 257 x T floats through memory;
* optionally bfloat16 weights and activations, which CPUs with AMX or AVX512-BF16 multiply natively, or
  int8 (`rcnn_se.quantize`: static quantization calibrated on example spectra, convolutions fused with
  their ReLUs).

fp32 gives the plain forward pass's output up to float rounding; bf16 and int8 trade two to three
significant digits of the network's output for speed, so they are opt-in and never used to score the test
set (their effect on the metrics is measured and reported instead).

What a user waits for is the whole path, not the network: enhancing a file end to end (read wav, resample
to 16 kHz, STFT, this class, ISTFT, resample back, write wav) ran at RTF 0.024 in int8, 0.054 in bf16 and
0.147 in fp32 on one thread, of which this class took 0.019, 0.039 and 0.095 (40 noisy demo test files,
126 s of 48 kHz audio, 2-core AMD EPYC with AVX512-BF16 shared with other jobs, 2026-12-02; `make bench`,
part c, prints both beside the machine's matmul peak).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from rcnn_se.quantize import quantize_int8
from rcnn_se.system import EnhancementSystem

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}  # int8: float in/out
# Layers that look at a bounded neighbourhood of frames: only stacks of these can be run in blocks.
LOCAL_LAYERS = (nn.Conv2d, nn.Dropout, nn.Identity, nn.ReLU, nn.ELU, nn.SELU, nn.PReLU)


def receptive_context(model: nn.Module) -> int:
    """Frames of context each side that a stack of 'same'-padded convolutions looks at."""
    return sum(
        (m.kernel_size[-1] - 1) // 2 * m.dilation[-1] for m in model.modules() if isinstance(m, nn.Conv2d)
    )


class FastEnhancer:
    """Noisy magnitude [B, 1, F, T] -> enhanced magnitude, like `system.enhancer()`, only faster.

    The system's network is copied (in eval mode, in `precision`), so the system itself is left untouched.
    Compression and decompression stay in float32; only the network runs in `precision`. int8 needs
    `calibration`: noisy magnitudes [B, 1, F, T] like those to be enhanced.
    """

    def __init__(
        self,
        system: EnhancementSystem,
        *,
        precision: str = "fp32",
        block_frames: int = 128,
        calibration: Iterable[torch.Tensor] | None = None,
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
        self.path = system.enhancer()  # compression, decompression and the gain floor stay in float32
        self.stft = system.stft_config
        self.context = receptive_context(system.model)
        if precision == "int8":
            if calibration is None:
                raise ValueError("precision='int8' needs calibration spectra (noisy magnitudes)")
            self.model = quantize_int8(system.model, self._blocks(calibration))
        else:
            self.model = copy.deepcopy(system.model).eval().to(self.dtype)
        self.model = self.model.to(memory_format=torch.channels_last)

    def _spans(self, total: int) -> Iterator[tuple[int, int, int, int]]:
        """(start, stop) of each block's output frames and (lo, hi) of the input frames it needs."""
        for start in range(0, total, self.block_frames):
            stop = min(start + self.block_frames, total)
            yield start, stop, max(0, start - self.context), min(total, stop + self.context)

    def _blocks(self, magnitudes: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Network inputs as inference feeds them: compressed, in blocks with their context."""
        for mag in magnitudes:
            x = self.path.to_network(mag.float())
            for _, _, lo, hi in self._spans(x.shape[-1]):
                yield x[..., lo:hi]

    @torch.inference_mode()
    def __call__(self, noisy_mag: torch.Tensor) -> torch.Tensor:
        if noisy_mag.dim() != 4 or noisy_mag.shape[1] != 1:
            raise ValueError(f"noisy magnitude of shape {tuple(noisy_mag.shape)}: expected [B, 1, F, T]")
        noisy_mag = noisy_mag.float()
        x = self.path.to_network(noisy_mag)
        pieces = []
        for start, stop, lo, hi in self._spans(x.shape[-1]):
            block = x[..., lo:hi].to(self.dtype).contiguous(memory_format=torch.channels_last)
            pieces.append(self.model(block)[..., start - lo : stop - lo].float())
        return self.path.from_network(torch.cat(pieces, dim=-1), noisy_mag)
