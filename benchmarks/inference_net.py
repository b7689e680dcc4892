"""(c) Network-only inference: the network path on precomputed magnitudes, not enhancing a file.

PyTorch, TorchScript, ONNX Runtime and the fast enhancer (fp32, bf16, int8) against the Wiener filter, on
one thread; with a trained checkpoint, also the test-set quality of each precision, on features made with
the checkpoint's own STFT settings. End-to-end figures (what a user waits for per file) are
benchmarks/inference_e2e.py's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from peak import best_seconds

from rcnn_se.cpu import bf16_is_native
from rcnn_se.data.audio import load_resampled
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.deploy.export import export_onnx, export_torchscript
from rcnn_se.deploy.inference import fast_enhancer
from rcnn_se.evaluation.scoring import evaluate, summarize
from rcnn_se.metrics.pool import MetricPool
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem


def noisy_spectra(corpus: Path, split: str, n: int, cfg: StftConfig) -> list[torch.Tensor]:
    """Noisy magnitudes [1, 1, F, T] of the split's first `n` utterances, as the STFT `cfg` makes them."""
    return [
        stft(load_resampled(u.noisy_path, cfg.sample_rate), cfg).abs()[None, None]
        for u in scan_split(corpus, split)[:n]
    ]


def bench_inference(corpus: Path, seconds: float) -> None:
    torch.set_num_threads(1)
    system = EnhancementSystem(SpectralCNN()).eval()
    cfg = system.stft_config
    frames = cfg.n_frames(int(cfg.sample_rate * seconds))
    x = torch.cat(noisy_spectra(corpus, "test", 40, cfg), dim=-1)[..., :frames]  # real noisy speech
    seconds = x.shape[-1] / cfg.frames_per_second
    wiener = Baseline("wiener", cfg.as_dict())
    enhancer = system.enhancer()
    fast = {p: fast_enhancer(system, precision=p) for p in ("fp32", "bf16")}
    calibration = noisy_spectra(corpus, "train", 8, cfg)
    fast["int8"] = fast_enhancer(system, precision="int8", calibration=calibration)
    bf16 = "bf16" if bf16_is_native() else "bf16, emulated"
    with tempfile.TemporaryDirectory() as tmp:
        scripted = torch.jit.load(str(export_torchscript(system, Path(tmp) / "m.pt")))
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            str(export_onnx(system, Path(tmp) / "m.onnx")), options, providers=["CPUExecutionProvider"]
        )
        feed = {"noisy_magnitude": x.numpy()}
        with torch.inference_mode():
            rows = {
                "RCNN (PyTorch)": best_seconds(lambda: enhancer(x), 3),
                "RCNN (TorchScript)": best_seconds(lambda: scripted(x), 3),
                "RCNN (ONNX Runtime)": best_seconds(lambda: session.run(None, feed), 3),
                "RCNN (fast, fp32)": best_seconds(lambda: fast["fp32"](x), 3),
                f"RCNN (fast, {bf16})": best_seconds(lambda: fast["bf16"](x), 3),
                "RCNN (fast, int8)": best_seconds(lambda: fast["int8"](x), 3),
                "Wiener (numpy)": best_seconds(lambda: wiener(x), 3),
            }
    for name, t in rows.items():
        print(
            f"(c) network-only RTF (precomputed magnitudes), 1 thread, {seconds:.1f} s of audio: {name:<21} "
            f"{t / seconds:.4f}"
        )
    print(f"(c) RCNN PyTorch / Wiener time ratio: {rows['RCNN (PyTorch)'] / rows['Wiener (numpy)']:.1f}x")
    plain = rows["RCNN (PyTorch)"]
    print("(c) speed-up over the plain forward pass: " + ", ".join(
        f"{name.removeprefix('RCNN ')} {plain / t:.1f}x" for name, t in rows.items() if "fast" in name
    ))  # fmt: skip


def bench_precision(corpus: Path, cache_dir: Path, checkpoint: Path) -> None:
    """What bf16 and int8 cost in quality: the test-set metrics of a trained checkpoint per precision, on
    features made with the checkpoint's STFT settings (as eval.py makes them)."""
    system = EnhancementSystem.from_checkpoint(checkpoint).eval()
    cache = build_cache(
        scan_split(corpus, "test"), system.stft_config, cache_dir / "fresh", source_sample_rate=48000
    )
    calibration = noisy_spectra(corpus, "train", 8, system.stft_config)
    keys = ("pesq_wb", "stoi", "si_sdr", "nr", "sd")
    with MetricPool() as pool:
        for precision in ("fp32", "bf16", "int8"):
            enhancer = fast_enhancer(system, precision=precision, calibration=calibration)
            means = summarize(evaluate(enhancer, cache, pool=pool))
            print(
                f"(c) test-set quality, {precision}: "
                + ", ".join(f"{k} {means[f'test/{k}']:.4f}" for k in keys)
            )
