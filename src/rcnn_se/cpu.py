"""What the CPU computes in hardware, read without importing torch: the config resolvers ask it while Hydra
composes a config, and a config error should be answered before torch has loaded."""

from __future__ import annotations

from functools import cache
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # Linux's names for native bfloat16 dot products (x86)


@cache
def bf16_is_native() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX). torch's own check,
    `_is_mkldnn_bf16_supported`, also says yes on plain AVX-512, where oneDNN emulates bf16 more slowly than
    fp32; the kernel's flags say which. Off Linux, where /proc/cpuinfo is missing, torch's check is used."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        import torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return any(flag in flags for flag in BF16_FLAGS)
