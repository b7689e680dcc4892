"""The LightningDataModule: fixed-length magnitude segments for training, whole utterances for testing.

Training data are stratified by SNR condition (`snr=0|5|10|15|all`); validation holds out whole training
speakers; the test split is always complete so every run is scored on the same utterances. A corpus with
only the test split (as the test set is often shared on its own) serves baselines and checkpoint scoring;
asking it for training data is an error that says so. Sample rates are read from the files, and audio is
resampled to the STFT's rate only where it differs, so 16 kHz and 48 kHz copies of a corpus both work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset

from rcnn_se.data.augment import equalize
from rcnn_se.data.cache import FeatureCache, build_cache
from rcnn_se.data.corpus import (
    SPLITS,
    CorpusError,
    Utterance,
    has_split,
    scan_split,
    select_snr,
    split_by_speakers,
)
from rcnn_se.data.features import StftConfig
from rcnn_se.errors import ConfigError


class SegmentDataset(Dataset):
    """(noisy, clean, valid frames) with magnitude segments [1, F, L] tiling each utterance; the last tile
    is zero-padded, and `valid frames` tells the loss how much of it is real."""

    def __init__(self, cache: FeatureCache, indices: Sequence[int], segment_frames: int) -> None:
        if segment_frames < 1:
            raise ConfigError(f"data.segment_frames={segment_frames}: must be >= 1")
        self.cache, self.segment_frames = cache, segment_frames
        self.tiles = [
            (i, start)
            for i in indices
            for start in range(0, max(cache.items[i].n_frames - segment_frames // 2, 1), segment_frames)
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def _segment(self, index: int, which: str, start: int) -> torch.Tensor:
        mag = self.cache.magnitude(index, which, start, start + self.segment_frames)
        if mag.shape[1] < self.segment_frames:
            mag = np.pad(mag, ((0, 0), (0, self.segment_frames - mag.shape[1])))
        return torch.from_numpy(mag).unsqueeze(0)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, start = self.tiles[k]
        valid = min(self.segment_frames, self.cache.items[index].n_frames - start)
        return (
            self._segment(index, "noisy", start),
            self._segment(index, "clean", start),
            torch.tensor(valid, dtype=torch.long),
        )


class EdinburghDataModule(L.LightningDataModule):
    def __init__(
        self,
        root: str | None,
        cache_dir: str,
        snr: str | float = "all",
        val_speakers: int | str | list[str] = "auto",
        segment_frames: int = 64,
        batch_size: int = 16,
        num_workers: int | str = "auto",
        source_sample_rate: int | None = None,
        stft: dict | None = None,
        demo: dict | None = None,
        eq_augment_db: float = 0.0,
    ) -> None:
        """`eq_augment_db` > 0 passes every training pair through a random smooth frequency response of up to
        that many dB per band (rcnn_se.data.augment); validation and test data are never changed."""
        super().__init__()
        if not root:
            raise ConfigError("data.root is not set: point it at the corpus (data.root=/data/DS_10283_2791)")
        self.root, self.cache_dir = Path(root), Path(cache_dir)
        self.snr, self.val_speakers = snr, val_speakers
        self.segment_frames, self.batch_size, self.num_workers = segment_frames, batch_size, num_workers
        self.source_sample_rate = source_sample_rate
        self.stft = StftConfig(**(stft or {}))
        self.demo = demo
        if eq_augment_db < 0:
            raise ConfigError(f"data.eq_augment_db={eq_augment_db}: must be >= 0 (0 = off)")
        self.eq_augment_db = eq_augment_db
        self.train_cache: FeatureCache | None = None
        self.test_cache: FeatureCache | None = None
        self.file_rates: list[int] = []  # as read from the files (first of each split), for the run's params

    def prepare_data(self) -> None:
        """Generate the demo corpus if this is the demo data config and it is missing; then build caches."""
        self._ensure_demo()
        for split in ("train", "test") if self.has_train else ("test",):
            self._cache(scan_split(self.root, split))

    def _ensure_demo(self) -> None:
        if self.demo is not None:
            from rcnn_se.data.synth import DemoSpec, ensure_demo_corpus

            ensure_demo_corpus(self.root, DemoSpec(**self.demo))

    def prepare_test(self) -> FeatureCache:
        """The test split's features alone, for scoring a trained model (eval.py): a training split, if
        the corpus has one, is neither read nor cached."""
        self._ensure_demo()
        test = scan_split(self.root, "test")
        self.test_cache = self._cache(test)
        self.file_rates = sorted({sf.info(str(test[0].clean_path)).samplerate})
        return self.test_cache

    @property
    def has_train(self) -> bool:
        return has_split(self.root, "train")

    def setup(self, stage: str | None = None) -> None:
        if self.test_cache is None:
            test = scan_split(self.root, "test")
            self.test_cache = self._cache(test)
            self.train_indices, self.val_indices = [], []
            self.file_rates = sorted({sf.info(str(test[0].clean_path)).samplerate})
            if self.has_train:
                train_all = scan_split(self.root, "train")
                self.train_cache = self._cache(train_all)  # checks every file before the line below reads one
                self.file_rates = sorted({*self.file_rates, sf.info(str(train_all[0].clean_path)).samplerate})
                train, val = split_by_speakers(train_all, self.val_speakers)
                train = select_snr(train, self.snr)
                val = select_snr(val, self.snr) if val else []
                self.train_indices = [self.train_cache.by_uid[u.uid] for u in train]
                self.val_indices = [self.train_cache.by_uid[u.uid] for u in val]

    def _cache(self, utterances: list[Utterance]) -> FeatureCache:
        return build_cache(utterances, self.stft, self.cache_dir, source_sample_rate=self.source_sample_rate)

    def _on_gpu(self) -> bool:
        trainer = getattr(self, "trainer", None)
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def _workers(self) -> int:
        """`num_workers: auto`: none on CPU, where batches come from the memory-mapped cache far faster than
        steps consume them and a worker would only take a core from the step (make bench, part b); up to
        4 on a GPU, where the step is fast and a batch must be ready on time."""
        if self.num_workers == "auto":
            return min(4, os.cpu_count() or 1) if self._on_gpu() else 0
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"data.num_workers={self.num_workers!r}: expected 'auto' or an integer >= 0")
        return self.num_workers

    def _loader(self, indices: Sequence[int], shuffle: bool) -> DataLoader:
        assert self.test_cache is not None, "call setup() first"
        if self.train_cache is None:
            raise CorpusError(
                f"data.root={self.root} has no training split ({', '.join(SPLITS['train'])}): a test-only "
                "corpus scores baselines (model=wiener) and checkpoints (python eval.py), it cannot train"
            )
        workers = self._workers()
        return DataLoader(
            SegmentDataset(self.train_cache, indices, self.segment_frames),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self._on_gpu(),  # page-locked batches copy to the GPU asynchronously
            drop_last=False,
        )

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, ...], dataloader_idx: int) -> tuple:
        """Augment training batches where they land (on the GPU when there is one). The model summary sends
        the system's bare example input through this hook too: only (noisy, clean, ...) pairs are changed."""
        trainer = getattr(self, "trainer", None)
        is_pair = isinstance(batch, (tuple, list)) and len(batch) >= 2
        if self.eq_augment_db > 0 and is_pair and trainer is not None and trainer.training:
            noisy, clean = equalize(batch[0], batch[1], self.eq_augment_db)
            return (noisy, clean, *batch[2:])
        return batch

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_indices, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_indices, shuffle=False) if self.val_indices else []

    @property
    def summary(self) -> dict[str, int | str | float]:
        """Counts worth logging with a run, so a table can say what data a number came from."""
        assert self.test_cache is not None, "call setup() first"
        train = self.train_cache
        val_speakers = sorted({train.items[i].speaker for i in self.val_indices}) if train else []
        return {
            "data.n_train_utterances": len(self.train_indices),
            "data.n_val_utterances": len(self.val_indices),
            "data.n_test_utterances": len(self.test_cache.items),
            "data.n_train_segments": (
                len(SegmentDataset(train, self.train_indices, self.segment_frames)) if train else 0
            ),
            "data.train_cache": str(train.folder) if train else "none (test-only corpus)",
            "data.val_speaker_ids": " ".join(val_speakers) or "none",
            "data.file_sample_rate": " ".join(str(r) for r in self.file_rates),
        }
