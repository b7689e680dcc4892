"""The real-noise check set: the real-speech check's talkers (archives fetched from the package index, as CI's
install does) in real recorded noise, in Edinburgh test layout. Built from a folder of noise files the test
writes itself, and from Debian's held-out sound effects where `tuxpaint-stamps-default` is installed (CI
installs it; elsewhere those tests are skipped, saying so)."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf, open_dict

from helpers.configs import composed
from rcnn_se.data import debian_audio, realcheck
from rcnn_se.data.audio import read_wav, write_wav
from rcnn_se.data.corpus import scan_split
from rcnn_se.data.features import StftConfig
from rcnn_se.data.realnoise import MANIFEST, NOISES_PER_MIX, RealnoiseError, build_realnoise
from rcnn_se.data.recordings import safe_id
from rcnn_se.data.speech import active_power
from rcnn_se.data.synth import TEST_SNRS
from rcnn_se.jobs.job_logs import LoggerJob, job_log
from rcnn_se.jobs.score_sets import JobScoring, score_realnoise

SPEAKERS = {"awb", "slt", "amfm", "parselmouth"}
UTTERANCES = 6 * len(TEST_SNRS) * NOISES_PER_MIX  # the check's six clips x every SNR x two noises
NO_DEBIAN = "Debian's tuxpaint-stamps-default is not installed (apt-get install tuxpaint-stamps-default)"
needs_debian = pytest.mark.skipif(not debian_audio.available(), reason=NO_DEBIAN)


@pytest.fixture(scope="module")
def sources(realcheck_archives: Path) -> Path:
    return realcheck_archives  # tests/conftest.py: fetched once per session, shared with the other check


@pytest.fixture(scope="module")
def noise_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three noise recordings at three rates: a hum, a short door slam (looped) and a fan; names with '_'
    and a space, which the log's labels cannot carry."""
    folder = tmp_path_factory.mktemp("noises")
    rng = np.random.default_rng(5)
    t = np.arange(int(2.0 * 22050)) / 22050
    hum = sum(np.sin(2 * np.pi * 100 * k * t) / k for k in range(1, 6)) + 0.1 * rng.standard_normal(len(t))
    write_wav(folder / "hum_low.wav", 0.1 * hum, 22050)
    slam = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 800)
    write_wav(folder / "door slam.wav", 0.3 * slam, 16000)
    fan = np.cumsum(rng.standard_normal(int(1.5 * 44100)))
    write_wav(folder / "fan.wav", 0.002 * (fan - np.convolve(fan, np.ones(200) / 200, "same")), 44100)
    return folder


