"""The Edinburgh (VoiceBank-DEMAND) corpus layout: folders of clean/noisy pairs plus log files.

The real corpus and the generated demo corpus share this layout exactly, so one reader serves both and a
test on the demo corpus exercises the code path a real run takes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from rcnn_se.errors import UserError

SPLITS: dict[str, tuple[str, str, str]] = {
    # split: (clean folder, noisy folder, log file)
    "train": ("clean_trainset_28spk_wav", "noisy_trainset_28spk_wav", "log_trainset_28spk.txt"),
    "test": ("clean_testset_wav", "noisy_testset_wav", "log_testset.txt"),
}


TRAIN_SNRS = (15.0, 10.0, 5.0, 0.0)  # the real corpus's training conditions, which the demo corpus copies
TEST_SNRS = (17.5, 12.5, 7.5, 2.5)  # its test conditions: between the training ones, never equal to one


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


def foreign(root: Path, manifest: str) -> bool:
    """True when `root` holds something a corpus builder did not make (a file, or a folder with files but
    without the builder's `manifest`): builders replace only what they made, and refuse this."""
    return root.is_file() or (root.is_dir() and any(root.iterdir()) and not (root / manifest).is_file())


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
    if val_speakers == "auto":
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


def same_snr(label: float, snr: str | float) -> bool:
    """Whether an utterance's SNR label is the condition `snr` names (a number, not 'all')."""
    return abs(label - float(snr)) < 1e-6


def select_snr(utterances: Iterable[Utterance], snr: str | float | int) -> list[Utterance]:
    """Keep one SNR condition ('all' keeps everything); an SNR that matches nothing in this corpus is an
    error (answered before a job starts by `check_snr_condition`, and here for callers that skip it)."""
    utterances = list(utterances)
    if snr == "all":
        return utterances
    kept = [u for u in utterances if same_snr(u.snr, snr)]
    if not kept:
        available = sorted({u.snr for u in utterances})
        raise CorpusError(f"snr={snr!r} matches no utterance; the corpus has SNRs {available}")
    return kept


def check_snr_condition(root: str | Path, snr: str | float, demo: bool) -> None:
    """Refuse a training SNR condition (`snr=7`) the corpus has no utterance for, before a job starts: the
    labels come from the training log (a text file, read in milliseconds), or, for a demo corpus not yet
    generated, from the design it will be generated with. Nothing is checked where neither is known yet."""
    if snr == "all":
        return
    log = Path(root) / SPLITS["train"][2]
    if log.is_file():
        available = sorted({label for _, label in parse_log(log).values()})
    elif demo:
        available = sorted(TRAIN_SNRS)
    else:
        return
    if not any(same_snr(label, snr) for label in available):
        shown = ", ".join(f"{label:g}" for label in available)
        raise CorpusError(f"snr={snr!r}: expected all or one of the corpus's training SNRs ({shown}); {root}")


def fingerprint(utterances: Iterable[Utterance]) -> str:
    """Hash of names, sizes, mtimes and labels: cheap, and changes whenever a file or the log does."""
    digest = hashlib.sha256()
    for u in utterances:
        for path in (u.clean_path, u.noisy_path):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|".encode())
        digest.update(f"{u.uid}|{u.noise}|{u.snr}\n".encode())
    return digest.hexdigest()[:16]


SHOWN_ODD_FILES = 5


@dataclass(frozen=True)
class RateCensus:
    """The sample rates of a split's pairs, read from their clean files (the feature cache refuses a pair
    whose two files disagree). Every rate is resampled to the STFT's, so a file at another rate than the
    rest trains and scores, but it is worth a warning: an 8 kHz pair in a 48 kHz corpus has nothing above
    4 kHz, and is most likely a file copied in from elsewhere."""

    split: str
    n_pairs: int
    usual: int  # the rate most of the split's pairs have
    odd: tuple[tuple[Path, int], ...]  # the clean file of each pair at another rate, and that rate

    @property
    def rates(self) -> set[int]:
        return {self.usual, *(rate for _, rate in self.odd)}

    def warning(self, model_rate: int) -> str | None:
        """One line naming the odd pairs (the first few) and their rates; None when every pair agrees."""
        if not self.odd:
            return None
        shown = ", ".join(f"{path} ({rate} Hz)" for path, rate in self.odd[:SHOWN_ODD_FILES])
        more = f" and {len(self.odd) - SHOWN_ODD_FILES} more" if len(self.odd) > SHOWN_ODD_FILES else ""
        lowest = min(self.rates)
        return (
            f"{self.split} split: {len(self.odd)} of {self.n_pairs} pairs are not at the split's "
            f"{self.usual} Hz: {shown}{more}; all are resampled to {model_rate} Hz, but files at {lowest} Hz "
            f"hold nothing above {lowest // 2} Hz (data.source_sample_rate={self.usual} refuses them)"
        )


def rate_census(utterances: Sequence[Utterance], split: str) -> RateCensus:
    """Read each pair's rate from its clean file's header (no samples are decoded)."""
    rates = [(u.clean_path, sf.info(str(u.clean_path)).samplerate) for u in utterances]
    usual = Counter(rate for _, rate in rates).most_common(1)[0][0] if rates else 0
    odd = tuple((path, rate) for path, rate in rates if rate != usual)
    return RateCensus(split, len(rates), usual, odd)
