"""Training examples: fixed-length magnitude segments tiling each utterance of a feature cache.

Segments rather than whole utterances make batches of one shape and let an epoch see every frame once; the
last tile of an utterance is zero-padded, and the loss is told how much of it is real.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from rcnn_se.data.cache import FeatureCache


class SegmentDataset(Dataset):
    """(noisy, clean, valid frames) with magnitude segments [1, F, L] tiling each utterance; the last tile
    is zero-padded, and `valid frames` tells the loss how much of it is real."""

    def __init__(self, cache: FeatureCache, indices: Sequence[int], segment_frames: int) -> None:
        self.cache, self.segment_frames = cache, segment_frames
        self.tiles = [
            (i, start)
            for i in indices
            for start in range(0, max(cache.items[i].n_frames - segment_frames // 2, 1), segment_frames)
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def tile(self, magnitude: np.ndarray) -> torch.Tensor:
        """[1, F, segment_frames] from up to that many frames [F, T], zero-padded at the end."""
        if magnitude.shape[1] < self.segment_frames:
            magnitude = np.pad(magnitude, ((0, 0), (0, self.segment_frames - magnitude.shape[1])))
        return torch.from_numpy(np.ascontiguousarray(magnitude)).unsqueeze(0)

    def _segment(self, index: int, which: str, start: int) -> torch.Tensor:
        return self.tile(self.cache.magnitude(index, which, start, start + self.segment_frames))

    def noisy(self, index: int, start: int) -> torch.Tensor:
        """The noisy side of a tile: the corpus's mixture (data.remix draws a new one)."""
        return self._segment(index, "noisy", start)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, start = self.tiles[k]
        valid = min(self.segment_frames, self.cache.items[index].n_frames - start)
        return (
            self.noisy(index, start),
            self._segment(index, "clean", start),
            torch.tensor(valid, dtype=torch.long),
        )
