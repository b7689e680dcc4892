from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rcnn_se.data.audio import AudioError, read_wav, write_wav
from rcnn_se.data.cache import build_cache
from rcnn_se.data.corpus import CorpusError, parse_log, scan_split, select_snr, split_by_speakers
from rcnn_se.data.features import StftConfig


def test_scan_reads_labels_from_log(tiny_corpus: Path) -> None:
    train = scan_split(tiny_corpus, "train")
    assert len(train) == 12
    first = train[0]
    assert (first.uid, first.speaker, first.noise, first.snr) == ("p301_000", "p301", "white", 15.0)
    test = scan_split(tiny_corpus, "test")
    assert {u.snr for u in test} == {17.5, 2.5}


def test_snr_selection_and_speaker_split(tiny_corpus: Path) -> None:
    train = scan_split(tiny_corpus, "train")
    fit, val = split_by_speakers(train, 1)
    assert {u.speaker for u in val} == {"p303"} and {u.speaker for u in fit} == {"p301", "p302"}
    assert [u.snr for u in select_snr(fit, "0")] == [0.0, 0.0]
    assert len(select_snr(fit, "all")) == 8
    with pytest.raises(CorpusError, match="matches no utterance.*SNRs"):
        select_snr(fit, 7)
    with pytest.raises(CorpusError, match="unknown speakers"):
        split_by_speakers(train, ["p999"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("p301_000 white\n", r"log_trainset_28spk.txt:1: expected"),
        ("p301_000 white 15\np301_001 pink loud\n", r":2: SNR 'loud' is not a number"),
        ("p301_000 white 15\np301_000 white 15\n", r":2: utterance 'p301_000' listed twice"),
        ("\n", r"no entries"),
    ],
)
def test_malformed_log_lines_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    log = tmp_path / "log_trainset_28spk.txt"
    log.write_text(content)
    with pytest.raises(CorpusError, match=message):
        parse_log(log)


def test_missing_partner_and_log_line(tiny_corpus: Path) -> None:
    (tiny_corpus / "noisy_testset_wav" / "p901_002.wav").unlink()
    with pytest.raises(CorpusError, match=r"p901_002.wav: no noisy partner"):
        scan_split(tiny_corpus, "test")


def test_missing_folder_names_the_root(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="folder not found.*Edinburgh-layout"):
        scan_split(tmp_path, "train")


def test_broken_and_multichannel_wavs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioError, match="broken.wav: cannot be read as audio"):
        read_wav(broken)
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.zeros((100, 2), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="stereo.wav: has 2 channels"):
        read_wav(stereo)
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        read_wav(tmp_path / "missing.wav")


def test_cache_rejects_length_and_rate_mismatch(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = StftConfig()
    noisy = tiny_corpus / "noisy_testset_wav" / "p901_001.wav"
    write_wav(noisy, np.zeros(1000), 48000)
    with pytest.raises(AudioError, match=r"p901_001.wav: 1000 samples but its clean partner"):
        build_cache(scan_split(tiny_corpus, "test"), cfg, tmp_path / "cache")
    write_wav(noisy, np.zeros(24000), 44100)
    with pytest.raises(
        AudioError, match=r"p901_001.wav: sample rate 44100 Hz, but data.source_sample_rate=48000"
    ):
        build_cache(scan_split(tiny_corpus, "test"), cfg, tmp_path / "cache", source_sample_rate=48000)
    assert not any((tmp_path / "cache").glob("*/index.json")), "a failed build must not leave a cache behind"


def test_cache_resamples_builds_once_and_invalidates(tiny_corpus: Path, tmp_path: Path) -> None:
    utts = scan_split(tiny_corpus, "test")
    cache = build_cache(utts, StftConfig(), tmp_path / "cache", source_sample_rate=48000)
    assert cache.items[0].wave_len == 8000  # 0.5 s at 48 kHz -> 16 kHz
    wave = cache.wave(0, "clean")
    ref, _ = read_wav(utts[0].clean_path)
    assert np.sqrt(np.mean(wave**2)) == pytest.approx(np.sqrt(np.mean(ref**2)), rel=0.02)
    mag = cache.magnitude(0, "noisy")
    assert mag.shape == (257, 1 + 8000 // 128)
    assert (
        build_cache(utts, StftConfig(), tmp_path / "cache", source_sample_rate=48000).folder == cache.folder
    )
    other_stft = build_cache(utts, StftConfig(hop_length=256), tmp_path / "cache", source_sample_rate=48000)
    assert other_stft.folder != cache.folder
    write_wav(utts[1].noisy_path, np.full(24000, 0.1), 48000)
    assert (
        build_cache(utts, StftConfig(), tmp_path / "cache", source_sample_rate=48000).folder != cache.folder
    )


def test_cache_holds_each_utterance_at_its_own_place(tiny_corpus: Path, tmp_path: Path) -> None:
    """Utterances are written by several threads at once: each must land in its own slices."""
    import torch

    from rcnn_se.data.audio import resample
    from rcnn_se.data.features import stft

    cfg = StftConfig()
    utts = scan_split(tiny_corpus, "train")
    cache = build_cache(utts, cfg, tmp_path / "cache")
    assert len(cache.items) == len(utts) > 2 and torch.get_num_threads() >= 1
    for i, u in enumerate(utts):
        assert cache.items[i].uid == u.uid
        for which, path in (("clean", u.clean_path), ("noisy", u.noisy_path)):
            wave = resample(*read_wav(path), cfg.sample_rate)
            np.testing.assert_array_equal(cache.wave(i, which), wave)
            mag = stft(torch.from_numpy(wave), cfg).abs().numpy()
            np.testing.assert_allclose(cache.magnitude(i, which), mag, rtol=1e-5, atol=1e-6)


def test_cache_build_stops_at_a_broken_file(tiny_corpus: Path, tmp_path: Path) -> None:
    utts = scan_split(tiny_corpus, "train")
    broken = utts[len(utts) // 2].noisy_path
    samples, sr = read_wav(broken)
    samples[100] = np.nan  # a well-formed file (its header passes the pair checks) that fails only when read
    sf.write(broken, samples, sr, subtype="FLOAT")
    with pytest.raises(AudioError, match=f"{broken.name}: contains NaN or infinite samples"):
        build_cache(utts, StftConfig(), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir()), "a failed build leaves nothing behind"
