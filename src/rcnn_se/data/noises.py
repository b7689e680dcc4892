"""Procedural noises for the demo corpus: 10 training types and 5 different, unseen test types.

Like DEMAND, the test noises differ in kind from the training noises, so the demo test set measures
generalisation to unseen conditions as the paper's does. Every generator is seeded and non-stationary enough
that a fixed noise estimate is not the whole answer. Test babble is made of talkers who appear nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

Noise = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, n_samples, sample_rate) -> noise


def _band(x: np.ndarray, sr: int, low: float | None, high: float | None, order: int = 4) -> np.ndarray:
    nyq = sr / 2
    if low and high:
        sos = butter(order, [low / nyq, min(high / nyq, 0.99)], "bandpass", output="sos")
    elif low:
        sos = butter(order, low / nyq, "highpass", output="sos")
    else:
        sos = butter(order, min(high / nyq, 0.99), "lowpass", output="sos")
    return sosfilt(sos, x)


def _envelope(rng: np.random.Generator, n: int, sr: int, rate_hz: float, depth: float) -> np.ndarray:
    """A smooth random gain around 1: slow level changes that make a noise non-stationary."""
    knots = max(2, int(n / sr * rate_hz) + 2)
    env = np.interp(np.arange(n), np.linspace(0, n, knots), rng.uniform(1 - depth, 1 + depth, knots))
    return env


def _coloured(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with a 1/f^exponent power spectrum, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / f ** (exponent / 2), n)


def _clicks(rng: np.random.Generator, n: int, sr: int, rate_hz: float, decay_ms: float) -> np.ndarray:
    impulses = np.zeros(n)
    count = rng.poisson(rate_hz * n / sr)
    impulses[rng.integers(0, n, count)] = rng.uniform(0.3, 1.0, count) * rng.choice([-1, 1], count)
    pole = np.exp(-1000 / (decay_ms * sr))
    return lfilter([1], [1, -pole], impulses * rng.standard_normal(n).clip(-3, 3))


def white(rng, n, sr):
    return rng.standard_normal(n) * _envelope(rng, n, sr, 0.5, 0.3)


def pink(rng, n, sr):
    return _coloured(rng, n, 1.0) * _envelope(rng, n, sr, 0.5, 0.3)


def brown(rng, n, sr):
    return _coloured(rng, n, 2.0) * _envelope(rng, n, sr, 0.5, 0.3)


def car(rng, n, sr):
    t = np.arange(n) / sr
    rpm_hz = rng.uniform(25, 45) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t))
    engine = sum(np.sin(2 * np.pi * k * np.cumsum(rpm_hz) / sr) / k for k in (1, 2, 3, 4))
    return _band(_coloured(rng, n, 2.0), sr, None, 300) * 4 + 0.3 * engine


def hum(rng, n, sr):
    t = np.arange(n) / sr
    mains = rng.choice([50.0, 60.0])
    return sum(
        rng.uniform(0.2, 1) * np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6)) for k in range(1, 8)
    ) + (0.05 * rng.standard_normal(n))


def hvac(rng, n, sr):
    return _band(rng.standard_normal(n), sr, 80, 2500) * _envelope(rng, n, sr, 0.3, 0.25)


def rain(rng, n, sr):
    return _band(_clicks(rng, n, sr, 400, 2), sr, 1000, 8000) + 0.2 * _band(
        rng.standard_normal(n), sr, 500, 6000
    )


def traffic(rng, n, sr):
    t = np.arange(n) / sr
    passes = sum(
        np.exp(-(((t - rng.uniform(0, n / sr)) / rng.uniform(0.3, 1.0)) ** 2))
        for _ in range(rng.integers(1, 4))
    )
    return _band(_coloured(rng, n, 1.5), sr, 40, 3000) * (0.3 + passes)


def machine(rng, n, sr):
    period = int(sr / rng.uniform(3, 9))
    impulses = np.zeros(n)
    impulses[rng.integers(0, period) :: period] = 1.0
    ring = lfilter([1], [1, -1.6 * np.cos(2 * np.pi * rng.uniform(300, 1500) / sr), 0.81], impulses)
    return ring + 0.1 * _band(rng.standard_normal(n), sr, 200, 4000)


def wind(rng, n, sr):
    return _band(rng.standard_normal(n), sr, None, 400) * _envelope(rng, n, sr, 1.5, 0.8) ** 2


def make_babble(talkers: Sequence[np.ndarray]) -> Noise:
    """Babble from a fixed pool of long talker recordings: 4-6 of them at random offsets."""

    def babble(rng, n, sr):
        out = np.zeros(n)
        for k in rng.choice(len(talkers), size=min(len(talkers), int(rng.integers(4, 7))), replace=False):
            src = np.tile(talkers[k], int(np.ceil(n / len(talkers[k]))) + 1)
            start = int(rng.integers(0, len(talkers[k])))
            out += src[start : start + n]
        return out

    return babble


def unseen_noises(babble: Noise) -> dict[str, Noise]:
    def cafe(rng, n, sr):
        return babble(rng, n, sr) + 0.6 * _band(_clicks(rng, n, sr, 3, 15), sr, 1500, 7000) * 3

    def street(rng, n, sr):
        return traffic(rng, n, sr) + 0.3 * babble(rng, n, sr) / 3

    def office(rng, n, sr):
        return _band(_clicks(rng, n, sr, 8, 4), sr, 800, 6000) * 4 + hvac(rng, n, sr) * 0.4

    def bus(rng, n, sr):
        return (
            car(rng, n, sr) * 0.8
            + 0.4 * babble(rng, n, sr) / 3
            + 0.3 * _band(rng.standard_normal(n), sr, 2000, 5000)
        )

    return {"babble": babble, "cafe": cafe, "street": street, "office": office, "bus": bus}


TRAIN_NOISES: dict[str, Noise] = {
    "white": white, "pink": pink, "brown": brown, "car": car, "hum": hum,
    "hvac": hvac, "rain": rain, "traffic": traffic, "machine": machine, "wind": wind,
}  # fmt: skip
