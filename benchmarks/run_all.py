"""`make bench`: speed figures of the framework, each with a baseline measured in the same run.

(a) data loading: memory-mapped cached features vs decoding + resampling + STFT of wavs, in segments/s
(b) training throughput of the paper-sized RCNN on the demo corpus, segments/s and time per epoch
(c) inference real-time factor on one thread: RCNN (PyTorch, TorchScript, ONNX Runtime, FastEnhancer fp32,
    bf16 and int8) vs the Wiener filter; with --checkpoint, also the test-set quality of each precision
(d) test-set evaluation: metric workers on every core vs serial

Targets (issue 4): (a) >= 10x, (c) RTF <= 0.01, (d) >= 1.7x on 2 cores. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from rcnn_se.data.audio import load_resampled
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.datamodule import SegmentDataset
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.data.synth import DemoSpec, ensure_demo_corpus
from rcnn_se.evaluate import evaluate, summarize
from rcnn_se.export import export_onnx, export_torchscript
from rcnn_se.inference import FastEnhancer, bf16_is_native
from rcnn_se.metric_pool import MetricPool
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.system import EnhancementSystem

SEGMENT = 64


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of `repeat` calls: the least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_loading(corpus: Path, cache_dir: Path) -> None:
    utts = scan_split(corpus, "train")
    cfg = StftConfig()
    t_build = timed(lambda: build_cache(utts, cfg, cache_dir / "fresh", source_sample_rate=48000))
    cache = build_cache(utts, cfg, cache_dir / "fresh", source_sample_rate=48000)
    dataset = SegmentDataset(cache, range(len(cache.items)), SEGMENT)

    def from_cache() -> None:
        for k in range(len(dataset)):
            dataset[k]

    def from_wavs() -> None:
        for u in utts:
            for path in (u.noisy_path, u.clean_path):
                mag = stft(load_resampled(path, 16000), cfg).abs()
                for start in range(0, max(mag.shape[1] - SEGMENT // 2, 1), SEGMENT):
                    mag[:, start : start + SEGMENT].contiguous()

    t_cache, t_wav = timed(from_cache, 3), timed(from_wavs, 2)
    n = len(dataset)
    print(f"(a) cache build (one-off, {len(utts)} utterances): {t_build:.2f} s")
    print(
        f"(a) loading: cached {n / t_cache:,.0f} segments/s, decoding wavs {n / t_wav:,.0f} segments/s, "
        f"ratio {t_wav / t_cache:.1f}x (target >= 10x)"
    )


def training_rate(
    batches: Iterator, steps: int, dtype: torch.dtype | None, layout: torch.memory_format
) -> float:
    """Segments/s of Adam steps on the paper RCNN; `dtype` set means autocast to it (bf16-mixed)."""
    torch.manual_seed(0)
    system = EnhancementSystem(SpectralCNN(), lambda params: torch.optim.Adam(params, lr=5e-4))
    system.to(memory_format=layout)
    optimizer = system.configure_optimizers()

    def step() -> None:
        noisy, clean = (t.contiguous(memory_format=layout) for t in next(batches)[:2])
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = torch.nn.functional.mse_loss(system(torch.log1p(noisy)), torch.log1p(clean))
        loss.backward()
        optimizer.step()

    step()  # warm-up
    return steps * 16 / timed(lambda: [step() for _ in range(steps)])


def bench_training(corpus: Path, cache_dir: Path, steps: int) -> None:
    """Plain fp32 against channels-last and bf16 autocast (what trainer.precision=bf16-mixed does on CPU)."""
    cache = build_cache(
        scan_split(corpus, "train"), StftConfig(), cache_dir / "fresh", source_sample_rate=48000
    )
    dataset = SegmentDataset(cache, range(len(cache.items)), SEGMENT)
    batches = itertools.cycle(torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True))
    cl, plain = torch.channels_last, torch.contiguous_format
    rates = {
        "fp32": training_rate(batches, steps, None, plain),
        "fp32 channels-last": training_rate(batches, steps, None, cl),
        "bf16 autocast": training_rate(batches, steps, torch.bfloat16, plain),
        "bf16 autocast channels-last": training_rate(batches, steps, torch.bfloat16, cl),
    }
    for name, rate in rates.items():
        print(
            f"(b) training, paper RCNN, {name}, batch 16 x {SEGMENT} frames, {torch.get_num_threads()} "
            f"threads: {rate:.1f} segments/s ({rate / rates['fp32']:.2f}x); "
            f"demo epoch of {len(dataset)} segments ~ {len(dataset) / rate:.0f} s"
        )


def noisy_spectra(corpus: Path, split: str, n: int) -> list[torch.Tensor]:
    """Noisy magnitudes [1, 1, F, T] of the split's first `n` utterances."""
    return [
        stft(load_resampled(u.noisy_path, 16000), StftConfig()).abs()[None, None]
        for u in scan_split(corpus, split)[:n]
    ]


