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


@pytest.mark.parametrize("kind", ["none", "log1p"])
def test_compression_inverts(kind: str) -> None:
    mag = torch.rand(3, 257, 10) * 50
    assert torch.allclose(decompress(compress(mag, kind), kind), mag, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="features.compress='cubic'"):
        compress(mag, "cubic")


def test_paper_sized_model_and_shapes() -> None:
    model = SpectralCNN()
    assert parameter_count(model) == 148_663
    assert 0.54 <= model_size_mb(model) <= 0.63
    x = torch.rand(2, 1, 257, 33)
    assert model(x).shape == x.shape
    assert torch.all(model(x) >= 0), "final ReLU keeps magnitudes non-negative"


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


def test_bad_model_settings_are_named() -> None:
    with pytest.raises(ValueError, match="activation='tanh'"):
        SpectralCNN(activation="tanh")
    with pytest.raises(ValueError, match="kernel_size=4"):
        SpectralCNN(kernel_size=4)
    with pytest.raises(ValueError, match="dropout=1.5"):
        SpectralCNN(dropout=1.5)