def fixture_noises(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wav"))


@pytest.fixture(scope="module")
def built(sources: Path, noise_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rn") / "realnoise"
    return build_realnoise(root, sources, noise_files=fixture_noises(noise_folder))


@pytest.fixture(scope="module")
def debian_built(sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not debian_audio.available():
        pytest.skip(NO_DEBIAN)
    return build_realnoise(tmp_path_factory.mktemp("rn") / "realnoise", sources)


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    h.update((root / "log_testset.txt").read_bytes())
    return h.hexdigest()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_layout(root: Path, labels: set[str]) -> None:
    """Every clip at every SNR with two different noises, labels as the log can carry them."""
    utts = scan_split(root, "test")  # the reader every run uses
    info = json.loads((root / MANIFEST).read_text())
    assert info["skipped"] == {} and len(utts) == info["utterances"] == UTTERANCES
    assert {u.speaker for u in utts} == SPEAKERS and {u.snr for u in utts} == set(TEST_SNRS)
    assert {u.noise for u in utts} == labels == {n["label"] for n in info["noises"]}
    assert all("_" not in u.noise and " " not in u.noise for u in utts)
    pairs: dict[tuple[str, int], list] = {}
    for u in utts:  # `<speaker>_<n>`: two consecutive numbers are one clip at one SNR
        pairs.setdefault((u.speaker, (int(u.uid.split("_")[1]) - 1) // NOISES_PER_MIX), []).append(u)
    assert len(pairs) == UTTERANCES // NOISES_PER_MIX
    for pair in pairs.values():
        assert len({u.snr for u in pair}) == 1 and len({u.noise for u in pair}) == NOISES_PER_MIX
    names = {s["package"] for s in info["sources"]}
    assert names == {s.package for s in realcheck.SOURCES} and info["version"] >= 1


def check_snrs(root: Path) -> None:
    """Every mix at its labelled SNR: the clean file's active level against noisy - clean, as written."""
    for u in scan_split(root, "test"):
        clean, sr = read_wav(u.clean_path)
        noisy, sr2 = read_wav(u.noisy_path)
        clean, noisy = clean.astype(np.float64), noisy.astype(np.float64)
        assert sr == sr2 == 16000 and len(clean) == len(noisy) > 0.5 * sr
        measured = 10 * np.log10(active_power(clean, sr) / np.mean((noisy - clean) ** 2))
        assert measured == pytest.approx(u.snr, abs=0.1), u.uid


@pytest.mark.slow
def test_layout_labels_and_manifest_from_given_noise_files(built: Path, noise_folder: Path) -> None:
    check_layout(built, {"hum-low", "door-slam", "fan"})
    info = json.loads((built / MANIFEST).read_text())
    assert [n["file"] for n in info["noises"]] == sorted(str(p) for p in fixture_noises(noise_folder))
    assert info["noise_package"] == "given files"


@pytest.mark.slow
def test_every_mix_is_within_a_tenth_of_a_db_of_its_snr(built: Path) -> None:
    check_snrs(built)


@pytest.mark.slow
def test_same_bytes_for_a_seed_and_a_current_set_is_left_alone(
    built: Path, sources: Path, noise_folder: Path, tmp_path: Path
) -> None:
    files = fixture_noises(noise_folder)
    again = build_realnoise(tmp_path / "again", sources, noise_files=files)
    assert digest(again) == digest(built)
    other = build_realnoise(tmp_path / "seed1", sources, seed=1, noise_files=files)
    assert digest(other) != digest(built)
    stamp = (built / MANIFEST).stat().st_mtime_ns
    build_realnoise(built, sources, noise_files=files)
    assert (built / MANIFEST).stat().st_mtime_ns == stamp, "a current set is not rebuilt"


@pytest.mark.slow
def test_a_changed_noise_file_rebuilds_the_set(sources: Path, noise_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "noises"
    folder.mkdir()
    for path in fixture_noises(noise_folder):
        (folder / path.name).write_bytes(path.read_bytes())
    root = build_realnoise(tmp_path / "rn", sources, noise_files=fixture_noises(folder))
    before = digest(root)
    hum, sr = read_wav(folder / "hum_low.wav")
    write_wav(folder / "hum_low.wav", 0.5 * hum[::-1], sr)
    assert digest(build_realnoise(root, sources, noise_files=fixture_noises(folder))) != before


@pytest.mark.slow
@needs_debian
def test_debian_set_uses_exactly_the_held_out_effects(debian_built: Path) -> None:
    held_out, training = debian_audio.sound_effects("test"), debian_audio.sound_effects("train")
    info = json.loads((debian_built / MANIFEST).read_text())
    used = {n["file"] for n in info["noises"]}
    assert used == {str(p) for p in held_out} and not used & {str(p) for p in training}
    assert info["noise_package"] == "tuxpaint-stamps-default" and info["noise_package_version"]
    check_layout(debian_built, {safe_id(p.stem) for p in held_out})


@pytest.mark.slow
@needs_debian
def test_debian_set_mixes_at_their_snrs_and_is_deterministic(
    debian_built: Path, sources: Path, tmp_path: Path
) -> None:
    check_snrs(debian_built)
    assert digest(build_realnoise(tmp_path / "again", sources)) == digest(debian_built)


def csv_job(folder: Path) -> LoggerJob:
    logger = {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(folder), "name": "csv"}
    job = job_log(OmegaConf.create({"logger": logger}), folder)
    assert isinstance(job, LoggerJob)
    return job


def skipped_job(cfg, folder: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What a job does when the set cannot be scored: no scores, the tag says skipped; its warnings."""
    with caplog.at_level(logging.WARNING), csv_job(folder).open("rcnn", {}) as record:
        # nothing is scored, so no network or metric workers are needed
        assert score_realnoise(JobScoring(cfg, None, record, folder, "rcnn", None), StftConfig()) is None
    hparams = yaml.safe_load((folder / "csv" / "version_0" / "hparams.yaml").read_text())
    assert hparams["tag.rcnn_se.realnoise"] == "skipped"
    assert not Path(cfg.realcheck.real_noise_root).exists()
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("rcnn_se")
    ]


def test_a_missing_debian_package_is_one_warning_and_a_skipped_tag(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(debian_audio, "TUXPAINT", tmp_path / "not-installed")  # where the package would be
    cfg = composed([f"data.cache_dir={sources}"], tmp_path)
    (warning,) = skipped_job(cfg, tmp_path / "job", caplog)
    assert warning == f"realnoise skipped: no real noise: {debian_audio.missing_message()}"
    assert "apt-get install tuxpaint-stamps-default" in warning


def test_unreachable_talker_sources_are_one_warning_and_a_skipped_tag(
    noise_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{unused_port()}/simple")
    with caplog.at_level(logging.WARNING), pytest.raises(RealnoiseError, match="none of its talker sources"):
        build_realnoise(tmp_path / "rn", tmp_path / "empty", noise_files=fixture_noises(noise_folder))
    assert not caplog.records and not (tmp_path / "rn").exists()
    cfg = composed([f"data.cache_dir={tmp_path / 'empty'}"], tmp_path)
    (warning,) = skipped_job(cfg, tmp_path / "job", caplog)
    if debian_audio.available():
        assert warning.startswith("realnoise skipped: none of its talker sources could be had")
        assert all(f"{s.package}=={s.version}" in warning for s in realcheck.SOURCES)
    else:
        assert debian_audio.missing_message() in warning


def test_switched_off_is_a_skipped_tag_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = composed(["realcheck.real_noise=false"], tmp_path)
    assert skipped_job(cfg, tmp_path / "job", caplog) == []
    with open_dict(cfg):
        cfg.realcheck.real_noise, cfg.realcheck.enabled = True, False  # the whole check off: this set too
    caplog.clear()
    assert skipped_job(cfg, tmp_path / "job2", caplog) == []
