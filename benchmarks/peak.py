"""The machine's peak: GMAC/s of a large square matmul in fp32 and bf16, measured first in every bench run.

The CPU model behind these machines changes between runs (AVX512-BF16 without AMX on one, AMX on another)
and the cores may be shared, so a fixed target in GMAC/s would mean nothing: every other figure of the
bench is reported as a share of the peak measured in the same run, on the same thread count. The peak is
measured again beside each timed figure and the best rate seen is kept, so a moment of load elsewhere on
the machine lowers a figure but never raises its share.

The best alone can mislead the other way. On a 2-core AMX Xeon VM the bf16 rate of the same matmul, measured
back to back, held 200-240 GMAC/s for minutes and then ran 350-530 for a minute (2026-12-03): a burst the
VM's host grants, not the code. A figure timed outside such a burst then reads as a small share of it. So
the training figures also give the share of the peak measured just before and just after them (`beside`),
and the summary prints every measurement's range.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from rcnn_se.cpu import BF16_FLAGS, bf16_is_native

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_isa() -> str:
    """The vector ISA torch dispatches to (AVX2, AVX512, ...) and whether bf16 is native (AVX512-BF16 or
    AMX), as the `cpu_precision` resolver decides it: what picks fp32 or bf16 training and every peak
    below."""
    native = bf16_is_native()
    bf16 = f"native bf16 ({' or '.join(BF16_FLAGS)})" if native else "no native bf16 (bf16 is emulated)"
    return f"{torch.backends.cpu.get_cpu_capability()}, {bf16}"


def best_seconds(fn, repeat: int = 1) -> float:
    """Best wall time of `repeat` calls: the call least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gmacs(dtype: torch.dtype, n: int = 2048, repeat: int = 5) -> float:
    """GMAC/s of an n x n by n x n matmul (n^3 MACs) at the current torch thread count, best of `repeat`,
    by the faster of two libraries: torch.mm (BLAS; on AMD CPUs its fp32 path may skip AVX-512) and a
    1x1 convolution in oneDNN, which is the same matmul in the library the network's convolutions use."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: the library picks and caches its kernel on the first call
    blas = n**3 / best_seconds(lambda: torch.mm(a, b), repeat)
    conv = torch.nn.Conv2d(n // 2, n // 2, 1, bias=False).to(dtype).to(memory_format=torch.channels_last)
    x = torch.randn(1, n // 2, 64, 64).to(dtype).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        conv(x)
        onednn = 64 * 64 * (n // 2) ** 2 / best_seconds(lambda: conv(x), repeat)
    return max(blas, onednn) / 1e9


class Peaks:
    """The best matmul rate seen so far per (thread count, dtype name) in this run."""

    def __init__(self) -> None:
        self.best: dict[tuple[int, str], float] = {}
        self.seen: dict[tuple[int, str], list[float]] = {}

    def measure(self, dtype: str, threads: int | None = None, repeat: int = 3) -> float:
        """Measure `dtype`'s rate on `threads` threads (default: the current count) and return the best so
        far; the torch thread count is restored after."""
        before = torch.get_num_threads()
        threads = threads or before
        torch.set_num_threads(threads)
        try:
            rate = matmul_gmacs(DTYPES[dtype], repeat=repeat)
        finally:
            torch.set_num_threads(before)
        key = (threads, dtype)
        self.seen.setdefault(key, []).append(rate)
        self.best[key] = max(self.best.get(key, 0.0), rate)
        return self.best[key]

    def beside(self, dtype: str, timed, *args):
        """(timed(*args), the mean of the peaks measured just before and after it, the run's best after)."""
        self.measure(dtype)
        result = timed(*args)
        best = self.measure(dtype)
        local = sum(self.seen[(torch.get_num_threads(), dtype)][-2:]) / 2
        return result, local, best

    def report(self, threads: int) -> None:
        """Measure and print the peaks on `threads` threads: fp32, and bf16 where the CPU has it natively
        (emulated, a 2048^3 bf16 torch.mm takes tens of seconds a call on an AVX2-only EPYC)."""
        dtypes = DTYPES if bf16_is_native() else {"fp32": DTYPES["fp32"]}
        rates = {dtype: self.measure(dtype, threads, repeat=5) for dtype in dtypes}
        print(
            f"(peak) matmul (2048^3 in torch.mm, 4096x1024x1024 in oneDNN; the faster), {threads} thread(s): "
            + ", ".join(f"{name} {gmacs:.1f} GMAC/s" for name, gmacs in rates.items())
            + ("" if len(rates) == len(DTYPES) else " (bf16 not native here: not measured)")
        )

    def summary(self) -> str:
        """The run's best rates, the denominators of every share printed, and the range measured."""
        return ", ".join(
            f"{dtype} on {threads} thread(s) {rate:.1f} (measured {len(self.seen[(threads, dtype)])} times: "
            f"{min(self.seen[(threads, dtype)]):.0f}-{max(self.seen[(threads, dtype)]):.0f})"
            for (threads, dtype), rate in sorted(self.best.items())
        )
