"""int8 post-training quantization of the spectral CNN, for CPU inference below a hundredth of real time.

Static quantization (PyTorch's eager-mode flow on the "x86" engine, oneDNN/FBGEMM kernels): weights per
output channel, activations per tensor with ranges observed on calibration spectra, and each convolution
fused with its ReLU so the pair is one int8 kernel. The skip connection and the final ReLU stay in float,
so the residual path adds the exact noisy input back.

Ranges come from data, so the calibration spectra should look like what will be enhanced (noisy speech at
the levels of use); a few seconds of it are enough for the per-tensor ranges of four layers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.ao.quantization as tq
from torch import nn

from rcnn_se.models.spectral_cnn import SpectralCNN


class QuantizableCNN(nn.Module):
    """The SpectralCNN with explicit integer padding (quantized convolutions reject 'same'), dropout dropped
    (identity at inference) and quant/dequant stubs around the convolution stack."""

    def __init__(self, model: SpectralCNN) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for m in model.body:
            if isinstance(m, nn.Conv2d):
                conv = nn.Conv2d(
                    m.in_channels, m.out_channels, m.kernel_size, padding=tuple(k // 2 for k in m.kernel_size)
                )
                conv.load_state_dict(m.state_dict())
                layers.append(conv)
            elif isinstance(m, nn.ReLU):
                layers.append(nn.ReLU())
            elif not isinstance(m, nn.Dropout):
                raise ValueError(
                    f"int8 needs ReLU activations (fused into the convolutions); this model has "
                    f"{type(m).__name__}: use precision=bf16 or fp32"
                )
        self.quant, self.body, self.dequant = tq.QuantStub(), nn.Sequential(*layers), tq.DeQuantStub()
        self.skip = model.skip
        self.final = copy.deepcopy(model.final)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dequant(self.body(self.quant(x)))
        return self.final(x + y if self.skip else y)


def quantize_int8(model: nn.Module, calibration: Iterable[torch.Tensor]) -> nn.Module:
    """An int8 copy of `model` (left untouched), with activation ranges observed on `calibration`: network
    inputs [B, 1, F, T] in the model's (compressed) domain."""
    if not isinstance(model, SpectralCNN):
        raise ValueError(f"int8 quantization supports SpectralCNN models, not {type(model).__name__}")
    if "x86" not in torch.backends.quantized.supported_engines:
        raise ValueError("int8 needs PyTorch's x86 quantized engine (missing in this build): use bf16")
    torch.backends.quantized.engine = "x86"
    q = QuantizableCNN(model).eval()
    pairs = [
        [str(i), str(i + 1)]
        for i, m in enumerate(q.body)
        if isinstance(m, nn.Conv2d) and i + 1 < len(q.body) and isinstance(q.body[i + 1], nn.ReLU)
    ]
    tq.fuse_modules(q.body, pairs, inplace=True)
    q.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(q, inplace=True)
    seen = 0
    with torch.inference_mode():
        for x in calibration:
            q(x.float())
            seen += 1
    if not seen:
        raise ValueError("int8 quantization needs calibration spectra (none were given)")
    return tq.convert(q, inplace=True)
