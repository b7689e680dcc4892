"""Long recordings enhanced block by block (`rcnn_se.deploy.streaming`): the same samples as the whole-file
path, on real wav files through `rcnn-se enhance`, in memory that does not grow with the file's length."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers.audio import speechlike
from rcnn_se.data.audio import read_wav, resample, write_wav, write_wav_blocks
from rcnn_se.data.features import StftConfig, stft
from rcnn_se.deploy.enhance import main
from rcnn_se.deploy.inference import enhance_recording, fast_enhancer
from rcnn_se.deploy.streaming import (
    ArraySignal,
    Enhanced,
    Resampled,
    enhance_file,
    enhance_samples,
    network_context,
)
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem

# 48 kHz: 0.3333 s is 15998 samples, 5332.7 at 16 kHz (a block edge mid-hop and mid-period of the
# resampler); 1 s + 37 samples at 16 kHz likewise; 0.25 s is shorter than the paper RCNN's context plus
# a frame's window is long, so its blocks are mostly context.
BLOCKS = (0.25, 0.3333, 1.0 + 37 / 16000, 2.5)


def paper_like(cfg: StftConfig | None = None) -> EnhancementSystem:
    """The paper's RCNN shape with random weights and both gain bounds, 5 x 7 kernels (7 frames wide)."""
    torch.manual_seed(0)
    network, stft_settings = SpectralCNN(kernel_size=(5, 7)), (cfg or StftConfig()).as_dict()
    return EnhancementSystem(network, stft=stft_settings, gain_floor_db=-20, gain_ceiling_db=0).eval()


@pytest.mark.parametrize(
    ("orig", "target"),
    [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 44100), (8000, 16000), (11127, 16000)],
)
def test_resampled_spans_equal_resampling_the_whole(orig: int, target: int) -> None:
    x = speechlike(0.9, orig).astype(np.float32)
    whole = resample(x, orig, target)
    signal = Resampled(ArraySignal(x), orig, target)
    assert signal.length == len(whole)
    for step in (97, 1000, len(whole) - 1):
        pieces = [signal.read(lo, min(signal.length, lo + step)) for lo in range(0, signal.length, step)]
        np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("sr", [48000, 44100, 16000, 8000])
def test_blocks_equal_the_whole_file_in_fp32(sr: int) -> None:
    system = paper_like()
    enhancer = fast_enhancer(system)
    noisy = speechlike(3.1, sr)
    whole = enhance_recording(enhancer, noisy, sr, system.stft_config)
    for block in BLOCKS:
        blocked = enhance_samples(enhancer, noisy, sr, system.stft_config, block_seconds=block)
        assert blocked.shape == whole.shape and blocked.dtype == np.float32
        assert np.abs(blocked - whole).max() < 1e-5, (sr, block)
    longer_than_file = enhance_samples(enhancer, noisy, sr, system.stft_config, block_seconds=3.2)
    np.testing.assert_array_equal(longer_than_file, whole)  # one block: the whole-file path itself


@pytest.mark.parametrize(
    "cfg",
    [
        StftConfig(hop_length=256, window="hann"),
        StftConfig(hop_length=160, win_length=400, window="hann"),
        StftConfig(n_fft=1024, hop_length=512, win_length=1024),
    ],
    ids=["hop256-hann", "hop160-win400", "nfft1024"],
)
def test_blocks_follow_the_stft_settings(cfg: StftConfig) -> None:
    system = paper_like(cfg)
    enhancer = fast_enhancer(system)
    noisy = speechlike(2.6, 22050)
    whole = enhance_recording(enhancer, noisy, 22050, cfg)
    for block in (0.2, 0.77):
        blocked = enhance_samples(enhancer, noisy, 22050, cfg, block_seconds=block)
        assert np.abs(blocked - whole).max() < 1e-5


def test_the_context_comes_from_the_layers_and_is_needed() -> None:
    for layers, kernel, context in ((4, 5, 8), (6, 3, 6), (3, (5, 7), 9)):
        system = EnhancementSystem(SpectralCNN(n_layers=layers, kernel_size=kernel))
        assert network_context(fast_enhancer(system)) == context
        assert network_context(system.enhancer()) == context
    with pytest.raises(ValueError, match="Baseline is not a stack of convolutions"):
        network_context(EnhancementSystem(Baseline("wiener")).enhancer())
    # with less context than the receptive field, block edges show
    system = paper_like()
    enhancer, cfg = fast_enhancer(system), system.stft_config
    wave = torch.from_numpy(resample(speechlike(2.0, 48000), 48000, 16000))
    whole = enhance_recording(enhancer, wave.numpy(), 16000, cfg)
    short_sighted = Enhanced(ArraySignal(wave.numpy()), enhancer, cfg)
    short_sighted.context -= 2  # (one spare frame each side is kept beyond the context)
    pieces = [short_sighted.read(lo, min(len(wave), lo + 4000)) for lo in range(0, len(wave), 4000)]
    assert np.abs(np.concatenate(pieces) - whole).max() > 1e-5  # 2.3e-5 here; 1e-4 three frames short


