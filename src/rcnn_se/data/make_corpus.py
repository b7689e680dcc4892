"""`rcnn-se make-corpus`: an Edinburgh-layout corpus from folders of real clean speech and of real noise.

The loader, the cache, the tables and every experiment read the VoiceBank-DEMAND layout; a corpus made here
has it exactly (clean/noisy folders per split, log files `<uid> <noise> <snr>`), so a user's LibriSpeech,
VCTK or in-house recordings train and test with no other change: `data=voicebank data.root=OUT`.

As in VoiceBank-DEMAND: talkers of the test split appear nowhere in training (the data module holds out two
more training talkers for validation), test SNRs (17.5/12.5/7.5/2.5 dB) differ from training SNRs
(15/10/5/0 dB), each mixed at the clean utterance's ITU-T P.56 active level, and test noises are unseen in
training: other recordings when `--test-noise` is given, else the last `test_noise_share` of every noise
recording (disjoint stretches, stated in the manifest). Every clean file is screened (`recordings.screen`).
The manifest names every source file and its role, and a seed gives the same bytes on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rcnn_se.data import recordings
from rcnn_se.data.audio import write_wav
from rcnn_se.data.corpus import SPLITS, TEST_SNRS, TRAIN_SNRS, foreign
from rcnn_se.data.recordings import Clip, RecordingError
from rcnn_se.data.spec_cli import add_spec_options, spec_from
from rcnn_se.data.speech import active_power
from rcnn_se.data.synth import mix
from rcnn_se.errors import UserError

MANIFEST = "corpus_manifest.json"
VERSION = 1


@dataclass(frozen=True)
class CorpusSpec:
    seed: int = 0
    sample_rate: int = 16000
    test_talkers: int = 2
    train_snrs: tuple[float, ...] = TRAIN_SNRS
    test_snrs: tuple[float, ...] = TEST_SNRS
    min_seconds: float = 1.5
    max_seconds: float = 6.0
    max_floor_db: float = recordings.MAX_FLOOR_DB
    test_noise_share: float = 0.3
    max_per_talker: int | None = None  # utterances per talker at most (None: all a talker's speech)


def _load_all(paths: list[Path], sr: int) -> list[np.ndarray]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda p: recordings.load(p, sr), paths))


def _noise_pools(
    noises: list[Path], test_noises: list[Path] | None, spec: CorpusSpec
) -> tuple[dict[str, dict[str, np.ndarray]], str]:
    """{split: {label: recording}} and how the test noises differ from the training ones."""
    sr = spec.sample_rate
    if not noises:
        raise RecordingError("no noise recordings given (--noise DIR)")
    loaded = dict(zip(noises, _load_all(noises, sr), strict=True))
    if test_noises:
        tests = dict(zip(test_noises, _load_all(test_noises, sr), strict=True))
        pools = {"train": {recordings.safe_id(p.stem): x for p, x in loaded.items()},
                 "test": {recordings.safe_id(p.stem): x for p, x in tests.items()}}  # fmt: skip
        overlap = set(pools["train"]) & set(pools["test"])
        if overlap:
            raise RecordingError(f"noise {sorted(overlap)[0]!r} is both a training and a test noise")
        return pools, "other recordings (--test-noise)"
    if not 0 < spec.test_noise_share < 1:
        raise RecordingError(f"test_noise_share={spec.test_noise_share}: expected a share between 0 and 1")
    pools = {"train": {}, "test": {}}
    for path, x in loaded.items():
        cut = int(len(x) * (1 - spec.test_noise_share))
        if cut < sr // 4 or len(x) - cut < sr // 4:
            raise RecordingError(
                f"{path}: {len(x) / sr:.1f} s is too short to split into training and test noise"
            )
        pools["train"][recordings.safe_id(path.stem)] = x[:cut]
        pools["test"][recordings.safe_id(path.stem)] = x[cut:]
    return (
        pools,
        f"disjoint stretches: the first {1 - spec.test_noise_share:.0%} of each recording trains, "
        "the rest tests",
    )


def _split_talkers(talkers: list[str], spec: CorpusSpec) -> dict[str, list[str]]:
    if len(talkers) < spec.test_talkers + 3:
        raise RecordingError(
            f"{len(talkers)} talkers passed screening: need {spec.test_talkers} for test, 2 for validation "
            "and at least 1 to train on"
        )
    order = np.random.default_rng([spec.seed, 5]).permutation(len(talkers))
    test = sorted(talkers[int(k)] for k in order[: spec.test_talkers])
    return {"train": sorted(set(talkers) - set(test)), "test": test}


def _conditions(n: int, noises: list[str], snrs: tuple[float, ...], rng: np.random.Generator):
    grid = [(noise, snr) for noise in noises for snr in snrs]
    return [grid[int(k) % len(grid)] for k in rng.permutation(max(n, len(grid)))[:n]]


def _write(
    tmp: Path, split: str, uid: str, clean: np.ndarray, noise: np.ndarray, snr: float, sr: int
) -> None:
    clean, noisy = mix(clean, noise, snr, sr)
    clean_dir, noisy_dir, _ = SPLITS[split]
    write_wav(tmp / clean_dir / f"{uid}.wav", clean, sr)
    write_wav(tmp / noisy_dir / f"{uid}.wav", noisy, sr)


def _build(
    tmp: Path, clips: dict[str, list[Clip]], pools: dict[str, dict[str, np.ndarray]], spec: CorpusSpec
):
    sr = spec.sample_rate
    splits = _split_talkers(sorted(clips), spec)
    jobs, sources = [], {}
    for split, snrs in (("train", spec.train_snrs), ("test", spec.test_snrs)):
        made = []
        for talker in splits[split]:
            rng = np.random.default_rng([spec.seed, 6, *talker.encode()])
            utts = recordings.utterances(clips[talker], rng, sr, spec.min_seconds, spec.max_seconds)
            made += [(talker, x, files) for x, files in utts[: spec.max_per_talker]]
        rng = np.random.default_rng([spec.seed, 7, len(split)])
        conditions = _conditions(len(made), sorted(pools[split]), snrs, rng)
        counters: dict[str, int] = {}
        for (talker, x, files), (noise, snr) in zip(made, conditions, strict=True):
            counters[talker] = counters.get(talker, 0) + 1
            uid = f"{talker}_{counters[talker]:03d}"
            jobs.append((split, uid, x, noise, snr, len(jobs)))
            sources[uid] = files

    def make(job) -> str:
        split, uid, x, noise, snr, k = job
        noise_rng = np.random.default_rng([spec.seed, 8, k])
        _write(tmp, split, uid, x, recordings.stretch(pools[split][noise], noise_rng, len(x)), snr, sr)
        return f"{uid} {noise} {snr:g}"

    logs: dict[str, list[str]] = {"train": [], "test": []}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for job, line in zip(jobs, pool.map(make, jobs), strict=True):
            logs[job[0]].append(line)
    for split, lines in logs.items():
        (tmp / SPLITS[split][2]).write_text("\n".join(sorted(lines)) + "\n")
    return splits, sources, {split: len(lines) for split, lines in logs.items()}


def build_corpus(
    root: str | Path,
    talkers: dict[str, list[Path]],
    noises: list[Path],
    test_noises: list[Path] | None = None,
    spec: CorpusSpec = CorpusSpec(),
    *,
    described: dict | None = None,
) -> Path:
    """Write the corpus at `root` (empty, missing, or a corpus this command made, which is replaced)."""
    root = Path(root)
    if foreign(root, MANIFEST):
        raise RecordingError(
            f"{root}: exists and is not a corpus made by rcnn-se make-corpus (no {MANIFEST})"
        )
    clips, left_out = recordings.screen(talkers, spec.sample_rate, spec.max_floor_db)
    if not clips:
        raise RecordingError(
            f"no clean recording passed screening (floor at most {spec.max_floor_db} dB under the speech "
            f"level; {len(left_out)} left out, e.g. {left_out[0]['file']} at {left_out[0]['floor_db']} dB)"
            if left_out else "no clean recordings given"
        )  # fmt: skip
    pools, test_noise = _noise_pools(sorted(noises), sorted(test_noises) if test_noises else None, spec)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        splits, sources, counts = _build(tmp, clips, pools, spec)
        kept = [{"file": c.path, "talker": c.talker, "floor_db": c.floor_db,
                 "role": f"clean-{'test' if c.talker in splits['test'] else 'train'}"}
                for cs in clips.values() for c in cs]  # fmt: skip
        manifest = {
            "generator": "rcnn-se make-corpus", "version": VERSION, "spec": asdict(spec),
            "sources": described or {}, "talkers": splits, "counts": counts, "test_noise": test_noise,
            "noise_seconds": {s: {k: round(len(v) / spec.sample_rate, 2) for k, v in p.items()}
                              for s, p in pools.items()},
            "clean_files": kept, "left_out": left_out,
            "noise_files": [str(p) for p in sorted(noises)] + [str(p) for p in sorted(test_noises or [])],
            "utterances": sources,
        }  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if root.exists():
            stale = root.with_name(f".{root.name}-stale-{os.getpid()}")
            os.replace(root, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def measured_snr(clean: np.ndarray, noisy: np.ndarray, sr: int) -> float:
    """The SNR a pair was mixed at: active speech level against the power of noisy - clean."""
    return float(10 * np.log10(active_power(clean, sr) / np.mean((noisy - clean) ** 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rcnn-se make-corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the corpus folder to write")
    parser.add_argument("--clean", type=Path, action="append", default=[], help="folder of clean speech")
    named = ", ".join(recordings.TALKER_PATTERNS)
    parser.add_argument(
        "--talker-pattern", default="folder", help=f"{named} or a regex with a (?P<talker>) group"
    )
    parser.add_argument("--noise", type=Path, action="append", default=[], help="folder of noise recordings")
    parser.add_argument(
        "--test-noise", type=Path, action="append", default=[], help="test noises (else split)"
    )
    parser.add_argument("--debian", action="store_true", help="add Debian's talkers and sound effects")
    add_spec_options(parser, CorpusSpec)
    args = parser.parse_args(argv)
    spec = spec_from(CorpusSpec, args)
    try:
        talkers = recordings.talkers_in(args.clean, args.talker_pattern) if args.clean else {}
        noises = [p for folder in args.noise for p in recordings.audio_files(folder)]
        tests = [p for folder in args.test_noise for p in recordings.audio_files(folder)]
        if args.debian:
            from rcnn_se.data import debian_audio

            if not debian_audio.available():
                raise RecordingError(debian_audio.missing_message())
            talkers |= debian_audio.talkers()
            noises += debian_audio.sound_effects("train")
            tests += debian_audio.sound_effects("test")
        described = {"clean": [str(p) for p in args.clean], "talker_pattern": args.talker_pattern,
                     "noise": [str(p) for p in args.noise], "test_noise": [str(p) for p in args.test_noise],
                     "debian": args.debian}  # fmt: skip
        root = build_corpus(args.root, talkers, noises, tests or None, spec, described=described)
    except UserError as exc:  # RecordingError, AudioError: one line naming the file
        parser.exit(1, f"rcnn-se make-corpus: {exc}\n")
    info = json.loads((root / MANIFEST).read_text())
    print(f"{root}: {info['counts']} utterances from {len(info['talkers']['train'])} training and "
          f"{len(info['talkers']['test'])} test talkers; {len(info['left_out'])} files left out by screening;"
          " "
          f"test noise: {info['test_noise']}")  # fmt: skip
    return 0
