"""The demo corpus: a small, seeded, generated corpus in the exact Edinburgh (VoiceBank-DEMAND) layout.

It lets everything run on a fresh machine with no download, and because its layout and log files are the real
corpus's, every test on it exercises the reader a real run uses. Speakers and noise types of the test split
appear nowhere in training, and test SNRs (17.5/12.5/7.5/2.5 dB) differ from training SNRs (15/10/5/0 dB),
as in the real corpus.

The corpus is built in a temporary folder beside its destination and renamed into place only once complete,
with its manifest written last: an interrupted generation never looks like a corpus.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from rcnn_se.config.schema import VOICES, Demo
from rcnn_se.data.audio import write_wav
from rcnn_se.data.corpus import SPLITS, TEST_SNRS, TRAIN_SNRS, foreign
from rcnn_se.data.noises import Noise, recording_floor, training_noises, unseen_noises
from rcnn_se.data.spec_cli import add_spec_options, spec_from
from rcnn_se.data.speech import (
    ENGINES,
    FLITE_TEST_VOICES,
    FLITE_TRAIN_VOICES,
    Voice,
    active_power,
    describe,
    resolve_engine,
    sentence,
    speaker_voices,
    talker,
)
from rcnn_se.errors import UserError

TRAIN_NOISE_TYPES = (
    "ssn",
    "babble",
    "kitchen",
    "washing",
    "meeting",
    "station",
    "car",
    "metro",
    "traffic",
    "river",
)
TEST_NOISE_TYPES = ("living", "office", "bus", "cafe", "psquare")
log = logging.getLogger(__name__)
MANIFEST = "demo_manifest.json"
GENERATOR_VERSION = 6  # bump when the generated audio changes, so stale corpora are rebuilt
N_BABBLE_TALKERS = 8
# The recording-room floor's level under the active speech level, drawn per utterance: the quietest frames of
# real recorded speech sit 20-40 dB down (measured on the real-speech check set), never at digital silence.
FLOOR_DB = (-40.0, -25.0)
PROGRESS_EVERY = 256  # utterances between progress lines
THREADS = os.cpu_count() or 1  # utterances made at once


class DemoCorpusError(RuntimeError):
    """The destination holds something that is not this demo corpus."""


@dataclass(frozen=True)
class DemoSpec(Demo):
    """What the generator makes: the schema's settings (rcnn_se.config.schema.Demo, their defaults and rules
    written once there) and the utterance lengths, which no config sets."""

    min_seconds: float = 1.5
    max_seconds: float = 3.5


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale noise to `snr_db` against the active-speech power; rescale the pair jointly if it would clip."""
    gain = np.sqrt(active_power(clean, sr) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    noisy = clean + gain * noise
    peak = np.max(np.abs(noisy))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    return clean * scale, noisy * scale


Speaker = tuple[str, int, "int | str"]  # (speaker id, training utterances, voice index or real talker id)


def _train_speakers(spec: DemoSpec) -> tuple[list[Speaker], dict[str, list[np.ndarray]]]:
    """Training speakers by `spec.voices` (synthetic voices, real Debian talkers, or half of each) and the
    real talkers' utterances."""
    n_synthetic = {"synthetic": spec.n_train_speakers, "debian": 0, "mixed": spec.n_train_speakers // 2}
    n = n_synthetic[spec.voices]
    speakers: list[Speaker] = [(f"p{301 + s}", spec.train_per_speaker, s) for s in range(n)]
    real: dict[str, list[np.ndarray]] = {}
    if n < spec.n_train_speakers:
        from rcnn_se.data.demo_real import talker_utterances

        total = (spec.n_train_speakers - n) * spec.train_per_speaker
        real = talker_utterances(total, spec.seed, spec.sample_rate, spec.min_seconds, spec.max_seconds)
        speakers += [(name, len(utts), name) for name, utts in real.items()]
    return speakers, real


def _plan(
    spec: DemoSpec, rng: np.random.Generator, speakers: list[Speaker], noise_types: tuple[str, ...]
) -> list[tuple[str, str, str, float, int | str]]:
    """(split, uid, noise, snr, speaker key) for every utterance.

    Training conditions cycle over all speakers' sentences, so every (noise, SNR) pair is equally common
    and each speaker meets many of them; each test speaker covers every test condition `per_condition`
    times, as in the real test set.
    """
    plan = []
    grid = [(n, snr) for n in noise_types for snr in TRAIN_SNRS]
    total = sum(count for _, count, _ in speakers)
    slots = [grid[k % len(grid)] for k in rng.permutation(total)]
    for name, count, key in speakers:
        for idx in range(count):
            noise, snr = slots[len(plan)]
            plan.append(("train", f"{name}_{idx + 1:03d}", noise, snr, key))
    for s in range(spec.n_test_speakers):
        conditions = [(n, snr) for n in TEST_NOISE_TYPES for snr in TEST_SNRS] * spec.per_condition
        for idx, k in enumerate(rng.permutation(len(conditions)), start=1):
            noise, snr = conditions[k]
            plan.append(("test", f"p{901 + s}_{idx:03d}", noise, snr, 1000 + s))
    return plan


def _voices(spec: DemoSpec, engine: str) -> tuple[dict[int, Voice], list[Voice], list[Voice]]:
    """Speakers by plan index, then training and test babble talkers: four disjoint sets of voices."""
    rng = np.random.default_rng([spec.seed, 1])
    flite = engine == "flite"
    train = speaker_voices(rng, spec.n_train_speakers + N_BABBLE_TALKERS, FLITE_TRAIN_VOICES, flite)
    test = speaker_voices(rng, spec.n_test_speakers + N_BABBLE_TALKERS, FLITE_TEST_VOICES, flite)
    speakers = {s: train[s] for s in range(spec.n_train_speakers)}
    speakers |= {1000 + s: test[s] for s in range(spec.n_test_speakers)}
    return speakers, train[spec.n_train_speakers :], test[spec.n_test_speakers :]


def _babble_talk(speaker, voices: list[Voice], rng: np.random.Generator, sr: int) -> list[np.ndarray]:
    """About 8 s of running speech per babble talker."""
    texts = [" ".join(sentence(rng, 2.5) for _ in range(3)) for _ in voices]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda tv: speaker.say(tv[0], tv[1], sr), zip(texts, voices, strict=True)))


