"""A memory-mapped cache of resampled waveforms and STFT magnitudes, one per corpus split and STFT setup.

Decoding 48 kHz wavs, resampling and taking STFTs every epoch would dominate a CPU run; the cache does it
once. Its key hashes the corpus fingerprint (paths, sizes, mtimes, labels) and the STFT configuration, so
editing either builds a new cache instead of serving stale features. A build goes to a temporary folder
that is renamed into place only when complete, so an interrupted build is never mistaken for a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from rcnn_se.data.audio import AudioError, read_wav, resample
from rcnn_se.data.corpus import Utterance, fingerprint
from rcnn_se.data.features import StftConfig, stft

CACHE_VERSION = 1
ARRAYS = ("clean_wave", "noisy_wave", "clean_mag", "noisy_mag")


@dataclass(frozen=True)
class CachedUtterance:
    uid: str
    speaker: str
    noise: str
    snr: float
    wave_start: int
    wave_len: int
    frame_start: int
    n_frames: int


class FeatureCache:
    """Read-only view of a built cache; arrays are memory-mapped, so workers share pages instead of copies."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta = json.loads((folder / "index.json").read_text())
        self.stft = StftConfig(**meta["stft"])
        self.items = [CachedUtterance(**item) for item in meta["utterances"]]
        self.by_uid = {item.uid: i for i, item in enumerate(self.items)}
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:  # opened lazily so the object pickles cheaply into DataLoader workers
            self._arrays[name] = np.load(self.folder / f"{name}.npy", mmap_mode="r")
        return self._arrays[name]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": {}}

    def wave(self, index: int, which: str) -> np.ndarray:
        item = self.items[index]
        return np.array(self.array(f"{which}_wave")[item.wave_start : item.wave_start + item.wave_len])

    def magnitude(self, index: int, which: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Magnitude frames [F, T] of one utterance (or a frame range of it)."""
        item = self.items[index]
        stop = item.n_frames if stop is None else min(stop, item.n_frames)
        rows = self.array(f"{which}_mag")[item.frame_start + start : item.frame_start + stop]
        return np.ascontiguousarray(rows.T)


def cache_key(utterances: Sequence[Utterance], cfg: StftConfig, source_sample_rate: int | None) -> str:
    payload = json.dumps(
        {
            "v": CACHE_VERSION,
            "corpus": fingerprint(utterances),
            "stft": cfg.as_dict(),
            "sr": source_sample_rate,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _check_pair(u: Utterance, source_sample_rate: int | None) -> tuple[int, int]:
    """(samples, rate) of a pair, refusing pairs that disagree before anything is written."""
    infos = []
    for path in (u.clean_path, u.noisy_path):
        try:
            infos.append(sf.info(str(path)))
        except Exception as exc:
            raise AudioError(f"{path}: cannot be read as audio ({exc})") from exc
    (clean, noisy) = infos
    for path, info in zip((u.clean_path, u.noisy_path), infos, strict=True):
        if source_sample_rate is not None and info.samplerate != source_sample_rate:
            raise AudioError(
                f"{path}: sample rate {info.samplerate} Hz, but data.source_sample_rate={source_sample_rate}"
            )
    if clean.samplerate != noisy.samplerate:
        raise AudioError(
            f"{u.noisy_path}: sample rate {noisy.samplerate} Hz differs from its clean partner "
            f"{u.clean_path} ({clean.samplerate} Hz)"
        )
    if clean.frames != noisy.frames:
        raise AudioError(
            f"{u.noisy_path}: {noisy.frames} samples but its clean partner {u.clean_path} has {clean.frames}"
        )
    return clean.frames, clean.samplerate


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Utterances are decoded, resampled and transformed on a thread each (torch and libsndfile release the
    GIL); torch's own threads on top of those oversubscribe the cores: 2 threads each on 2 cores made the
    resampling and STFT of one utterance 3-10x slower than 1 thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_cache(
    utterances: Sequence[Utterance],
    cfg: StftConfig,
    cache_root: str | Path,
    *,
    source_sample_rate: int | None = None,
) -> FeatureCache:
    """Return the cache for these utterances, building it first if it does not exist yet."""
    cache_root = Path(cache_root)
    folder = cache_root / cache_key(utterances, cfg, source_sample_rate)
    if (folder / "index.json").is_file():
        return FeatureCache(folder)
    shapes = [_check_pair(u, source_sample_rate) for u in utterances]
    lengths = [-(-n * cfg.sample_rate // sr) for n, sr in shapes]  # torchaudio's resampled length: ceil
    frames = [cfg.n_frames(n) for n in lengths]
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=cache_root))
    try:
        waves = {
            w: np.lib.format.open_memmap(tmp / f"{w}_wave.npy", "w+", np.float32, (sum(lengths),))
            for w in ("clean", "noisy")
        }
        mags = {
            w: np.lib.format.open_memmap(tmp / f"{w}_mag.npy", "w+", np.float32, (sum(frames), cfg.n_bins))
            for w in ("clean", "noisy")
        }
        wave_at = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
        frame_at = np.concatenate([[0], np.cumsum(frames)[:-1]]).astype(int)

        def write(k: int) -> None:  # each utterance fills its own slices of the arrays
            u, n, t = utterances[k], lengths[k], frames[k]
            for which, path in (("clean", u.clean_path), ("noisy", u.noisy_path)):
                samples, sr = read_wav(path)
                wave = resample(samples, sr, cfg.sample_rate)
                waves[which][wave_at[k] : wave_at[k] + n] = wave
                mags[which][frame_at[k] : frame_at[k] + t] = stft(torch.from_numpy(wave), cfg).abs().T.numpy()

        pool = ThreadPoolExecutor(os.cpu_count() or 1)
        try:
            with one_torch_thread():
                list(pool.map(write, range(len(utterances))))
        finally:  # a broken file or Ctrl-C stops the build after the utterances in hand
            pool.shutdown(cancel_futures=True)
        items = [
            CachedUtterance(u.uid, u.speaker, u.noise, u.snr, int(w), n, int(f), t).__dict__
            for u, n, t, w, f in zip(utterances, lengths, frames, wave_at, frame_at, strict=True)
        ]
        for arr in (*waves.values(), *mags.values()):
            arr.flush()
        waves.clear()  # the memmaps close before the folder is renamed
        mags.clear()
        meta = {"version": CACHE_VERSION, "stft": cfg.as_dict(), "utterances": items}
        (tmp / "index.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same cache first: theirs is as good as ours
            if not (folder / "index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FeatureCache(folder)
