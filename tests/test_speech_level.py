"""The active speech level (ITU-T P.56) that every mixed SNR of the demo corpus and the real-speech check
is set against."""

from __future__ import annotations

import numpy as np
import pytest

from rcnn_se.data.speech import active_power

SR = 16000


def bursts(floor_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """1 s tone bursts (power 0.005) separated by 1 s pauses, with or without a room floor in the pauses."""
    tone = 0.1 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR)
    x = np.concatenate([tone, np.zeros(SR)] * 3)
    if floor_db is not None:
        x = x + np.sqrt(0.005 * 10 ** (floor_db / 10)) * rng.standard_normal(len(x))
    return x


def test_a_steady_signal_is_active_throughout() -> None:
    tone = 0.1 * np.sin(2 * np.pi * 300 * np.arange(4 * SR) / SR)
    assert 10 * np.log10(active_power(tone, SR) / 0.005) == pytest.approx(0.0, abs=0.1)


def test_pauses_do_not_count_even_with_a_room_floor() -> None:
    rng = np.random.default_rng(0)
    silent = 10 * np.log10(active_power(bursts(None, rng), SR) / 0.005)
    assert -1.5 < silent < -0.3, "the bursts' level, less only the 200 ms hangover after each"
    for floor_db in (-40.0, -30.0, -25.0):
        with_floor = 10 * np.log10(active_power(bursts(floor_db, rng), SR) / 0.005)
        assert with_floor == pytest.approx(silent, abs=0.15), f"a floor {floor_db} dB down is not speech"
    mean_db = 10 * np.log10(np.mean(bursts(-30.0, rng) ** 2) / 0.005)
    assert mean_db < silent - 1.5, "the mean power counts the pauses; the active level does not"


def test_level_scales_with_the_signal_and_silence_is_zero() -> None:
    x = bursts(-35.0, np.random.default_rng(1))
    assert active_power(2 * x, SR) == pytest.approx(4 * active_power(x, SR), rel=1e-6)
    assert active_power(np.zeros(SR), SR) == 0.0
