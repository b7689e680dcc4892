"""The LightningDataModule: fixed-length magnitude segments for training, whole utterances for testing.

Training data are stratified by SNR condition (`snr=0|5|10|15|all`); validation holds out whole training
speakers; the test split is always complete so every run is scored on the same utterances. A corpus with
only the test split (as the test set is often shared on its own) serves baselines and checkpoint scoring;
asking it for training data is an error that says so. Sample rates are read from the files, and audio is
resampled to the STFT's rate only where it differs, so 16 kHz and 48 kHz copies of a corpus both work; a
pair at another rate than the rest of its split is named in a warning and counted in the run's params
(`data.n_odd_rate_pairs`), and a pair whose two files disagree is refused (rcnn_se.data.cache).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from rcnn_se.config.schema import SYSTEM
from rcnn_se.data.augment import equalize
from rcnn_se.data.cache import FeatureCache, build_cache
from rcnn_se.data.corpus import (
    SPLITS,
    CorpusError,
    Utterance,
    has_split,
    rate_census,
    scan_split,
    select_snr,
    split_by_speakers,
)
from rcnn_se.data.features import StftConfig
from rcnn_se.data.remix import RemixDataset
from rcnn_se.data.segments import SegmentDataset

log = logging.getLogger(__name__)


class EdinburghDataModule(L.LightningDataModule):
    def __init__(
        self,
        root: str,
        cache_dir: str,
        snr: str | float = SYSTEM.snr,
        val_speakers: int | str | list[str] = "auto",
        segment_frames: int = 64,
        batch_size: int = 16,
        num_workers: int | str = "auto",
        source_sample_rate: int | None = None,
        stft: dict | None = None,
        demo: dict | None = None,
        eq_augment_db: float = 0.0,
        remix: bool = False,
    ) -> None:
        """`eq_augment_db` > 0 passes every training pair through a random smooth frequency response of up to
        that many dB per band (rcnn_se.data.augment); `remix` gives every training segment a new noise stretch
        and SNR each time it is drawn (rcnn_se.data.remix). Validation and test data are never changed."""
        super().__init__()
        self.root, self.cache_dir = Path(root), Path(cache_dir)
        self.snr, self.val_speakers = snr, val_speakers
        self.segment_frames, self.batch_size, self.num_workers = segment_frames, batch_size, num_workers
        self.source_sample_rate = source_sample_rate
        self.stft = StftConfig(**(stft or {}))
        self.demo = demo
        self.eq_augment_db, self.remix = eq_augment_db, remix
        self.train_cache: FeatureCache | None = None
        self.test_cache: FeatureCache | None = None
        self.file_rates: list[int] = []  # every rate the splits' files have, for the run's params
        self.n_odd_rate_pairs = 0  # pairs at another rate than the rest of their split (RateCensus)

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
        self._count_rates({"test": test})
        return self.test_cache

    @property
    def has_train(self) -> bool:
        return has_split(self.root, "train")

    def setup(self, stage: str | None = None) -> None:
        if self.test_cache is None:
            test = scan_split(self.root, "test")
            self.test_cache = self._cache(test)
            self.train_indices, self.val_indices = [], []
            splits = {"test": test}
            if self.has_train:
                splits["train"] = train_all = scan_split(self.root, "train")
                self.train_cache = self._cache(train_all)  # checks every file before the census reads one
                train, val = split_by_speakers(train_all, self.val_speakers)
                train = select_snr(train, self.snr)
                val = select_snr(val, self.snr) if val else []
                self.train_indices = [self.train_cache.by_uid[u.uid] for u in train]
                self.val_indices = [self.train_cache.by_uid[u.uid] for u in val]
            self._count_rates(splits)

    def _count_rates(self, splits: dict[str, list[Utterance]]) -> None:
        """Every split's sample rates for the run's params, and a warning naming the pairs at another rate
        than the rest of their split: resampled like every file, but not to be trained on unnoticed."""
        censuses = [rate_census(utterances, split) for split, utterances in splits.items()]
        self.file_rates = sorted(set().union(*(census.rates for census in censuses)))
        self.n_odd_rate_pairs = sum(len(census.odd) for census in censuses)
        for census in censuses:
            warning = census.warning(self.stft.sample_rate)
            if warning:
                log.warning("data.root=%s: %s", self.root, warning)

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
        return self.num_workers

    def _loader(self, indices: Sequence[int], training: bool) -> DataLoader:
        """Training batches shuffled and, with `remix`, remixed (rcnn_se.data.remix); validation never."""
        assert self.test_cache is not None, "call setup() first"
        if self.train_cache is None:
            raise CorpusError(
                f"data.root={self.root} has no training split ({', '.join(SPLITS['train'])}): a test-only "
                "corpus scores baselines (model=wiener) and checkpoints (python eval.py), it cannot train"
            )
        workers = self._workers()
        return DataLoader(
            (RemixDataset if self.remix and training else SegmentDataset)(
                self.train_cache, indices, self.segment_frames
            ),
            batch_size=self.batch_size,
            shuffle=training,
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
        return self._loader(self.train_indices, training=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val_indices, training=False) if self.val_indices else []

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
            "data.n_odd_rate_pairs": self.n_odd_rate_pairs,
        }
