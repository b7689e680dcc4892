"""`make bench`: speed figures of the framework, each against a reference measured in the same run.

(peak) matmul GMAC/s in fp32 and bf16 (torch.mm or oneDNN, the faster), on every core and on one thread
(a) data loading: memory-mapped cached features vs decoding + resampling + STFT of wavs, in segments/s
(b) training: Lightning's Trainer on the default job's system, GMAC/s as a share of its dtype's peak, in
    fp32 and bf16 autocast, channels-last and not; the DataLoader alone beside it
(c) inference: end-to-end RTF (wav in, wav out) and network-only RTF in fp32/bf16/int8 on 1 thread and
    every core; network-only for PyTorch, TorchScript, ONNX Runtime and the Wiener filter; with
    --checkpoint, the test-set quality of each precision
(d) test-set evaluation: metric workers on every core vs serial

The machine's cores may be shared and its CPU model changes between machines, so absolute figures move
from run to run; shares of the peak measured in the same run move much less. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from evaluation import bench_evaluation
from inference_e2e import bench_inference_e2e
from inference_net import bench_inference, bench_precision
from loading import bench_loading
from peak import Peaks, cpu_isa, cpu_model
from train_speed import bench_lightning

from rcnn_se.data.synth import DemoSpec, ensure_demo_corpus
from rcnn_se.training.quiet import silence_known_noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"))
    parser.add_argument("--steps", type=int, default=10, help="timed Lightning training steps per variant")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--eval-utterances", type=int, default=40)
    parser.add_argument("--checkpoint", type=Path, help="a trained RCNN: (c) also scores bf16/int8 quality")
    parser.add_argument("--parts", default="abcd", help="which of the parts (a)-(d) to run, e.g. 'cd'")
    parser.add_argument(
        "--train-overrides", nargs="*", default=[], help="Hydra overrides of the job (b) times"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each figure as it is measured, also into a log file
    silence_known_noise()  # the figures, without Lightning's tips between them
    cores = os.cpu_count() or 1
    print(
        f"machine: {cpu_model()}, {cpu_isa()}; {cores} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )
    peaks = Peaks()
    for threads in sorted({cores, 1}, reverse=True):
        peaks.report(threads)
    ensure_demo_corpus(args.corpus, DemoSpec())
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp)
        if "a" in args.parts:
            bench_loading(args.corpus, cache_dir)
        if "b" in args.parts:
            bench_lightning(peaks, args.steps, args.train_overrides)
        if "d" in args.parts:
            bench_evaluation(args.corpus, cache_dir, args.eval_utterances)
        if "c" in args.parts and args.checkpoint:
            bench_precision(args.corpus, cache_dir, args.checkpoint)
    if "c" in args.parts:
        bench_inference_e2e(args.corpus, peaks)
        bench_inference(args.corpus, args.seconds)
    print(f"(peak) best matmul GMAC/s of this run, the denominators of every share above: {peaks.summary()}")


if __name__ == "__main__":
    main()
