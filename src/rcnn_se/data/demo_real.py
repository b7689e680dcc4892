"""Real voices and real noises for the demo corpus's training split, from Debian's packages.

`DemoSpec.voices` chooses the training talkers: `synthetic` (flite and espeak-ng, the generator's own),
`debian` (the real talkers of `debian_audio`, screened like any corpus's clean side) or `mixed` (half the
training speech from each). `DemoSpec.real_noise` adds recorded sound effects to the ten noise generators
as four more training noise types. The test split keeps its synthetic talkers and noises either way, so the
demo test set stays one set across runs; what real voices change is read on the real-speech checks.

Real talkers keep their own ids (`tuxfr`, `kletml`, ...), so validation (the last two training speakers in
sorted order) holds out whole real talkers, as it holds out whole synthetic ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rcnn_se.data import debian_audio, recordings
from rcnn_se.data.audio import AudioError
from rcnn_se.data.corpus import CorpusError
from rcnn_se.data.noises import Noise

log = logging.getLogger(__name__)
# Training effects in four groups, each a noise type of the log (`rec-birds`, ...), by their folder.
NOISE_GROUPS = {"rec-birds": "animals/birds/", "rec-mammals": "animals/mammals/", "rec-music": "hobbies/"}
OTHER_NOISES = "rec-misc"  # the effects no group above takes


class DemoRealError(CorpusError):
    """Real voices or noises were asked for and cannot be had."""


def usable(voices: str, real_noise: bool) -> tuple[str, bool]:
    """The voices and noises a corpus can have here: without the Debian packages the generator falls back
    to its synthetic talkers and noises with a warning (a fresh machine without root still runs), and says
    so in its manifest, whose spec is the one actually built."""
    if (voices != "synthetic" or real_noise) and not debian_audio.available():
        log.warning("demo corpus: synthetic voices and noises only, since %s", debian_audio.missing_message())
        return "synthetic", False
    return voices, real_noise


def talker_utterances(n_utterances: int, seed: int, sr: int, min_s: float, max_s: float) -> dict[str, list]:
    """`n_utterances` utterances of the Debian talkers, made of their screened clips (see `recordings`),
    shared as evenly as each talker's screened speech allows."""
    found = debian_audio.talkers()
    if len(found) < 3:
        raise DemoRealError(f"{len(found)} Debian talkers found: {debian_audio.missing_message()}")
    share = -(-n_utterances // len(found))
    clips, left_out = recordings.screen(found, sr, enough_s=1.3 * max_s * share, seed=seed)
    log.info("demo corpus: %d Debian clips left out by screening", len(left_out))
    made = {}
    for talker in sorted(clips):
        rng = np.random.default_rng([seed, 12, *talker.encode()])
        made[talker] = [x for x, _ in recordings.utterances(clips[talker], rng, sr, min_s, max_s)]
    out, remaining = {}, n_utterances
    for k, talker in enumerate(sorted(made, key=lambda t: (len(made[t]), t))):  # the scarcest first
        take = min(len(made[talker]), remaining // (len(made) - k))
        out[talker], remaining = made[talker][:take], remaining - take
    if remaining:
        raise DemoRealError(
            f"the Debian talkers give {n_utterances - remaining} screened utterances, {n_utterances} needed"
        )
    return dict(sorted(out.items()))


def _group(path: Path) -> str:
    where = path.relative_to(debian_audio.TUXPAINT).as_posix()
    return next((name for name, prefix in NOISE_GROUPS.items() if where.startswith(prefix)), OTHER_NOISES)


def recorded_noises(sr: int) -> dict[str, Noise]:
    """The training sound effects as noise types: a random effect of the group, a random stretch of it."""
    pools: dict[str, list[np.ndarray]] = {name: [] for name in [*NOISE_GROUPS, OTHER_NOISES]}
    for path in debian_audio.sound_effects("train"):
        try:
            pools[_group(path)].append(recordings.load(path, sr))
        except AudioError as exc:  # one unusable effect (nandou.ogg is silent) costs only itself
            log.warning("demo corpus: sound effect left out: %s", exc)

    def noise(pool: list[np.ndarray]) -> Noise:
        return lambda rng, n, _sr: recordings.stretch(pool[int(rng.integers(len(pool)))], rng, n)

    return {name: noise(pool) for name, pool in pools.items() if pool}
