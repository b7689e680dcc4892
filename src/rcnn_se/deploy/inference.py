"""Fast CPU inference of a trained enhancer, for evaluation, `rcnn-se enhance` and deployment.

Three things make the paper-sized RCNN several times faster on a CPU than a plain forward pass, all
measured by `make bench` (part c):

* channels-last tensors, the layout oneDNN's convolutions run natively (no reorder per layer);
* blocks of about a second of frames (plus the receptive field's context on each side), so a layer's
  activations stay in the cache instead of streaming 54 x 257 x T floats through memory;
* optionally bfloat16 weights and activations, which CPUs with AMX or AVX512-BF16 multiply natively, or
  int8 (`rcnn_se.deploy.quantize`: static quantization calibrated on example spectra, convolutions fused with
  their ReLUs).

fp32 gives the plain forward pass's output up to float rounding; bf16 and int8 trade two to three
significant digits of the network's output for speed, so they are opt-in and never used to score the test
set (their effect on the metrics is measured and reported instead).

What a user waits for is the whole path, not the network: enhancing a file end to end (read wav, resample
to 16 kHz, STFT, this enhancer, ISTFT, resample back, write wav) ran at RTF 0.025-0.032 in int8, 0.052-0.066
in bf16 and 0.17-0.19 in fp32 on one thread (two `make bench` runs), of which the enhancer took 0.021-0.025,
0.043-0.051 and 0.15-0.16; on both cores int8 ran at 0.019-0.022 (40 noisy demo test files, 126 s of 48 kHz
audio, an idle 2-core Intel Xeon with AMX whose speed varies from run to run, 2026-12-03; `make bench`, part
c, prints both beside the machine's matmul peak). On an AMD EPYC with AVX512-BF16 and no AMX, before int8's
channels were padded, int8 ran at 0.042 end to end.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from rcnn_se.data.audio import resample
from rcnn_se.data.features import StftConfig, enhance_waveform
from rcnn_se.deploy.quantize import quantize_int8
from rcnn_se.training.system import EnhancementSystem, SpectralEnhancer

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}  # int8: float in/out
# Layers that look at a bounded neighbourhood of frames: only stacks of these can be run in blocks.
LOCAL_LAYERS = (nn.Conv2d, nn.Dropout, nn.Identity, nn.ReLU, nn.ELU, nn.SELU, nn.PReLU)


def blockable(model: nn.Module) -> bool:
    """Whether `model` is a stack of local layers (convolutions, pointwise activations) whose output at a
    frame depends only on the frames its receptive field reaches: what block-by-block runs need."""
    if getattr(model, "context_frames", None) is not None:  # a network of another kind that says so
        return True
    leaves = [m for m in model.modules() if not list(m.children())]
    return bool(leaves) and all(isinstance(m, LOCAL_LAYERS) for m in leaves)


def receptive_context(model: nn.Module) -> int:
    """Frames of context each side that the network looks at: what it declares as `context_frames` (a
    model family of another kind makes itself runnable in blocks that way), else what its stack of
    'same'-padded convolutions reaches."""
    if getattr(model, "context_frames", None) is not None:
        return int(model.context_frames)
    return sum(
        (m.kernel_size[-1] - 1) // 2 * m.dilation[-1] for m in model.modules() if isinstance(m, nn.Conv2d)
    )


def block_spans(total: int, block_frames: int, context: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, stop) of each block's output frames and (lo, hi) of the input frames it needs."""
    for start in range(0, total, block_frames):
        stop = min(start + block_frames, total)
        yield start, stop, max(0, start - context), min(total, stop + context)


class BlockedNetwork(nn.Module):
    """A stack of 'same'-padded convolutions run over blocks of `block_frames` frames, each with the
    `context` frames on either side that its receptive field reaches: the whole input's output, in
    cache-sized pieces, in `dtype` and channels-last. Float32 in and out, whatever `dtype` is."""

    def __init__(self, network: nn.Module, context: int, block_frames: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.network, self.context, self.block_frames, self.dtype = network, context, block_frames, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"noisy magnitude of shape {tuple(x.shape)}: expected [B, 1, F, T]")
        pieces = []
        for start, stop, lo, hi in block_spans(x.shape[-1], self.block_frames, self.context):
            block = x[..., lo:hi].to(self.dtype).contiguous(memory_format=torch.channels_last)
            pieces.append(self.network(block)[..., start - lo : stop - lo].float())
        return torch.cat(pieces, dim=-1)


def fast_enhancer(
    system: EnhancementSystem,
    *,
    precision: str = "fp32",
    block_frames: int = 128,
    calibration: Iterable[torch.Tensor] | None = None,
) -> SpectralEnhancer:
    """The system's enhancer (`system.enhancer()`: the same compression, decompression and gain bounds, in
    float32) around a `BlockedNetwork` copy of its network in `precision`; the system is left untouched.
    int8 needs `calibration`: noisy magnitudes [B, 1, F, T] like those to be enhanced."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {sorted(PRECISIONS)}")
    if block_frames < 1:
        raise ValueError(f"block_frames={block_frames}: must be >= 1")
    if not blockable(system.model):
        raise ValueError(
            f"{type(system.model).__name__} is not a stack of convolutions: it cannot be run in blocks "
            "(baselines are fast as they are; use system.enhancer())"
        )
    context = receptive_context(system.model)
    if precision == "int8":
        if calibration is None:
            raise ValueError("precision='int8' needs calibration spectra (noisy magnitudes)")
        to_network = system.enhancer().to_network
        blocks = (  # network inputs as inference feeds them: compressed, in blocks with their context
            x[..., lo:hi]
            for x in (to_network(mag.float()) for mag in calibration)
            for _, _, lo, hi in block_spans(x.shape[-1], block_frames, context)
        )
        network = quantize_int8(system.model, blocks)
    else:
        network = copy.deepcopy(system.model).eval().to(PRECISIONS[precision])
    network = network.requires_grad_(False).to(memory_format=torch.channels_last)
    return system.enhancer(BlockedNetwork(network, context, block_frames, PRECISIONS[precision]))


def fp32_enhancer(system: EnhancementSystem) -> SpectralEnhancer:
    """The fastest float32 enhancer of `system` with the plain forward pass's output: its network in
    cache-sized channels-last blocks (`fast_enhancer`, ~1.6x sooner, make bench) where it is a convolution
    stack; a baseline, or a network of another kind, as it is."""
    return fast_enhancer(system) if blockable(system.model) else system.enhancer()


def enhance_recording(
    enhancer: SpectralEnhancer, samples: np.ndarray, sample_rate: int, cfg: StftConfig
) -> np.ndarray:
    """`enhance_waveform` for audio at any rate and length, as `rcnn-se enhance` and the logged MLflow model
    take it: resampled to the model's rate (`cfg`, the STFT settings it was trained with) and back. Inputs
    shorter than one FFT frame are padded with silence to a frame (the STFT's reflection padding needs that
    much) and cut back afterwards."""
    wave = torch.from_numpy(resample(samples, sample_rate, cfg.sample_rate))
    length = len(wave)
    wave = torch.nn.functional.pad(wave, (0, max(0, cfg.n_fft - length)))
    out = enhance_waveform(enhancer, wave, cfg).wave.numpy()[:length]
    out = resample(out, cfg.sample_rate, sample_rate)
    return np.pad(out, (0, max(0, len(samples) - len(out))))[: len(samples)]
