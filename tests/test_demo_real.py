"""The demo corpus with real Debian voices and recorded noises (skipped where the packages are missing; CI
installs them), and the split of Debian's sound effects between training and the real-noise check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcnn_se.data import debian_audio
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.synth import MANIFEST, DemoSpec, generate_demo_corpus

needs_debian = pytest.mark.skipif(not debian_audio.available(), reason=debian_audio.missing_message())


@needs_debian
def test_training_and_test_effects_are_disjoint_and_hold_no_speech() -> None:
    train, test = debian_audio.sound_effects("train"), debian_audio.sound_effects("test")
    assert len(train) > 50 and len(test) > 10 and not set(train) & set(test)
    assert not any("/symbols/" in str(p) or "_desc" in p.name for p in train + test)
    assert any("vacuum" in p.name for p in test) and any("/birds/" in str(p) for p in train)


@pytest.mark.slow
@needs_debian
def test_debian_voices_train_and_real_noises_join_the_generators(tmp_path: Path) -> None:
    spec = DemoSpec(n_train_speakers=2, n_test_speakers=1, train_per_speaker=10, sample_rate=16000,
                    voices="debian", real_noise=True)  # fmt: skip
    root = generate_demo_corpus(tmp_path / "c", spec)
    train, test = scan_split(root, "train"), scan_split(root, "test")
    info = json.loads((root / MANIFEST).read_text())
    assert len(train) == 20 and len(test) == 20
    real = {u.speaker for u in train}
    assert real <= set(debian_audio.talkers()) and len(real) >= 5, "the 20 utterances spread over talkers"
    assert all(info["speakers"][s].startswith("real: Debian") for s in real)
    assert {"rec-birds", "rec-mammals", "rec-music", "rec-misc"} <= set(info["train_noise_types"])
    assert {u.speaker for u in test} == {"p901"}, "the demo test set keeps its synthetic talkers"


@pytest.mark.slow
def test_missing_packages_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # unknown voices: tests/test_configs.py (the schema's rule)
    monkeypatch.setattr(debian_audio, "TUXPAINT", tmp_path / "nowhere")  # a machine without the package
    spec = DemoSpec(n_train_speakers=1, n_test_speakers=1, train_per_speaker=4, sample_rate=16000,
                    voices="mixed", real_noise=True)  # fmt: skip
    root = generate_demo_corpus(tmp_path / "b", spec)
    assert "apt-get install tuxpaint-stamps-default" in caplog.text
    built = json.loads((root / MANIFEST).read_text())["spec"]
    assert (built["voices"], built["real_noise"]) == ("synthetic", False), "the manifest says what was built"
    stamp = (root / MANIFEST).stat().st_mtime_ns
    generate_demo_corpus(tmp_path / "b", spec)
    assert (root / MANIFEST).stat().st_mtime_ns == stamp, "and the fallback corpus is reused, not rebuilt"
