"""Per-utterance scores of the unprocessed noisy input: what every run's improvement is measured against.

A run logs, per utterance, each metric's gain over the noisy input (`delta.<metric>`), so a table can say
how much a model helped and not only where it ended. The noisy input of a test set never changes, so it is
scored once per test-set cache and metric set and kept as JSON in the cache folder; the file name carries a
hash of the metric code, so changing a metric scores the input again instead of serving stale numbers.
The noisy waveform is scored as written to a 16-bit file (`as_written`), like every enhanced output.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import Future
from pathlib import Path

from rcnn_se.data.audio import as_written
from rcnn_se.data.cache import FeatureCache
from rcnn_se.metrics.pool import MetricPool


def metrics_version() -> str:
    """A hash of the metric implementations' source: scores from other code are not reused."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parent.parent / "metrics").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class NoisyReference:
    """Scores of the noisy input for `indices` of `cache`: the cached ones at once, the rest submitted to
    `pool` on construction (so they run beside the enhanced utterances) and collected by `scores()`."""

    def __init__(self, cache: FeatureCache, indices: list[int], pool: MetricPool) -> None:
        kind = "full" if pool.full else "basic"
        self.path = cache.folder / f"noisy_scores_{kind}_{metrics_version()}.json"
        self.known: dict[str, dict[str, float]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )
        fs = cache.stft.sample_rate
        self.pending: list[tuple[str, Future]] = [
            (item.uid, pool.submit(cache.wave(i, "clean"), as_written(cache.wave(i, "noisy")), fs))
            for i, item in ((i, cache.items[i]) for i in indices)
            if item.uid not in self.known
        ]

    def scores(self) -> dict[str, dict[str, float]]:
        """uid -> scores; newly scored utterances are added to the cached file (written atomically, so
        concurrent jobs on one cache each leave a whole file)."""
        if self.pending:
            self.known.update({uid: future.result() for uid, future in self.pending})
            self.pending = []
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(handle, "w") as fh:
                json.dump(self.known, fh)
            os.replace(temporary, self.path)
        return self.known
