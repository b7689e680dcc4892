"""(a) Data loading: memory-mapped cached features against decoding, resampling and STFT of the wavs."""

from __future__ import annotations

from pathlib import Path

from peak import best_seconds

from rcnn_se.data.audio import load_resampled
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.data.segments import SegmentDataset

SEGMENT = 64


def bench_loading(corpus: Path, cache_dir: Path) -> None:
    utts = scan_split(corpus, "train")
    cfg = StftConfig()
    t_build = best_seconds(lambda: build_cache(utts, cfg, cache_dir / "fresh", source_sample_rate=48000), 1)
    cache = build_cache(utts, cfg, cache_dir / "fresh", source_sample_rate=48000)
    dataset = SegmentDataset(cache, range(len(cache.items)), SEGMENT)

    def from_cache() -> None:
        for k in range(len(dataset)):
            dataset[k]

    def from_wavs() -> None:
        for u in utts:
            for path in (u.noisy_path, u.clean_path):
                mag = stft(load_resampled(path, cfg.sample_rate), cfg).abs()
                for start in range(0, max(mag.shape[1] - SEGMENT // 2, 1), SEGMENT):
                    mag[:, start : start + SEGMENT].contiguous()

    t_cache, t_wav = best_seconds(from_cache, 3), best_seconds(from_wavs, 2)
    n = len(dataset)
    print(f"(a) cache build (one-off, {len(utts)} utterances): {t_build:.2f} s")
    print(
        f"(a) loading: cached {n / t_cache:,.0f} segments/s, decoding wavs {n / t_wav:,.0f} segments/s, "
        f"ratio {t_wav / t_cache:.1f}x (target >= 10x)"
    )
