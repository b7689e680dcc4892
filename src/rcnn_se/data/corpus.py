"""The Edinburgh (VoiceBank-DEMAND) corpus layout: folders of clean/noisy pairs plus log files.

The real corpus and the generated demo corpus share this layout exactly, so one reader serves both and a
test on the demo corpus exercises the code path a real run takes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rcnn_se.errors import UserError

SPLITS: dict[str, tuple[str, str, str]] = {
    # split: (clean folder, noisy folder, log file)
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt"),
    "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt"),
}


class CorpusError(UserError):
    """The corpus on disk does not match the layout; the message names the file or folder."""


@dataclass(frozen=True)
class Utterance:
    uid: str
    speaker: str
    noise: str
    snr: float
    clean_path: Path
    noisy_path: Path


def parse_log(path: Path) -> dict[str, tuple[str, float]]:
    """Map utterance id -> (noise label, SNR dB). Every malformed line is an error naming file and line."""
    if not path.is_file():
        raise CorpusError(f"{path}: log file not found")
    entries: dict[str, tuple[str, float]] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3:
            raise CorpusError(f"{path}:{lineno}: expected '<utterance-id> <noise-label> <snr>', got {raw!r}")
        uid, noise, snr_text = fields
        try:
            snr = float(snr_text)
        except ValueError:
            raise CorpusError(f"{path}:{lineno}: SNR {snr_text!r} is not a number") from None
        if uid in entries:
            raise CorpusError(f"{path}:{lineno}: utterance {uid!r} listed twice")
        entries[uid] = (noise, snr)
    if not entries:
        raise CorpusError(f"{path}: log file has no entries")
    return entries


def speaker_of(uid: str) -> str:
    return uid.split("_", 1)[0]


def has_split(root: str | Path, split: str) -> bool:
    """Whether any part of the split (clean folder, noisy folder, log file) is on disk.

    The test split alone is a complete corpus for baselines and for scoring a checkpoint (eval.py); a split
    that is partly there is not absent, and `scan_split` then names the part that is missing.
    """
    return any((Path(root) / name).exists() for name in SPLITS[split])


def scan_split(root: str | Path, split: str) -> list[Utterance]:
    """List the split's utterances, checking that clean, noisy and log agree one to one."""
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    root = Path(root)
    clean_name, noisy_name, log_name = SPLITS[split]
    clean_dir, noisy_dir = root / clean_name, root / noisy_name
    for folder in (clean_dir, noisy_dir):
        if not folder.is_dir():
            raise CorpusError(f"{folder}: folder not found (is data.root={root} an Edinburgh-layout corpus?)")
    log = parse_log(root / log_name)
    clean = {p.stem: p for p in clean_dir.glob("*.wav")}
    noisy = {p.stem: p for p in noisy_dir.glob("*.wav")}
    for uid in sorted(clean.keys() - noisy.keys()):
        raise CorpusError(f"{clean[uid]}: no noisy partner {noisy_dir / (uid + '.wav')}")
    for uid in sorted(noisy.keys() - clean.keys()):
        raise CorpusError(f"{noisy[uid]}: no clean partner {clean_dir / (uid + '.wav')}")
    for uid in sorted(log.keys() - clean.keys()):
        raise CorpusError(f"{root / log_name}: lists {uid!r} but {clean_dir / (uid + '.wav')} is missing")
    for uid in sorted(clean.keys() - log.keys()):
        raise CorpusError(f"{clean[uid]}: has no line in {root / log_name}")
    return [
        Utterance(uid, speaker_of(uid), log[uid][0], log[uid][1], clean[uid], noisy[uid])
        for uid in sorted(log)
    ]


PAPER_VAL_SPEAKERS = ("p286", "p287")  # the real corpus's 28 training speakers hold out these two
AUTO_VAL_COUNT = 2


def derive_val_speakers(speakers: Sequence[str]) -> list[str]:
    """`val_speakers: auto`: p286 and p287 when both are there (VoiceBank-DEMAND's usual 26 + 2), else the
    last two speakers in sorted order (one when there are only two, none when there is one or none)."""
    if set(PAPER_VAL_SPEAKERS) <= set(speakers):
        return list(PAPER_VAL_SPEAKERS)
    ordered = sorted(set(speakers))
    count = min(AUTO_VAL_COUNT, max(len(ordered) - 1, 0))
    return ordered[len(ordered) - count :]


def split_by_speakers(
    utterances: Sequence[Utterance], val_speakers: int | str | Sequence[str]
) -> tuple[list[Utterance], list[Utterance]]:
    """Hold out whole speakers for validation, so validation loss measures unseen voices.

    `auto` derives them from the speakers present (`derive_val_speakers`); an integer picks that many
    speakers from the end of the sorted speaker list (deterministic, no seed); a list names them.
    """
    speakers = sorted({u.speaker for u in utterances})
    if isinstance(val_speakers, str):
        if val_speakers != "auto":
            raise CorpusError(
                f"data.val_speakers={val_speakers!r}: expected auto, a count or a list of speakers"
            )
        held = set(derive_val_speakers(speakers))
    elif isinstance(val_speakers, int):
        if not 0 <= val_speakers < len(speakers):
            raise CorpusError(
                f"data.val_speakers={val_speakers} but the training set has {len(speakers)} speakers"
            )
        held = set(speakers[len(speakers) - val_speakers :])
    else:
        held = set(val_speakers)
        unknown = held - set(speakers)
        if unknown:
            raise CorpusError(
                f"data.val_speakers names unknown speakers {sorted(unknown)}; known: {speakers} "
                "(data.val_speakers=auto derives them from the speakers present)"
            )
    train = [u for u in utterances if u.speaker not in held]
    val = [u for u in utterances if u.speaker in held]
    return train, val


def select_snr(utterances: Iterable[Utterance], snr: str | float | int) -> list[Utterance]:
    """Keep one SNR condition ('all' keeps everything); an SNR that matches nothing is an error."""
    utterances = list(utterances)
    if str(snr).lower() == "all":
        return utterances
    try:
        target = float(snr)
    except ValueError:
        raise CorpusError(f"snr={snr!r}: expected 'all' or a number") from None
    kept = [u for u in utterances if abs(u.snr - target) < 1e-6]
    if not kept:
        available = sorted({u.snr for u in utterances})
        raise CorpusError(f"snr={snr!r} matches no utterance; the corpus has SNRs {available}")
    return kept


def fingerprint(utterances: Iterable[Utterance]) -> str:
    """Hash of names, sizes, mtimes and labels: cheap, and changes whenever a file or the log does."""
    digest = hashlib.sha256()
    for u in utterances:
        for path in (u.clean_path, u.noisy_path):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
        digest.update(f"{u.uid}|{u.noise}|{u.snr}\n".encode())
    return digest.hexdigest()[:16]
