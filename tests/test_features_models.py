import numpy as np
import pytest
import torch

from rcnn_se.data.features import StftConfig, compress, decompress, istft, stft, with_phase_of
from rcnn_se.models.spectral_cnn import SpectralCNN, model_size_mb, parameter_count


def test_stft_matches_paper_front_end_and_round_trips() -> None:
    cfg = StftConfig()
    wave = torch.from_numpy(np.random.default_rng(1).standard_normal(16000).astype(np.float32))
    spec = stft(wave, cfg)
    assert spec.shape == (257, cfg.n_frames(16000))
    assert cfg.hop_length / cfg.win_length == 0.25  # 75 % overlap
    back = istft(with_phase_of(spec.abs(), spec), cfg, length=16000)
    assert torch.max(torch.abs(back - wave)) < 1e-4


def test_phase_reuse_is_polar_of_the_reference_angle_zero_bins_included() -> None:
    gen = torch.Generator().manual_seed(3)
    reference = torch.randn(257, 40, dtype=torch.complex64, generator=gen)
    reference[5:9, 3] = 0  # silent bins: phase 0, as torch.angle gives it
    magnitude = torch.rand(257, 40, generator=gen) * 4
    expected = torch.polar(magnitude, torch.angle(reference))
    for out in (with_phase_of(magnitude, reference), with_phase_of(magnitude, reference, reference.abs())):
        assert torch.allclose(out, expected, atol=1e-5)
        assert torch.equal(out[5:9, 3], magnitude[5:9, 3].to(out.dtype))


@pytest.mark.parametrize("kind", ["none", "log1p", "log"])
def test_compression_inverts(kind: str) -> None:
    mag = torch.rand(3, 257, 10) * 50
    assert torch.allclose(decompress(compress(mag, kind), kind), mag, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="features.compress='cubic'"):
        compress(mag, "cubic")


def test_paper_sized_model_and_shapes() -> None:
    torch.manual_seed(0)  # whether a random network's output dips below zero depends on its draw
    model = SpectralCNN()
    assert parameter_count(model) == 148_663
    assert 0.54 <= model_size_mb(model) <= 0.63
    x = torch.rand(2, 1, 257, 33)
    assert model(x).shape == x.shape
    plain, raw = SpectralCNN(skip=False), SpectralCNN(skip=False, final_activation=False)
    raw.load_state_dict(plain.state_dict())
    assert torch.any(raw(x) < 0), "without the final ReLU this network yields negative magnitudes"
    torch.testing.assert_close(plain(x), raw(x).clamp_min(0), msg="final_activation is exactly that ReLU")


def test_skip_connection_passes_input_through() -> None:
    rcnn, cnn = SpectralCNN(skip=True), SpectralCNN(skip=False)
    for net in (rcnn, cnn):
        last = net.body[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    x = torch.rand(1, 1, 257, 8)
    assert torch.equal(rcnn(x), x)
    assert torch.count_nonzero(cnn(x)) == 0


@pytest.mark.parametrize("activation", ["relu", "elu", "selu", "prelu"])
def test_activations_and_dropout(activation: str) -> None:
    net = SpectralCNN(activation=activation, dropout=0.2, channels=8)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3
    assert net(torch.rand(1, 1, 257, 4)).shape == (1, 1, 257, 4)


def floored_system(floor_db: float | None):
    """An RCNN whose output bias is very negative, so without a floor it silences every bin."""
    from rcnn_se.training.system import EnhancementSystem

    torch.manual_seed(0)
    model = SpectralCNN(channels=8, skip=True)
    with torch.no_grad():
        model.body[-1].bias.fill_(-50.0)
    return EnhancementSystem(model, compress="log1p", gain_floor_db=floor_db).eval()


def test_gain_floor_bounds_every_inference_path(tmp_path) -> None:
    from rcnn_se.deploy.export import export_onnx
    from rcnn_se.deploy.inference import fast_enhancer

    noisy = torch.rand(1, 1, 257, 40) * 5 + 1e-3
    assert torch.all(floored_system(None).enhancer()(noisy) == 0), "without a floor: silence"
    system = floored_system(-25.0)
    floor = 10 ** (-25 / 20) * noisy
    torch.testing.assert_close(system.enhancer()(noisy), floor)
    calibration = [noisy]
    for precision in ("fp32", "bf16", "int8"):
        out = fast_enhancer(system, precision=precision, calibration=calibration)(noisy)
        torch.testing.assert_close(out, floor, msg=f"{precision} ignores the floor")
    import onnxruntime as ort

    session = ort.InferenceSession(str(export_onnx(system, tmp_path / "m.onnx")))
    (onnx_out,) = session.run(None, {"noisy_magnitude": noisy.numpy()})
    np.testing.assert_allclose(onnx_out, floor.numpy(), rtol=1e-5)
    # Where the network keeps more than the floor, the floor changes nothing.
    keep = floored_system(-25.0)
    with torch.no_grad():
        keep.model.body[-1].bias.fill_(0.0)
    unfloored = floored_system(None)
    unfloored.model.load_state_dict(keep.model.state_dict())
    above = unfloored.enhancer()(noisy) >= 10 ** (-25 / 20) * noisy
    assert above.float().mean() > 0.5
    kept, free = keep.enhancer()(noisy), unfloored.enhancer()(noisy)
    torch.testing.assert_close(kept[above], free[above])


def test_masked_loss_ignores_zero_padding() -> None:
    from rcnn_se.training.system import masked_mse

    est, target = torch.rand(2, 1, 257, 30), torch.rand(2, 1, 257, 30)
    full = masked_mse(est, target, torch.tensor([30, 30]))
    torch.testing.assert_close(full, torch.mean((est - target) ** 2))
    # Item 1 has 12 real frames: what lies past them must not count.
    short = masked_mse(est, target, torch.tensor([30, 12]))
    altered = target.clone()
    altered[1, ..., 12:] += 100.0
    torch.testing.assert_close(masked_mse(est, altered, torch.tensor([30, 12])), short)
    expected = ((est[0] - target[0]) ** 2).sum() + ((est[1, ..., :12] - target[1, ..., :12]) ** 2).sum()
    torch.testing.assert_close(short, expected / (257 * 42))


def test_segments_report_their_real_frames(tmp_path) -> None:
    from conftest import write_pair_corpus
    from rcnn_se.data.cache import build_cache
    from rcnn_se.data.corpus import scan_split
    from rcnn_se.data.features import StftConfig
    from rcnn_se.data.segments import SegmentDataset

    root = write_pair_corpus(tmp_path / "c", "test", [("p1_001", "x", 5.0)], sr=16000, seconds=1.0)
    cache = build_cache(scan_split(root, "test"), StftConfig(), tmp_path / "cache")
    frames = cache.items[0].n_frames  # 126 frames in 1 s
    data = SegmentDataset(cache, [0], 50)
    valid = [int(data[k][2]) for k in range(len(data))]
    assert sum(valid) == frames and valid[:-1] == [50] * (len(data) - 1)
    noisy, _, last = data[len(data) - 1]
    assert torch.all(noisy[..., int(last) :] == 0) and torch.any(noisy[..., : int(last)] > 0)
