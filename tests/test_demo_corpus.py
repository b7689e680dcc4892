"""The generated demo corpus: Edinburgh layout, labels that tell the truth, determinism, atomicity."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from rcnn_se.data import synth
from rcnn_se.data.audio import read_wav
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.speech import active_power
from rcnn_se.data.synth import DemoCorpusError, DemoSpec, generate_demo_corpus

SMALL = DemoSpec(n_train_speakers=2, n_test_speakers=1, train_per_speaker=20, sample_rate=16000)
# generated several times over: small and short (a quarter less time), yet more utterances than threads
FEW = DemoSpec(
    n_train_speakers=1,
    n_test_speakers=1,
    train_per_speaker=10,
    sample_rate=16000,
    min_seconds=0.6,
    max_seconds=1.0,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo_corpus(tmp_path_factory.mktemp("demo") / "corpus", SMALL)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_layout_labels_and_conditions(corpus: Path) -> None:
    train, test = scan_split(corpus, "train"), scan_split(corpus, "test")  # the real corpus's reader
    assert len(train) == 2 * 20 and len(test) == 1 * 5 * 4
    assert {u.speaker for u in train}.isdisjoint({u.speaker for u in test})
    assert {u.noise for u in train}.isdisjoint({u.noise for u in test})
    assert {u.snr for u in train} == set(synth.TRAIN_SNRS) and {u.snr for u in test} == set(synth.TEST_SNRS)
    conditions = [(u.noise, u.snr) for u in train]
    assert len(set(conditions)) == 40, "the 40 training conditions each appear once over the 40 sentences"
    assert len({(u.noise, u.snr) for u in test}) == 20, "each test speaker covers every test condition"
    assert "p301_001" in (corpus / "log_trainset_28spk.txt").read_text()


def test_default_spec_has_28_distinct_training_voices_and_held_out_test_voices() -> None:
    speakers, train_babble, test_babble = synth._voices(DemoSpec(), "flite")
    train = [speakers[s] for s in range(28)]
    assert len(set(train)) == 28 and len(train_babble) == len(test_babble) == synth.N_BABBLE_TALKERS
    flite_train = {v.variant for v in train + train_babble if v.engine == "flite"}
    flite_test = {v.variant for v in [speakers[1000], speakers[1001], *test_babble] if v.engine == "flite"}
    assert flite_train == {"flite:rms", "flite:kal16"} and flite_test == {"flite:awb", "flite:slt"}
    f0 = sorted(v.f0_hz for v in train)
    assert f0[0] < 150 and f0[-1] > 175, "male and female pitch ranges"
    assert len({round(v.vtl, 2) for v in train}) > 10 and len({round(v.tilt_hz) for v in train}) == 28


@pytest.mark.slow
def test_logged_snr_is_the_mixed_snr(corpus: Path) -> None:
    for u in scan_split(corpus, "test")[:8]:
        clean, sr = read_wav(u.clean_path)
        noisy, sr2 = read_wav(u.noisy_path)
        assert sr == sr2 == 16000 and len(clean) == len(noisy)
        measured = 10 * np.log10(active_power(clean, sr) / np.mean((noisy - clean) ** 2))
        assert measured == pytest.approx(u.snr, abs=0.2)


@pytest.mark.slow
def test_speakers_differ(corpus: Path) -> None:
    def centroid(speaker: str) -> float:
        values = []
        for path in sorted((corpus / "clean_trainset_28spk_wav").glob(f"{speaker}_*.wav"))[:5]:
            x, sr = read_wav(path)
            spec = np.abs(np.fft.rfft(x))
            values.append(np.sum(np.fft.rfftfreq(len(x), 1 / sr) * spec) / np.sum(spec))
        return float(np.mean(values))

    assert abs(centroid("p301") - centroid("p302")) > 20.0


@pytest.mark.slow
def test_deterministic_and_seed_sensitive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = digest(generate_demo_corpus(tmp_path / "first", FEW))
    monkeypatch.setattr(synth, "THREADS", 1)  # one utterance at a time: the same corpus, byte for byte
    assert digest(generate_demo_corpus(tmp_path / "again", FEW)) == first
    monkeypatch.setattr(synth, "THREADS", 5)  # more threads than cores, finishing in another order
    assert digest(generate_demo_corpus(tmp_path / "threads", FEW)) == first
    other = dataclasses.replace(FEW, seed=1)
    assert digest(generate_demo_corpus(tmp_path / "other", other)) != first


@pytest.mark.slow
def test_numpy_engine_and_48k(tmp_path: Path) -> None:
    spec = DemoSpec(n_train_speakers=1, n_test_speakers=1, train_per_speaker=4, sample_rate=48000)
    root = generate_demo_corpus(tmp_path / "np", spec, engine="numpy")
    x, sr = read_wav(next((root / "clean_testset_wav").glob("*.wav")))
    assert sr == 48000 and np.sqrt(np.mean(x**2)) > 1e-3


def test_interrupted_generation_leaves_no_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "write_wav", explode)
    with pytest.raises(KeyboardInterrupt):
        generate_demo_corpus(tmp_path / "c", SMALL)
    assert not (tmp_path / "c").exists() and not list(tmp_path.iterdir()), "no partial corpus, no temp folder"


@pytest.mark.slow
def test_foreign_folder_refused_and_other_spec_regenerated(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(DemoCorpusError, match="is not a demo corpus"):
        generate_demo_corpus(foreign, SMALL)
    assert (foreign / "notes.txt").read_text() == "keep"
    root = generate_demo_corpus(tmp_path / "regen", FEW)
    bigger = dataclasses.replace(FEW, n_train_speakers=2)
    generate_demo_corpus(root, bigger)
    assert len(scan_split(root, "train")) == 20


@pytest.mark.slow
def test_clean_speech_has_a_recording_floor_not_digital_silence(corpus: Path) -> None:
    for u in scan_split(corpus, "train")[:6]:
        clean, sr = read_wav(u.clean_path)
        frames = np.reshape(clean[: len(clean) // 320 * 320] ** 2, (-1, 320)).mean(axis=1)
        quiet_db = 10 * np.log10(np.quantile(frames, 0.05) / active_power(clean, sr))
        assert -48.0 < quiet_db < -20.0, f"{u.uid}: quietest frames {quiet_db:.1f} dB under the speech level"