def test_noise_bank(spec: DemoSpec, engine: str = "auto") -> dict[str, Noise]:
    """The demo test set's noise generators (types unseen in training), deterministic for `spec.seed`.

    `rcnn-se make-realcheck` mixes real speech with these same noises, so the real-speech check differs from
    the demo test set in its speech only.
    """
    engine = resolve_engine(engine)
    _, _, test_babble = _voices(spec, engine)
    talks = _babble_talk(talker(engine), test_babble, np.random.default_rng([spec.seed, 3]), spec.sample_rate)
    return unseen_noises(talks)


def _build(tmp: Path, spec: DemoSpec, engine: str) -> dict[str, dict]:
    """Synthesize, mix and write every utterance, one per worker thread at a time.

    All random draws are made up front and each utterance mixes with its own seeded generator, so the
    order in which threads finish changes no sample. The engines run in subprocesses and numpy's FFTs and
    filters release the GIL, so threads use every core; memory stays bounded (one utterance per thread),
    which matters at the real corpus's size (11,000 training utterances of 48 kHz speech are ~5 GB).
    """
    rng = np.random.default_rng(spec.seed)
    voices, train_babble, _ = _voices(spec, engine)
    sr = spec.sample_rate
    speaker = talker(engine)
    noises = training_noises(_babble_talk(speaker, train_babble, np.random.default_rng([spec.seed, 2]), sr))
    if spec.real_noise:
        from rcnn_se.data.demo_real import recorded_noises

        noises |= recorded_noises(sr)
    train_types = (*TRAIN_NOISE_TYPES, *sorted(set(noises) - set(TRAIN_NOISE_TYPES)))
    noises |= test_noise_bank(spec, engine)
    speakers, real = _train_speakers(spec)
    plan = _plan(spec, rng, speakers, train_types)
    seconds = rng.uniform(spec.min_seconds, spec.max_seconds, len(plan))
    texts = [sentence(rng, s) for s in seconds]
    noise_seeds = rng.integers(0, 2**32, len(plan))

    def make(k: int) -> str:
        split, uid, noise, snr, s = plan[k]
        if isinstance(s, str):  # a real talker's utterance: its own room floor, so only the pads get one
            clean, floor = real[s][int(uid.rsplit("_", 1)[1]) - 1], (-45.0, -40.0)
        else:
            clean, floor = speaker.say(texts[k], voices[s], sr), FLOOR_DB
        _write_pair(tmp, split, uid, clean, noises[noise], snr, sr, int(noise_seeds[k]), floor)
        return f"{uid} {noise} {snr:g}"

    logs: dict[str, list[str]] = {"train": [], "test": []}
    pool = ThreadPoolExecutor(max_workers=THREADS)
    try:
        for k, line in enumerate(pool.map(make, range(len(plan)))):
            logs[plan[k][0]].append(line)
            if (k + 1) % PROGRESS_EVERY == 0 and k + 1 < len(plan):
                log.info("demo corpus: %d of %d utterances written", k + 1, len(plan))
    finally:  # on Ctrl-C or an error, stop after the utterances in hand instead of making all the others
        pool.shutdown(cancel_futures=True)
    for split, lines in logs.items():
        (tmp / SPLITS[split][2]).write_text("\n".join(sorted(lines)) + "\n")
    described = {uid.split("_")[0]: f"real: Debian {s}" if isinstance(s, str) else describe(voices[s])
                 for _, uid, _, _, s in plan}  # fmt: skip
    return {
        "counts": {split: len(lines) for split, lines in logs.items()},
        "speakers": dict(sorted(described.items())),
        "train_noise_types": list(train_types),
    }