@pytest.mark.slow
def test_bf16_and_int8_blocks_are_as_close_as_their_own_rounding() -> None:
    """Not guaranteed to the last bit: their rounding may depend on where the network's blocks of frames
    start. Here far below what bf16 and int8 change against fp32."""
    system = paper_like()
    cfg = system.stft_config
    noisy = speechlike(2.0, 48000)  # 6 blocks of a third of a second
    fp32 = enhance_recording(fast_enhancer(system), noisy, 48000, cfg)
    calibration = [stft(torch.from_numpy(resample(noisy, 48000, 16000)), cfg).abs()[None, None]]
    for precision in ("bf16", "int8"):
        enhancer = fast_enhancer(system, precision=precision, calibration=calibration)
        whole = enhance_recording(enhancer, noisy, 48000, cfg)
        own_rounding = np.abs(whole - fp32).max()
        assert own_rounding > 1e-4, f"{precision} did not run"
        for block in (0.3333, 1.0):
            blocked = enhance_samples(enhancer, noisy, 48000, cfg, block_seconds=block)
            assert np.abs(blocked - whole).max() < min(1e-5, own_rounding / 10)


def wav_floats(path: Path) -> tuple[np.ndarray, int, str]:
    info = sf.info(str(path))
    return sf.read(str(path), dtype="float32")[0], info.samplerate, info.subtype


def test_enhance_streams_long_files_to_the_same_wav(checkpoint: Path, tmp_path: Path, capsys) -> None:
    """Through `rcnn-se enhance`: blocked and whole-file outputs are the same 16-bit file up to the
    rounding of the rare sample that float noise (~1e-7) moves across a step (10-23 of 189,630 seen)."""
    for sr in (44100, 16000):
        write_wav(tmp_path / f"in{sr}.wav", speechlike(4.3, sr), sr)
    inputs = [str(tmp_path / f"in{sr}.wav") for sr in (44100, 16000)]
    base = ["-o", "", "--checkpoint", str(checkpoint), "--block-frames", "50"]
    for folder, seconds in (("whole", "0"), ("blocks", "1.0023"), ("short", "60")):
        base[1] = str(tmp_path / folder)
        assert main([*inputs, *base, "--block-seconds", seconds]) == 0
    out = capsys.readouterr().out
    assert out.count(", 5 blocks") == 2 and out.count("peak RSS") == 6 and out.count("RTF") == 6
    for sr in (44100, 16000):
        whole, whole_sr, subtype = wav_floats(tmp_path / "whole" / f"in{sr}_enhanced.wav")
        blocked, blocked_sr, blocked_subtype = wav_floats(tmp_path / "blocks" / f"in{sr}_enhanced.wav")
        assert (blocked_sr, blocked_subtype, len(blocked)) == (whole_sr, subtype, int(4.3 * sr))
        steps = np.abs(blocked - whole) * 32768
        assert steps.max() <= 1 and np.count_nonzero(steps) <= 1e-3 * len(whole)
        short = (tmp_path / "short" / f"in{sr}_enhanced.wav").read_bytes()
        assert short == (tmp_path / "whole" / f"in{sr}_enhanced.wav").read_bytes()


def test_an_input_read_before_its_file_is_replaced_streams_too(checkpoint: Path, tmp_path: Path) -> None:
    system = EnhancementSystem.from_checkpoint(checkpoint)
    enhancer, cfg = fast_enhancer(system), system.stft_config
    noisy = speechlike(2.2, 48000)
    done = enhance_file(enhancer, (noisy, 48000), tmp_path / "x.wav", cfg, block_seconds=0.5)
    assert (done.samples, done.sample_rate, done.blocks) == (len(noisy), 48000, 5)
    expected = enhance_recording(enhancer, noisy, 48000, cfg)
    written, _ = read_wav(tmp_path / "x.wav")
    assert np.abs(written - np.clip(expected, -1, 1)).max() <= 1.01 / 32768


