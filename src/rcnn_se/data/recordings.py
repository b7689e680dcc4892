"""Real recordings as corpus material: talkers' clips found by a pattern, screened and joined into
utterances; noise recordings cut into stretches.

Users' speech comes as folders in a corpus's own naming (LibriSpeech `<spk>-<chapter>-<utt>.flac`, VCTK
`pNNN_NNN.wav`, or a folder per talker), at any rate and channel count; the corpus builder
(`rcnn_se.data.make_corpus`) and the demo corpus's real voices (`rcnn_se.data.debian_audio`) both read them
through this module, so the rules (what a talker is, which recording is clean enough to be a target, how
short clips become an utterance) are written once.

A recording whose quietest frames sit close to its speech level carries a room or a hiss that a model would
learn to keep: as a clean target it teaches the wrong thing. Screening measures each clip's floor (the 5th
percentile of its 20 ms frame levels) against its active speech level (ITU-T P.56) and leaves out clips over
the threshold, saying so.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcnn_se.data.audio import AudioError, read_wav, resample
from rcnn_se.data.noises import recording_floor
from rcnn_se.data.speech import active_power
from rcnn_se.errors import UserError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
TALKER_PATTERNS = {
    # name: a regular expression on the path relative to the folder given, with a group named `talker`
    "librispeech": r"(?:^|/)(?P<talker>\d+)-\d+-\d+\.[a-z0-9]+$",
    "vctk": r"(?:^|/)(?P<talker>p\d+)_\d+(?:_mic\d)?\.[a-z0-9]+$",
    "folder": r"(?:^|/)(?P<talker>[^/]+)/[^/]+$",
}
LEVEL_DB = -26.0  # active speech level of every clip, as VoiceBank's and the demo's talkers
MAX_FLOOR_DB = -25.0  # a clean target's floor must sit at least this far under its speech level
PAUSE_S = (0.15, 0.45)  # pauses between joined clips, as between the words of read speech


class RecordingError(UserError):
    """A folder, pattern or recording that cannot serve as corpus material; the message names it."""


@dataclass(frozen=True)
class Clip:
    """One screened recording of a talker, at the working rate and the common level."""

    path: str
    talker: str
    samples: np.ndarray
    floor_db: float  # floor under the active level, dB (negative)


def talker_regex(pattern: str) -> re.Pattern[str]:
    """A named pattern (librispeech, vctk, folder) or a regular expression with a `talker` group."""
    text = TALKER_PATTERNS.get(pattern, pattern)
    try:
        regex = re.compile(text)
    except re.error as exc:
        raise RecordingError(f"talker pattern {pattern!r}: not a regular expression ({exc})") from None
    if "talker" not in regex.groupindex:
        raise RecordingError(
            f"talker pattern {pattern!r}: needs a group named 'talker', e.g. {TALKER_PATTERNS['vctk']!r} "
            f"(or one of {', '.join(TALKER_PATTERNS)})"
        )
    return regex


def audio_files(folder: str | Path) -> list[Path]:
    """Every wav, flac and ogg file under `folder`, sorted; an error when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: no such folder")
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not found:
        raise RecordingError(f"{folder}: holds no audio file ({', '.join(AUDIO_SUFFIXES)})")
    return found


def safe_id(name: str) -> str:
    """A name as the Edinburgh layout carries it: no '_' (it ends the speaker id) and no spaces."""
    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-")
    if not cleaned:
        raise RecordingError(f"{name!r}: gives an empty id")
    return cleaned


def talkers_in(folders: Iterable[str | Path], pattern: str) -> dict[str, list[Path]]:
    """Files per talker id, by `pattern` on each file's path relative to its folder."""
    regex = talker_regex(pattern)
    talkers: dict[str, list[Path]] = {}
    for folder in folders:
        files = audio_files(folder)
        matched = 0
        for path in files:
            found = regex.search(path.relative_to(folder).as_posix())
            if found and found.group("talker"):
                talkers.setdefault(safe_id(found.group("talker")), []).append(path)
                matched += 1
        if not matched:
            raise RecordingError(
                f"{folder}: talker pattern {pattern!r} matches none of its {len(files)} audio files "
                f"(first: {files[0].relative_to(folder).as_posix()})"
            )
    return talkers


def load(path: str | Path, sr: int) -> np.ndarray:
    """A recording as float64 mono at `sr` (channels averaged); silence-only files are refused."""
    samples, rate = read_wav(path, mono=False)
    x = resample(samples, rate, sr).astype(np.float64)
    x -= x.mean()
    if not np.any(np.abs(x) > 1e-5):
        raise AudioError(f"{path}: holds only silence")
    return x


def floor_db(x: np.ndarray, sr: int) -> float:
    """The 5th-percentile 20 ms frame level under the active speech level, in dB."""
    frame = sr // 50
    n = len(x) // frame
    if n < 5:
        return -120.0
    levels = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = active_power(x, sr)
    return float(10 * math.log10(max(np.percentile(levels, 5), 1e-12) / max(active, 1e-12)))


def leveled(x: np.ndarray, sr: int, level_db: float = LEVEL_DB) -> np.ndarray:
    return x * (10 ** (level_db / 20) / max(math.sqrt(active_power(x, sr)), 1e-9))


def _screened(path: Path, talker: str, sr: int, max_floor_db: float) -> Clip | dict:
    x = load(path, sr)
    floor = floor_db(x, sr)
    if floor > max_floor_db:
        return {"file": str(path), "talker": talker, "floor_db": round(floor, 1),
                "threshold_db": max_floor_db, "reason": "floor too high for a clean target"}  # fmt: skip
    return Clip(str(path), talker, leveled(x, sr), round(floor, 1))


