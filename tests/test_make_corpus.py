"""`rcnn-se make-corpus` on small folders of recordings the test writes: layout, determinism, talker-disjoint
splits, SNR labels that tell the truth, screening, and one-line errors naming the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rcnn_se.data import recordings
from rcnn_se.data.audio import read_wav
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.make_corpus import MANIFEST, CorpusSpec, build_corpus, main, measured_snr
from rcnn_se.data.recordings import RecordingError
from rcnn_se.errors import UserError

SPEC = CorpusSpec(seed=3, test_talkers=2, min_seconds=1.0, max_seconds=3.0)


def talk(rng: np.random.Generator, seconds: float, sr: int, floor_db: float = -45.0) -> np.ndarray:
    """Syllables of a gliding harmonic voice over a room floor `floor_db` under the speech."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 12)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    voice *= 0.1 / np.sqrt(np.mean(voice**2))
    return voice + 0.1 * 10 ** (floor_db / 20) * rng.standard_normal(len(t))


def write(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Seven VCTK-named talkers (wav at 22.05 kHz, one in stereo flac at 44.1 kHz), short clips of one
    talker, a talker recorded in a noisy room, and three noise recordings."""
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    for s in range(7):
        for u in range(3):
            write(root / "clean" / f"p{300 + s}_{u:03d}.wav", talk(rng, 2.5, 22050), 22050)
    stereo = np.stack([talk(rng, 2.0, 44100), talk(rng, 2.0, 44100)], axis=1)
    write(root / "clean" / "p307_000.flac", stereo, 44100)
    for u in range(6):  # a talker of short clips (letters, words): joined into utterances
        write(root / "clean" / f"p308_{u:03d}.wav", talk(rng, 0.6, 16000), 16000)
    write(root / "clean" / "p309_000.wav", talk(rng, 2.5, 16000, floor_db=-12.0), 16000)
    for name, colour in (("hum", 2.0), ("hiss", 0.0), ("rumble", 1.0)):
        noise = np.cumsum(rng.standard_normal(48000 * 6)) if colour else rng.standard_normal(48000 * 6)
        noise = noise - np.convolve(noise, np.ones(200) / 200, "same") if colour == 1.0 else noise
        write(root / "noise" / f"{name}.wav", 0.05 * noise / np.std(noise), 48000)
    return {"clean": root / "clean", "noise": root / "noise"}


@pytest.fixture(scope="module")
def corpus(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    talkers = recordings.talkers_in([sources["clean"]], "vctk")
    noises = recordings.audio_files(sources["noise"])
    return build_corpus(tmp_path_factory.mktemp("c") / "corpus", talkers, noises, spec=SPEC)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_layout_splits_and_manifest(corpus: Path) -> None:
    train, test = scan_split(corpus, "train"), scan_split(corpus, "test")  # the real corpus's reader
    info = json.loads((corpus / MANIFEST).read_text())
    assert {u.speaker for u in test} == set(info["talkers"]["test"]) and len(info["talkers"]["test"]) == 2
    assert {u.speaker for u in train}.isdisjoint({u.speaker for u in test}), "talker-disjoint splits"
    assert {u.snr for u in train} <= set(SPEC.train_snrs) and {u.snr for u in test} <= set(SPEC.test_snrs)
    assert {u.noise for u in train} == {"hum", "hiss", "rumble"}
    assert "last 30%" in info["test_noise"] or "rest tests" in info["test_noise"]
    named = {f["file"] for f in info["clean_files"]} | {f["file"] for f in info["left_out"]}
    assert named == {str(p) for p in recordings.audio_files(Path(info["clean_files"][0]["file"]).parent)}
    assert all(files for files in info["utterances"].values()), "every utterance names its source files"
    for u in train + test:
        clean, sr = read_wav(u.clean_path)
        assert sr == SPEC.sample_rate and SPEC.min_seconds * sr <= len(clean) <= SPEC.max_seconds * sr * 1.2


def test_every_mix_is_at_its_labelled_snr(corpus: Path) -> None:
    for u in scan_split(corpus, "train") + scan_split(corpus, "test"):
        clean, sr = read_wav(u.clean_path)
        noisy, _ = read_wav(u.noisy_path)
        assert measured_snr(clean.astype(np.float64), noisy.astype(np.float64), sr) == pytest.approx(
            u.snr, abs=0.1
        )


def test_short_clips_are_joined_and_a_noisy_room_is_screened_out(corpus: Path) -> None:
    info = json.loads((corpus / MANIFEST).read_text())
    assert [f["talker"] for f in info["left_out"]] == ["p309"]
    left = info["left_out"][0]
    assert left["floor_db"] > left["threshold_db"] == SPEC.max_floor_db
    joined = [files for uid, files in info["utterances"].items() if uid.startswith("p308_")]
    if "p308" in info["talkers"]["train"]:
        assert joined and max(len(files) for files in joined) >= 2, "0.6 s clips joined into utterances"
    assert any(f["file"].endswith("p307_000.flac") for f in info["clean_files"]), "stereo flac read as mono"


def test_same_seed_same_bytes_other_seed_other_corpus(
    sources: dict[str, Path], corpus: Path, tmp_path: Path
) -> None:
    talkers = recordings.talkers_in([sources["clean"]], "vctk")
    noises = recordings.audio_files(sources["noise"])
    assert digest(build_corpus(tmp_path / "again", talkers, noises, spec=SPEC)) == digest(corpus)
    other = build_corpus(
        tmp_path / "other", talkers, noises, spec=CorpusSpec(seed=4, min_seconds=1.0, max_seconds=3.0)
    )
    assert digest(other) != digest(corpus)


def test_separate_test_noises_are_the_only_test_noises(sources: dict[str, Path], tmp_path: Path) -> None:
    talkers = recordings.talkers_in([sources["clean"]], "vctk")
    noises = recordings.audio_files(sources["noise"])
    root = build_corpus(tmp_path / "c", talkers, noises[:2], noises[2:], SPEC)
    assert {u.noise for u in scan_split(root, "test")} == {recordings.safe_id(noises[2].stem)}
    assert {u.noise for u in scan_split(root, "train")} == {recordings.safe_id(p.stem) for p in noises[:2]}


def test_talker_patterns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    write(tmp_path / "libri" / "19" / "198" / "19-198-0001.flac", talk(rng, 1.0, 16000), 16000)
    write(tmp_path / "libri" / "26" / "495" / "26-495-0002.flac", talk(rng, 1.0, 16000), 16000)
    write(tmp_path / "byfolder" / "anna" / "take1.wav", talk(rng, 1.0, 16000), 16000)
    assert set(recordings.talkers_in([tmp_path / "libri"], "librispeech")) == {"19", "26"}
    assert set(recordings.talkers_in([tmp_path / "byfolder"], "folder")) == {"anna"}
    with pytest.raises(RecordingError, match="matches none"):  # an optional group that matched nothing
        recordings.talkers_in([tmp_path / "byfolder"], r"(?P<talker>zz)?/")
    with pytest.raises(RecordingError, match="matches none of its 2 audio files"):
        recordings.talkers_in([tmp_path / "libri"], "vctk")
    with pytest.raises(RecordingError, match="group named 'talker'"):
        recordings.talkers_in([tmp_path / "libri"], r"(\d+)-")


@pytest.mark.parametrize("case", ["unreadable", "silence", "no audio", "no match", "not a corpus"])
def test_bad_input_is_one_line_naming_the_file(
    case: str, sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, noise, root = tmp_path / "clean", sources["noise"], tmp_path / "out"
    rng = np.random.default_rng(2)
    for s in range(5):
        write(clean / f"p{400 + s}_001.wav", talk(rng, 2.0, 16000), 16000)
    pattern, named = "vctk", None
    if case == "unreadable":
        named = clean / "p405_001.wav"
        named.write_bytes(b"RIFF\x00\x00junk that is no wav")
    elif case == "silence":
        named = write(clean / "p405_001.wav", np.zeros(16000), 16000)
    elif case == "no audio":
        named = tmp_path / "empty"
        named.mkdir()
        clean = named
    elif case == "no match":
        pattern, named = "librispeech", clean
    else:
        named = root
        (root / "keep.txt").parent.mkdir()
        (root / "keep.txt").write_text("a user's file")
    argv = ["--root", str(root), "--clean", str(clean), "--talker-pattern", pattern, "--noise", str(noise)]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1 and len(err.splitlines()) == 1 and str(named) in err, err
    if case == "not a corpus":
        assert (root / "keep.txt").read_text() == "a user's file", "nothing of the user's is lost"


def test_errors_are_user_errors() -> None:
    assert issubclass(RecordingError, UserError)


@pytest.mark.parametrize("builder", ["make-corpus", "make-demo-corpus", "make-realcheck", "make-realnoise"])
def test_a_file_in_the_way_is_refused_and_kept(builder: str, tmp_path: Path, capsys) -> None:
    """Every corpus builder refuses a destination that is a file, in one line naming it, and leaves it as
    it was (a traceback from `iterdir()` before)."""
    from rcnn_se.cli import main as cli

    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(SystemExit) as refused:
        cli([builder, "--root", str(taken)])
    assert refused.value.code == 1 and f"{taken}: exists and is not" in capsys.readouterr().err
    assert taken.read_text() == "mine"