def bench_inference(corpus: Path, seconds: float) -> None:
    torch.set_num_threads(1)
    frames = StftConfig().n_frames(int(16000 * seconds))
    x = torch.cat(noisy_spectra(corpus, "test", 40), dim=-1)[..., :frames]  # real noisy speech
    seconds = x.shape[-1] * 128 / 16000
    system = EnhancementSystem(SpectralCNN()).eval()
    wiener = Baseline("wiener")
    enhancer = system.enhancer()
    fast = {p: FastEnhancer(system, precision=p) for p in ("fp32", "bf16")}
    fast["int8"] = FastEnhancer(system, precision="int8", calibration=noisy_spectra(corpus, "train", 8))
    bf16 = "bf16" if bf16_is_native() else "bf16, emulated"
    with tempfile.TemporaryDirectory() as tmp:
        scripted = torch.jit.load(str(export_torchscript(system, Path(tmp) / "m.pt")))
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(export_onnx(system, Path(tmp) / "m.onnx")), options, providers=["CPUExecutionProvider"]
        )
        with torch.inference_mode():
            rows = {
                "RCNN (PyTorch)": timed(lambda: enhancer(x), 3),
                "RCNN (TorchScript)": timed(lambda: scripted(x), 3),
                "RCNN (ONNX Runtime)": timed(lambda: session.run(None, {"noisy_magnitude": x.numpy()}), 3),
                "RCNN (fast, fp32)": timed(lambda: fast["fp32"](x), 3),
                f"RCNN (fast, {bf16})": timed(lambda: fast["bf16"](x), 3),
                "RCNN (fast, int8)": timed(lambda: fast["int8"](x), 3),
                "Wiener (numpy)": timed(lambda: wiener(x), 3),
            }
    for name, t in rows.items():
        print(
            f"(c) inference RTF, 1 thread, {seconds:.1f} s of audio: {name:<21} "
            f"{t / seconds:.4f} (target <= 0.01)"
        )
    print(f"(c) RCNN PyTorch / Wiener time ratio: {rows['RCNN (PyTorch)'] / rows['Wiener (numpy)']:.1f}x")
    plain = rows["RCNN (PyTorch)"]
    print("(c) speed-up over the plain forward pass: " + ", ".join(
        f"{name.removeprefix('RCNN ')} {plain / t:.1f}x" for name, t in rows.items() if "fast" in name
    ))  # fmt: skip


def bench_precision(corpus: Path, cache_dir: Path, checkpoint: Path) -> None:
    """What bf16 and int8 cost in quality: the test-set metrics of a trained checkpoint per precision."""
    cache = build_cache(
        scan_split(corpus, "test"), StftConfig(), cache_dir / "fresh", source_sample_rate=48000
    )
    system = EnhancementSystem.from_checkpoint(checkpoint).eval()
    calibration = noisy_spectra(corpus, "train", 8)
    keys = ("pesq_wb", "stoi", "si_sdr", "nr", "sd")
    with MetricPool() as pool:
        for precision in ("fp32", "bf16", "int8"):
            enhancer = FastEnhancer(system, precision=precision, calibration=calibration)
            means = summarize(evaluate(enhancer, cache, pool=pool))
            print(
                f"(c) test-set quality, {precision}: "
                + ", ".join(f"{k} {means[f'test/{k}']:.4f}" for k in keys)
            )


def bench_evaluation(corpus: Path, cache_dir: Path, n: int) -> None:
    cache = build_cache(
        scan_split(corpus, "test"), StftConfig(), cache_dir / "fresh", source_sample_rate=48000
    )
    identity = Baseline("noisy")
    workers = os.cpu_count() or 1
    serial = timed(lambda: evaluate(identity, cache, workers=0, max_utterances=n), 3)
    cold = timed(lambda: evaluate(identity, cache, workers=workers, max_utterances=n), 2)
    system = EnhancementSystem(SpectralCNN()).eval()
    before = timed(lambda: evaluate(system.enhance_magnitude, cache, workers=0, max_utterances=n))
    with MetricPool(workers) as pool:  # started ahead, as a training job starts it before training
        evaluate(identity, cache, pool=pool, max_utterances=2 * workers)  # until every worker is up
        warm = timed(lambda: evaluate(identity, cache, pool=pool, max_utterances=n), 3)
        after = timed(lambda: evaluate(FastEnhancer(system), cache, pool=pool, max_utterances=n))
    print(
        f"(d) evaluation of {min(n, len(cache.items))} test utterances, full metric suite: "
        f"serial {serial:.2f} s"
    )
    print(
        f"(d) {workers} workers, pool started ahead as in a job: {warm:.2f} s, "
        f"speed-up {serial / warm:.2f}x (target >= 1.7x)"
    )
    print(
        f"(d) {workers} workers, pool start-up included: {cold:.2f} s, speed-up {serial / cold:.2f}x "
        f"(start-up ~ {cold - warm:.1f} s)"
    )
    print(
        f"(d) whole test phase with the paper RCNN: plain forward + serial metrics {before:.2f} s, "
        f"FastEnhancer + {workers} ready workers {after:.2f} s ({before / after:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--eval-utterances", type=int, default=40)
    parser.add_argument("--checkpoint", type=Path, help="a trained RCNN: (c) also scores bf16/int8 quality")
    parser.add_argument("--parts", default="abcd", help="which of the parts (a)-(d) to run, e.g. 'cd'")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    ensure_demo_corpus(args.corpus, DemoSpec())
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        if "a" in args.parts:
            bench_loading(args.corpus, cache_dir)
        if "b" in args.parts:
            bench_training(args.corpus, cache_dir, args.steps)
        if "d" in args.parts:
            bench_evaluation(args.corpus, cache_dir, args.eval_utterances)
        if "c" in args.parts and args.checkpoint:
            bench_precision(args.corpus, cache_dir, args.checkpoint)
    if "c" in args.parts:
        bench_inference(args.corpus, args.seconds)


if __name__ == "__main__":
    main()