def screen(
    talkers: dict[str, list[Path]],
    sr: int,
    max_floor_db: float = MAX_FLOOR_DB,
    *,
    enough_s: float | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[Clip]], list[dict]]:
    """Load and screen files: (kept clips per talker, one record per file left out with its reason).

    With `enough_s`, each talker's files are taken in a seeded order and screening stops once that many
    seconds passed (a demo corpus needs minutes of a talker's hours); otherwise every file is screened.
    Files load on a thread per core (reading and resampling release the GIL)."""
    kept: dict[str, list[Clip]] = {}
    left_out: list[dict] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for talker in sorted(talkers):
            files = list(talkers[talker])
            chunk = max(len(files), 1)  # all at once, unless screening may stop early
            if enough_s is not None:
                order = np.random.default_rng([seed, 13, *talker.encode()]).permutation(len(files))
                files, chunk = [files[int(k)] for k in order], 4 * (os.cpu_count() or 1)
            seconds = 0.0
            for start in range(0, len(files), chunk):
                batch = files[start : start + chunk]
                for result in pool.map(lambda p, t=talker: _screened(p, t, sr, max_floor_db), batch):
                    if isinstance(result, Clip):
                        kept.setdefault(talker, []).append(result)
                        seconds += len(result.samples) / sr
                    else:
                        left_out.append(result)
                if enough_s is not None and seconds >= enough_s:
                    break
    return kept, left_out


def utterances(
    clips: Sequence[Clip], rng: np.random.Generator, sr: int, min_s: float, max_s: float
) -> list[tuple[np.ndarray, list[str]]]:
    """One talker's clips as utterances of `min_s`..`max_s`: long clips cut at their pauses, short ones joined
    in a shuffled order with pauses that carry a recording floor at the clips' own level. Each utterance
    comes with the files it was made of; no speech is dropped but a last remainder under `min_s`."""
    pieces: list[tuple[np.ndarray, str, float]] = []
    for k in rng.permutation(len(clips)):
        clip = clips[int(k)]
        parts = (
            split_at_pauses(clip.samples, sr, (min_s + max_s) / 2, min_s)
            if len(clip.samples) > max_s * sr
            else [clip.samples]
        )
        pieces += [(p, clip.path, clip.floor_db) for p in parts]
    out: list[tuple[np.ndarray, list[str]]] = []
    current: list[tuple[np.ndarray, str, float]] = []
    length = 0
    for piece in pieces:
        if current and length + len(piece[0]) > max_s * sr:
            out.append(_join(current, rng, sr))
            current, length = [], 0
        current.append(piece)
        length += len(piece[0]) + int(PAUSE_S[1] * sr)
    if current and length >= min_s * sr:
        out.append(_join(current, rng, sr))
    return out


def split_at_pauses(x: np.ndarray, sr: int, target_s: float = 3.5, min_s: float = 1.5) -> list[np.ndarray]:
    """Cut a long recording into utterances of about `target_s` (at least `min_s`) at its quietest 20 ms
    frames; no speech is dropped."""
    frame = sr // 50
    frames = np.reshape(x[: len(x) // frame * frame] ** 2, (-1, frame))
    energy = np.convolve(np.mean(frames, axis=1), np.ones(5), "same")
    cuts, start = [0], 0
    while start + int((target_s + 1.5) * sr) < len(x):
        lo, hi = (start + int((target_s - 1.0) * sr)) // frame, (start + int((target_s + 1.5) * sr)) // frame
        start = (lo + int(np.argmin(energy[lo:hi]))) * frame
        cuts.append(start)
    if len(cuts) > 1 and len(x) - cuts[-1] < min_s * sr:
        cuts.pop()  # a short tail joins the utterance before it rather than being lost
    return [x[a:b] for a, b in zip(cuts, [*cuts[1:], len(x)], strict=True)]


def _join(pieces: list[tuple[np.ndarray, str, float]], rng: np.random.Generator, sr: int):
    level = 10 ** (max(min(p[2] for p in pieces), -60.0) / 20) * 10 ** (LEVEL_DB / 20)
    parts = [pieces[0][0]]
    for piece, _, _ in pieces[1:]:
        pause = int(rng.uniform(*PAUSE_S) * sr)
        parts += [level * recording_floor(rng, pause, sr), piece]
    return np.concatenate(parts), sorted({p[1] for p in pieces})


def stretch(recording: np.ndarray, rng: np.random.Generator, n: int, crossfade: int = 800) -> np.ndarray:
    """`n` samples of a noise recording from a random start, looped with linear crossfades when shorter."""
    if len(recording) >= n:
        start = int(rng.integers(0, len(recording) - n + 1))
        return recording[start : start + n].copy()
    fade = min(crossfade, len(recording) // 4)
    step = len(recording) - fade
    reps = n // step + 2
    out = np.zeros(reps * step + fade)
    shaped = recording.astype(np.float64)
    if fade:
        shaped = shaped.copy()
        shaped[:fade] *= np.linspace(0.0, 1.0, fade)
        shaped[-fade:] *= np.linspace(1.0, 0.0, fade)
    for i in range(reps):
        out[i * step : i * step + len(recording)] += shaped
    start = int(rng.integers(fade, step + fade))  # past the first fade-in
    return out[start : start + n]