def _write_pair(
    tmp: Path,
    split: str,
    uid: str,
    clean: np.ndarray,
    noise: Noise,
    snr: float,
    sr: int,
    seed: int,
    floor_db: tuple[float, float] = FLOOR_DB,
) -> None:
    """Pad, floor and mix one utterance and write its clean and noisy wavs."""
    noise_rng = np.random.default_rng(seed)
    # Leading and trailing pauses as in read-speech recordings; the room floor fills them. Their length
    # moves SSNR (a mean over every frame): 0.15-0.35 s puts the noisy row on VoiceBank-DEMAND's.
    pad = [np.zeros(int(sr * noise_rng.uniform(0.15, 0.35))) for _ in range(2)]
    clean = np.concatenate([pad[0], clean, pad[1]])
    level = 10 ** (noise_rng.uniform(*floor_db) / 20) * np.sqrt(active_power(clean, sr))
    clean = clean + level * recording_floor(noise_rng, len(clean), sr)
    clean, noisy = mix(clean, noise(noise_rng, len(clean), sr), snr, sr)
    clean_dir, noisy_dir, _ = SPLITS[split]
    write_wav(tmp / clean_dir / f"{uid}.wav", clean, sr)
    write_wav(tmp / noisy_dir / f"{uid}.wav", noisy, sr)


def _manifest(spec: DemoSpec, engine: str) -> dict:
    return {"spec": asdict(spec), "engine": resolve_engine(engine), "generator": GENERATOR_VERSION}


def _existing(root: Path) -> dict | None:
    path = root / MANIFEST
    if path.is_file():
        return json.loads(path.read_text())
    if foreign(root, MANIFEST):
        raise DemoCorpusError(
            f"{root}: exists and is not a demo corpus (no {MANIFEST}); choose another data.root"
        )
    return None


def generate_demo_corpus(root: str | Path, spec: DemoSpec = DemoSpec(), *, engine: str = "auto") -> Path:
    """Build the corpus at `root`; a complete corpus of the same spec, engine and generator is left as it is,
    another demo corpus is replaced, and a folder of anything else is refused."""
    root = Path(root)
    if spec.voices != "synthetic" or spec.real_noise:
        from rcnn_se.data.demo_real import usable

        voices, real_noise = usable(spec.voices, spec.real_noise)
        spec = replace(spec, voices=voices, real_noise=real_noise)
    wanted = _manifest(spec, engine)
    found = _existing(root)
    if found is not None:
        if {k: found.get(k) for k in wanted} == wanted:
            return root
        # Our own generated data, reproducible from its manifest: replacing it loses nothing.
        log.warning("%s holds a demo corpus of another spec or generator (%s): regenerating", root, found)
        stale = root.with_name(f".{root.name}-stale-{os.getpid()}")
        os.replace(root, stale)
        shutil.rmtree(stale, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        start = time.perf_counter()
        built = _build(tmp, spec, wanted["engine"])
        manifest = {**wanted, **built, "seconds_to_generate": round(time.perf_counter() - start, 2)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            if root.exists():
                root.rmdir()  # an empty folder (checked by _existing); a non-empty one raises here
            os.replace(tmp, root)
        except OSError:  # a concurrent job finished first: accept its corpus if it is the same one
            found = _existing(root)
            if found is None or {k: found[k] for k in wanted} != wanted:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def ensure_demo_corpus(root: str | Path, spec: DemoSpec = DemoSpec()) -> Path:
    """Generate only when missing: the data module calls this on every run."""
    return generate_demo_corpus(root, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcnn-se make-demo-corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/demo_corpus"))
    parser.add_argument("--engine", choices=ENGINES, default="auto")
    renamed = {"n_train_speakers": "train-speakers", "n_test_speakers": "test-speakers"}
    add_spec_options(parser, DemoSpec, renamed, choices={"voices": VOICES})
    args = parser.parse_args(argv)
    spec = spec_from(DemoSpec, args)
    try:
        root = generate_demo_corpus(args.root, spec, engine=args.engine)
    except (DemoCorpusError, UserError) as exc:
        parser.exit(1, f"rcnn-se make-demo-corpus: {exc}\n")
    print(f"{root}: {json.loads((root / MANIFEST).read_text())}")
    return 0
