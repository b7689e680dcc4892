"""`rcnn-se enhance` on real wav files with a real checkpoint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from helpers.audio import speechlike
from helpers.inprocess import process_kept
from rcnn_se.data.audio import read_wav, resample, write_wav
from rcnn_se.data.features import stft
from rcnn_se.deploy.enhance import main
from rcnn_se.deploy.inference import enhance_recording, fast_enhancer
from rcnn_se.deploy.quantize import QuantizableCNN
from rcnn_se.models.baselines import Baseline
from rcnn_se.models.spectral_cnn import SpectralCNN
from rcnn_se.training.system import EnhancementSystem


@pytest.mark.parametrize("sr", [8000, 16000, 44100, 48000])
def test_output_keeps_rate_and_length(checkpoint: Path, tmp_path: Path, sr: int) -> None:  # noqa: F811
    write_wav(tmp_path / "in.wav", speechlike(1.3, sr), sr)
    assert main([str(tmp_path / "in.wav"), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoint)]) == 0
    out, out_sr = read_wav(tmp_path / "out" / "in_enhanced.wav")
    assert out_sr == sr and len(out) == int(1.3 * sr)


def test_blocks_equal_whole_file(checkpoint: Path) -> None:  # noqa: F811
    system = EnhancementSystem.from_checkpoint(checkpoint)
    mag = torch.rand(1, 1, 257, 1234) * 3
    with torch.inference_mode():
        whole = system.enhancer()(mag)
    for block in (1, 100, 128, 5000):
        torch.testing.assert_close(
            fast_enhancer(system, block_frames=block)(mag), whole, rtol=1e-5, atol=1e-5
        )
    wave = speechlike(4.0, 16000)
    blocked = enhance_recording(fast_enhancer(system, block_frames=50), wave, 16000, system.stft_config)
    whole_file = enhance_recording(fast_enhancer(system, block_frames=10**6), wave, 16000, system.stft_config)
    np.testing.assert_allclose(blocked, whole_file, atol=1e-5)


def test_bf16_is_close_and_leaves_the_system_alone(checkpoint: Path) -> None:  # noqa: F811
    system = EnhancementSystem.from_checkpoint(checkpoint)
    system.gain_floor_db = system.gain_ceiling_db = None  # at a bound every precision agrees exactly
    mag = torch.rand(2, 1, 257, 300) * 3
    with torch.inference_mode():
        whole = system.enhancer()(mag)
    fast = fast_enhancer(system, precision="bf16")(mag)
    assert fast.dtype == torch.float32 and fast.shape == whole.shape
    assert not torch.equal(fast, whole)  # it did run in bf16
    torch.testing.assert_close(fast, whole, rtol=0.05, atol=0.02)
    assert next(system.model.parameters()).dtype == torch.float32


def test_int8_is_close_and_calibrated(checkpoint: Path) -> None:  # noqa: F811
    system = EnhancementSystem.from_checkpoint(checkpoint)
    system.gain_floor_db = system.gain_ceiling_db = None  # at a bound every precision agrees exactly
    calibration = [torch.rand(1, 1, 257, 300) * 3 for _ in range(2)]
    mag = torch.rand(2, 1, 257, 400) * 3
    with torch.inference_mode():
        whole = system.enhancer()(mag)
    int8 = fast_enhancer(system, precision="int8", calibration=calibration)
    assert any("quantized" in type(m).__module__ for m in int8.modules())
    fast = int8(mag)
    assert not torch.equal(fast, whole)
    assert float((fast - whole).norm() / whole.norm()) < 0.02
    with pytest.raises(ValueError, match="needs calibration"):
        fast_enhancer(system, precision="int8")
    with pytest.raises(ValueError, match="needs calibration spectra"):
        fast_enhancer(system, precision="int8", calibration=[])
    elu = EnhancementSystem(SpectralCNN(channels=4, activation="elu"))
    with pytest.raises(ValueError, match="int8 needs ReLU activations.*ELU"):
        fast_enhancer(elu, precision="int8", calibration=calibration)


def test_int8_channels_are_padded_without_changing_the_network() -> None:
    torch.manual_seed(0)
    model = SpectralCNN().eval()
    padded = QuantizableCNN(model).eval()
    convs = [m for m in padded.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 64), (64, 64), (64, 1)]
    x = torch.rand(2, 1, 257, 40) * 3
    with torch.inference_mode():  # the float copy before quantization: the stubs are identities
        torch.testing.assert_close(padded(x), model(x), rtol=1e-5, atol=1e-5)
        hidden = padded.body[:2](x)
    assert torch.count_nonzero(hidden[:, 54:]) == 0  # the padded channels carry nothing


def test_int8_from_the_command_line(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    write_wav(tmp_path / "in.wav", speechlike(2.0, 16000), 16000)
    args = ["-o", str(tmp_path / "o"), "--checkpoint", str(checkpoint), "--precision", "int8"]
    assert main([str(tmp_path / "in.wav"), *args]) == 0
    out, _ = read_wav(tmp_path / "o" / "in_enhanced.wav")
    system = EnhancementSystem.from_checkpoint(checkpoint)
    exact = enhance_recording(fast_enhancer(system), speechlike(2.0, 16000), 16000, system.stft_config)
    assert np.sqrt(np.mean((out - exact) ** 2)) < 0.05 * np.sqrt(np.mean(exact**2))
    (tmp_path / "bad.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "bad.wav"), *args])


def test_fast_enhancer_refuses_what_it_cannot_run(checkpoint: Path) -> None:  # noqa: F811
    system = EnhancementSystem.from_checkpoint(checkpoint)
    with pytest.raises(ValueError, match="precision='fp8'"):
        fast_enhancer(system, precision="fp8")
    with pytest.raises(ValueError, match="block_frames=0"):
        fast_enhancer(system, block_frames=0)
    with pytest.raises(ValueError, match="expected \\[B, 1, F, T\\]"):
        fast_enhancer(system)(torch.rand(257, 10))
    with pytest.raises(ValueError, match="Baseline is not a stack of convolutions"):
        fast_enhancer(EnhancementSystem(Baseline("wiener")))


def test_only_a_stack_of_local_layers_runs_in_blocks(checkpoint: Path) -> None:  # noqa: F811
    """What scoring, the pyfunc model and streaming ask before running a network block by block; a model
    family of another kind (here one gain per bin, a leaf of its own) is run whole instead."""
    from rcnn_se.deploy.inference import blockable

    class BinGain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gain = torch.nn.Parameter(torch.zeros(1, 1, 257, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(self.gain)

    assert blockable(EnhancementSystem.from_checkpoint(checkpoint).model)
    assert not blockable(BinGain()) and not blockable(Baseline("wiener"))
    assert not blockable(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.LSTM(4, 4)))


def test_bad_inputs_do_not_lose_good_ones(checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_wav(tmp_path / "good.wav", speechlike(0.5, 16000), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFFjunk")
    code = main([str(tmp_path / "broken.wav"), str(tmp_path / "good.wav"), "-o", str(tmp_path / "o"),
                 "--checkpoint", str(checkpoint)])  # fmt: skip
    assert code == 1 and (tmp_path / "o" / "good_enhanced.wav").is_file()
    assert "broken.wav: cannot be read as audio" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                str(tmp_path / "good.wav"),
                "-o",
                str(tmp_path / "o"),
                "--checkpoint",
                str(tmp_path / "none.ckpt"),
            ]
        )


@pytest.mark.slow
def test_from_mlflow_run_via_console_script(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp).info.run_id
    client.log_artifact(run, str(checkpoint), artifact_path="checkpoints")
    empty = client.create_run(exp).info.run_id
    write_wav(tmp_path / "x.wav", speechlike(0.7, 22050), 22050)
    exe = Path(sys.executable).parent / "rcnn-se"
    base = [str(exe), "enhance", str(tmp_path / "x.wav"), "-o", str(tmp_path / "o"), "--tracking-uri", uri]
    done = subprocess.run(
        [*base, "--run-id", run, "--precision", "bf16"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "RTF" in done.stdout and (tmp_path / "o" / "x_enhanced.wav").is_file()
    with process_kept(), pytest.raises(SystemExit, match="has no checkpoint artifact") as missing:
        main([*base[2:], "--run-id", empty])  # the same command in this process
    assert isinstance(missing.value.code, str), "a message: exit status 1"


def enhance_cli(checkpoint: Path, *args: str) -> int:  # noqa: F811
    return main([*args, "--checkpoint", str(checkpoint)])


def test_colliding_names_keep_every_output(checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    """a/same.wav and b/same.wav, clip.wav and clip.flac: four inputs, four distinct outputs."""
    waves = {}
    for i, rel in enumerate(["a/same.wav", "b/same.wav", "c/clip.wav", "c/clip.flac"]):
        path = tmp_path / "in" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        waves[rel] = speechlike(0.4, 16000) * (0.5 + 0.1 * i)
        import soundfile as sf

        sf.write(str(path), waves[rel], 16000)
    out = tmp_path / "out"
    inputs = [str(tmp_path / "in" / rel) for rel in waves]
    assert enhance_cli(checkpoint, *inputs, str(tmp_path / "in" / "a" / "same.wav"), "-o", str(out)) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.wav"))
    assert written == [
        "a/same_enhanced.wav",
        "b/same_enhanced.wav",
        "c/clip_enhanced.wav",
        "c/clip_enhanced_2.wav",
    ]
    levels = [float(np.abs(read_wav(out / name)[0]).mean()) for name in written]
    assert len(set(np.round(levels, 6))) == 4, "an output was overwritten by another input's"
    assert capsys.readouterr().out.count(" -> ") == 4  # the file listed twice is enhanced once


def test_output_onto_an_input_is_refused_unless_overwrite(checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_wav(tmp_path / "x.wav", speechlike(0.5, 16000), 16000)
    write_wav(tmp_path / "x_enhanced.wav", speechlike(0.5, 16000) * 0.5, 16000)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.wav")}
    with pytest.raises(SystemExit) as refused:
        enhance_cli(
            checkpoint, str(tmp_path / "x.wav"), str(tmp_path / "x_enhanced.wav"), "-o", str(tmp_path)
        )
    assert refused.value.code == 2
    assert (
        "x_enhanced.wav: an output would overwrite this input; nothing was written" in capsys.readouterr().err
    )
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.wav")} == before
    # with --overwrite, x_enhanced.wav is read (as an input) before x's output replaces it
    code = enhance_cli(
        checkpoint,
        str(tmp_path / "x.wav"),
        str(tmp_path / "x_enhanced.wav"),
        "-o",
        str(tmp_path),
        "--overwrite",
    )
    assert code == 0
    system = EnhancementSystem.from_checkpoint(checkpoint)
    old, _ = read_wav(tmp_path / "x.wav")
    expected = enhance_recording(fast_enhancer(system), old, 16000, system.stft_config)
    np.testing.assert_allclose(read_wav(tmp_path / "x_enhanced.wav")[0], expected, atol=1e-4)
    assert (tmp_path / "x_enhanced_enhanced.wav").is_file()


def test_short_broken_and_truncated_inputs_never_stop_the_batch(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    capsys,
) -> None:
    write_wav(tmp_path / "tiny.wav", speechlike(0.5, 16000)[:10], 16000)
    write_wav(tmp_path / "good.wav", speechlike(0.5, 16000), 16000)
    write_wav(tmp_path / "full.wav", speechlike(1.0, 16000), 16000)
    whole = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "broken.wav").write_bytes(b"RIFFjunk")
    names = ["tiny.wav", "cut.wav", "broken.wav", "missing.wav", "good.wav"]
    code = enhance_cli(checkpoint, *[str(tmp_path / n) for n in names], "-o", str(tmp_path / "o"))
    err = capsys.readouterr().err
    assert code == 1
    tiny, _ = read_wav(tmp_path / "o" / "tiny_enhanced.wav")
    assert len(tiny) == 10 and (tmp_path / "o" / "good_enhanced.wav").is_file()
    assert "3 of 5 files failed" in err
    assert "cut.wav: truncated, its header promises 16000 frames but the file holds 7989" in err
    assert "broken.wav: cannot be read as audio" in err and "missing.wav: file not found" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "cut_enhanced.wav").exists()


def test_output_folder_that_is_a_file_is_one_clear_error(checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_wav(tmp_path / "x.wav", speechlike(0.5, 16000), 16000)
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(SystemExit) as refused:
        enhance_cli(checkpoint, str(tmp_path / "x.wav"), "-o", str(tmp_path / "taken"))
    assert refused.value.code == 2 and "taken: exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path: Path) -> None:
    target = write_wav(tmp_path / "x.wav", speechlike(0.5, 16000), 16000)
    before = target.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - soundfile's own error for an impossible rate
        write_wav(target, speechlike(0.5, 16000), 0)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_each_file_reports_length_time_rtf_and_peak_memory(checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: F811
    write_wav(tmp_path / "x.wav", speechlike(1.5, 48000), 48000)
    assert enhance_cli(checkpoint, str(tmp_path / "x.wav"), "-o", str(tmp_path / "o")) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    pattern = r"x\.wav \(1\.5 s, 48000 Hz\) -> .*x_enhanced\.wav  \d+\.\d s, RTF \d+\.\d{3}, peak RSS \d+ MB$"
    assert re.search(pattern, line), line
    peak = float(line.split("peak RSS ")[1].split()[0])
    assert 50 < peak < 1e5  # MB: this process's own peak, ru_maxrss in KiB on Linux


def test_int8_calibrates_on_the_start_of_long_files_only(
    checkpoint: Path, tmp_path: Path, monkeypatch
) -> None:
    from rcnn_se.deploy import enhance, streaming

    write_wav(tmp_path / "long.wav", speechlike(5.0, 48000), 48000)
    write_wav(tmp_path / "next.wav", speechlike(1.0, 16000), 16000)
    spans = []
    original = streaming.WavSignal.read
    monkeypatch.setattr(
        streaming.WavSignal, "read", lambda s, lo, hi: spans.append((lo, hi)) or original(s, lo, hi)
    )
    cfg = EnhancementSystem.from_checkpoint(checkpoint).stft_config
    spectra = enhance.calibration_spectra([tmp_path / "long.wav", tmp_path / "next.wav"], cfg, seconds=2.0)
    assert spans == [(0, 96000)], "two seconds read, the second file not opened"
    samples, _ = read_wav(tmp_path / "long.wav")
    expected = stft(torch.from_numpy(resample(samples[:96000], 48000, 16000)), cfg).abs()
    assert len(spectra) == 1 and torch.equal(spectra[0][0, 0], expected)