def test_a_bad_block_fails_its_file_alone(checkpoint: Path, tmp_path: Path, capsys) -> None:
    """Problems a block meets (NaN samples, a file shorter than it says) fail that file with read_wav's
    message; no partial output or temporary file stays, and the other files are enhanced."""
    bad = speechlike(3.0, 16000).astype(np.float32)
    bad[40000] = np.nan
    sf.write(str(tmp_path / "nan.wav"), bad, 16000, subtype="FLOAT")
    write_wav(tmp_path / "stereo.wav", np.stack([speechlike(3.0, 16000)] * 2, axis=1), 16000)
    write_wav(tmp_path / "good.wav", speechlike(3.0, 16000), 16000)
    whole = (tmp_path / "good.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    names = ["nan.wav", "stereo.wav", "cut.wav", "good.wav"]
    code = main([*[str(tmp_path / n) for n in names], "-o", str(tmp_path / "o"), "--checkpoint",
                 str(checkpoint), "--block-seconds", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "3 of 4 files failed" in err and "Traceback" not in err
    assert "nan.wav: contains NaN or infinite samples" in err
    assert "stereo.wav: has 2 channels, expected mono" in err
    assert "cut.wav: truncated, its header promises 48000 frames but the file holds 23989" in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["good_enhanced.wav"]


def test_block_seconds_must_be_a_duration(checkpoint: Path, tmp_path: Path, capsys) -> None:
    write_wav(tmp_path / "x.wav", speechlike(0.5, 16000), 16000)
    for value in ("-1", "nan", "inf"):
        with pytest.raises(SystemExit) as refused:
            main([str(tmp_path / "x.wav"), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoint),
                  "--block-seconds", value])  # fmt: skip
        assert refused.value.code == 2
        assert f"--block-seconds {float(value)}: expected seconds >= 0" in capsys.readouterr().err


def write_tiled(path: Path, seconds: int, sr: int = 48000) -> Path:
    """A long 16-bit wav without holding it: one second of tone and noise, written `seconds` times."""
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    second = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(sr)).astype(np.float32)
    write_wav_blocks(path, (second for _ in range(seconds)), sr)
    return path


def peak_rss_of(cmd: list[str]) -> tuple[int, str]:
    """Peak resident memory (bytes) of a fresh child process, from the kernel's own account of it
    (wait4's rusage), and its output."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    assert proc.returncode == 0, text
    return usage.ru_maxrss * 1024, text


@pytest.mark.slow
def test_memory_is_flat_in_the_files_length(checkpoint: Path, tmp_path: Path) -> None:
    """Issue 23: the whole-file path peaked at 2.13 GB for 10 minutes of 48 kHz audio against 1.12 GB
    for 4.7 s. Streamed, 10 minutes stay within 1.2x the peak of a 5-second file."""
    short = write_tiled(tmp_path / "short.wav", 5)
    long = write_tiled(tmp_path / "long.wav", 600)
    exe = str(Path(sys.executable).parent / "rcnn-se")
    peaks = {}
    for wav in (short, long):
        cmd = [exe, "enhance", str(wav), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoint)]
        peaks[wav.stem], output = peak_rss_of(cmd)
        assert "RTF" in output and "peak RSS" in output
    assert ", 20 blocks" in output
    info = sf.info(str(tmp_path / "o" / "long_enhanced.wav"))
    assert (info.frames, info.samplerate, info.subtype) == (600 * 48000, 48000, "PCM_16")
    assert peaks["long"] < 1.2 * peaks["short"], {k: f"{v / 1e6:.0f} MB" for k, v in peaks.items()}


class PerBinGain(torch.nn.Module):
    """A network of another kind than a convolution stack (a model family a user adds), which says how far
    it looks: each frame on its own."""

    context_frames = 0

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.linspace(-2.0, 2.0, StftConfig().n_bins).view(1, 1, -1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 * torch.sigmoid(self.gain)


def test_a_network_that_declares_its_context_runs_in_blocks_like_the_whole() -> None:
    system = EnhancementSystem(PerBinGain(), gain_floor_db=-20, gain_ceiling_db=0).eval()
    enhancer, cfg = fast_enhancer(system), system.stft_config
    assert network_context(enhancer) == 0
    noisy = speechlike(2.0, 16000).astype(np.float32)
    whole = enhance_recording(system.enhancer(), noisy, 16000, cfg)
    blocked = enhance_samples(enhancer, noisy, 16000, cfg, block_seconds=0.3333)
    assert np.abs(blocked - whole).max() < 1e-5
