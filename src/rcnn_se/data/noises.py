"""Procedural noises for the demo corpus, shaped after DEMAND's recording classes.

DEMAND's noises (domestic, office, public, transport, street, nature) are mostly low-frequency weighted,
non-stationary, and some carry babble or transients; VoiceBank-DEMAND trains on ten noise types and tests on
five others. So does the demo corpus: ten training generators and five test generators (`living`,
`office`, `bus`, `cafe`, `psquare`, VoiceBank's test labels). The test generators are written on their own,
not as sums of the training generators, so the demo test set measures generalisation to unseen noise as
the paper's does; the only things they share with training are low-level tools (filters, envelopes,
a room). Babble is made of talkers passed in by the caller, so test babble can be voiced by talkers who
appear nowhere in training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

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
    return np.interp(np.arange(n), np.linspace(0, n, knots), rng.uniform(1 - depth, 1 + depth, knots))


def _coloured(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with a 1/f^exponent power spectrum, shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / f ** (exponent / 2), n)


def _unit(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2)))
    return x / rms if rms > 0 else x


def _events(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """Sample positions of a Poisson process of `rate_hz` events per second."""
    return rng.integers(0, n, rng.poisson(rate_hz * n / sr))


def _pings(
    rng: np.random.Generator, n: int, sr: int, rate_hz: float, freqs: tuple[float, float], decay_ms: float
) -> np.ndarray:
    """Decaying resonances at random frequencies: clinks of cutlery, dishes, keys."""
    out = np.zeros(n)
    m = int(sr * decay_ms / 1000 * 5)
    t = np.arange(m) / sr
    for at in _events(rng, n, sr, rate_hz):
        f = rng.uniform(*freqs)
        ring = np.sin(2 * np.pi * f * t) * np.exp(-t * 1000 / decay_ms) * rng.uniform(0.3, 1.0)
        stop = min(n, at + m)
        out[at:stop] += ring[: stop - at]
    return out


def _clicks(rng: np.random.Generator, n: int, sr: int, rate_hz: float, decay_ms: float) -> np.ndarray:
    """Short noise bursts with exponential decay: footsteps, key strokes, rain drops."""
    impulses = np.zeros(n)
    at = _events(rng, n, sr, rate_hz)
    impulses[at] = rng.uniform(0.3, 1.0, len(at)) * rng.choice([-1, 1], len(at))
    pole = np.exp(-1000 / (decay_ms * sr))
    return lfilter([1], [1, -pole], impulses * rng.standard_normal(n).clip(-3, 3))


def _harmonics(rng: np.random.Generator, n: int, sr: int, f0: float, count: int, wobble: float) -> np.ndarray:
    """A rotating machine: harmonics of a slowly wandering fundamental, falling 1/k."""
    t = np.arange(n) / sr
    f = f0 * (1 + wobble * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / sr
    return sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, count + 1))


def _room(rng: np.random.Generator, x: np.ndarray, sr: int, rt60: float) -> np.ndarray:
    """Convolve with exponentially decaying noise: a diffuse room of reverberation time `rt60`."""
    m = int(sr * rt60)
    ir = rng.standard_normal(m) * np.exp(-6.9 * np.arange(m) / m)
    ir[0] = 3.0
    return fftconvolve(x, ir)[: len(x)]


def _talk(rng: np.random.Generator, talkers: Sequence[np.ndarray], n: int, count: int) -> np.ndarray:
    """`count` talkers from the pool at random offsets, each at its own level."""
    out = np.zeros(n)
    for k in rng.choice(len(talkers), size=min(len(talkers), count), replace=False):
        src = np.tile(talkers[k], int(np.ceil(n / len(talkers[k]))) + 1)
        start = int(rng.integers(0, len(talkers[k])))
        out += src[start : start + n] * rng.uniform(0.6, 1.0)
    return out


def _gusts(rng: np.random.Generator, n: int, sr: int, cutoff: float, rate_hz: float) -> np.ndarray:
    return _band(rng.standard_normal(n), sr, None, cutoff) * _envelope(rng, n, sr, rate_hz, 0.9) ** 2


def _rumble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """The low-frequency bed under most of DEMAND's recordings: traffic, ventilation, building rumble."""
    return _unit(_band(_coloured(rng, n, 2.0), sr, 20, 200) * _envelope(rng, n, sr, 0.3, 0.3))


def recording_floor(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """The background of a quiet recording room: microphone hiss between white and pink, plus building rumble.

    Recorded speech never falls to digital silence; its quietest frames sit 20-40 dB under the speech level
    (measured on the real-speech check's close-talk recordings). Clean targets that are silent between words
    teach a model to carve real recordings' pauses and weak consonants out.
    """
    hiss = _band(_coloured(rng, n, rng.uniform(0.0, 1.2)), sr, 60, None, order=2)
    return _unit(_unit(hiss) + rng.uniform(0.3, 1.0) * _rumble(rng, n, sr))


def training_noises(talkers: Sequence[np.ndarray]) -> dict[str, Noise]:
    """VoiceBank's training mix: speech-shaped noise and babble, plus eight DEMAND-like recordings."""

    def ssn(rng, n, sr):
        return _band(_coloured(rng, n, 1.0), sr, 100, 6000) * _envelope(rng, n, sr, 0.3, 0.1)

    def babble(rng, n, sr):
        return _room(rng, _talk(rng, talkers, n, int(rng.integers(4, 8))), sr, 0.3)

    def kitchen(rng, n, sr):
        hum = _band(_coloured(rng, n, 2.0), sr, 30, 250)
        water = _band(rng.standard_normal(n), sr, 400, 5000) * (_envelope(rng, n, sr, 0.7, 1.0) > 1.2)
        return _unit(hum) + 0.4 * _unit(water) + 1.5 * _pings(rng, n, sr, 1.5, (1500, 6000), 60)

    def washing(rng, n, sr):
        drum = _band(_coloured(rng, n, 2.0), sr, 20, 300) * (
            1 + 0.6 * np.sin(2 * np.pi * 0.9 * np.arange(n) / sr)
        )
        return _unit(drum) + 0.3 * _unit(_harmonics(rng, n, sr, rng.uniform(90, 160), 6, 0.02))

    def meeting(rng, n, sr):
        far = _room(rng, _band(_talk(rng, talkers, n, 2), sr, 150, 3500), sr, 0.5)
        rustle = _band(_clicks(rng, n, sr, 3, 40), sr, 2000, 8000)
        return _unit(far) + 0.3 * _unit(rustle) + 0.5 * _unit(_band(rng.standard_normal(n), sr, 40, 400))

    def station(rng, n, sr):
        crowd = _room(rng, _band(_talk(rng, talkers, n, 8), sr, 100, 4000), sr, 1.5)
        rumble = _band(_coloured(rng, n, 2.0), sr, 20, 200) * _envelope(rng, n, sr, 0.4, 0.7)
        return _unit(crowd) + 1.2 * _unit(rumble)

    def car(rng, n, sr):
        road = _band(_coloured(rng, n, 2.0), sr, 20, 400)
        return 2.0 * _unit(road) + 0.7 * _unit(_harmonics(rng, n, sr, rng.uniform(25, 45), 4, 0.1))

    def metro(rng, n, sr):
        rail = _band(_coloured(rng, n, 1.5), sr, 30, 800) * _envelope(rng, n, sr, 0.5, 0.4)
        clack = _band(_clicks(rng, n, sr, 2.5, 15), sr, 100, 2000)
        squeal = _band(rng.standard_normal(n), sr, 2500, 3500) * (_envelope(rng, n, sr, 0.3, 1.0) > 1.5)
        return 2.0 * _unit(rail) + 0.5 * _unit(clack) + 0.2 * _unit(squeal)

    def traffic(rng, n, sr):
        t = np.arange(n) / sr
        passes = sum(
            np.exp(-(((t - rng.uniform(0, n / sr)) / rng.uniform(0.4, 1.2)) ** 2))
            for _ in range(rng.integers(1, 4))
        )
        return _unit(_band(_coloured(rng, n, 1.5), sr, 30, 2500) * (0.3 + passes))

    def river(rng, n, sr):
        bubbles = _pings(rng, n, sr, 300, (300, 2500), 6)
        return _unit(bubbles) + 0.6 * _unit(_band(_coloured(rng, n, 1.0), sr, 50, 4000))

    return {
        "ssn": ssn, "babble": babble, "kitchen": kitchen, "washing": washing, "meeting": meeting,
        "station": station, "car": car, "metro": metro, "traffic": traffic, "river": river,
    }  # fmt: skip


def unseen_noises(talkers: Sequence[np.ndarray]) -> dict[str, Noise]:
    """VoiceBank's five test noise types, each its own generator; `talkers` should be test-only voices."""

    def living(rng, n, sr):
        tv = _room(rng, _band(_talk(rng, talkers, n, 1), sr, 200, 5000), sr, 0.6)
        notes = np.zeros(n)
        t = np.arange(n) / sr
        for start in range(0, n, int(sr * rng.uniform(0.25, 0.5))):
            f = 110 * 2 ** (rng.integers(0, 24) / 12)
            seg = slice(start, min(n, start + int(sr * 0.5)))
            notes[seg] += sum(np.sin(2 * np.pi * f * k * t[seg]) / k**1.5 for k in (1, 2, 3))
        fridge = _band(_coloured(rng, n, 2.0), sr, 25, 180)
        return (
            _unit(tv)
            + 0.4 * _unit(_room(rng, notes, sr, 0.6))
            + 0.8 * _unit(fridge)
            + 2.5 * _rumble(rng, n, sr)
        )

    def office(rng, n, sr):
        fan = _band(rng.standard_normal(n), sr, 40, 700) + 0.3 * _harmonics(
            rng, n, sr, rng.uniform(100, 240), 3, 0.005
        )
        typing = np.zeros(n)
        for burst in _events(rng, n, sr, 0.6):  # bursts of key strokes, 6-12 per second
            for k in range(int(rng.integers(4, 15))):
                at = burst + int(sr * k * rng.uniform(0.08, 0.17))
                if at < n - 400:
                    typing[at : at + 400] += rng.standard_normal(400) * np.exp(-np.arange(400) / (sr * 0.003))
        far = _band(_talk(rng, talkers, n, 1), sr, 300, 3000)
        return (
            1.5 * _unit(fan)
            + 0.4 * _unit(_band(typing, sr, 1000, 7000))
            + 0.3 * _unit(far)
            + 3.5 * _rumble(rng, n, sr)
        )

    def bus(rng, n, sr):
        t = np.arange(n) / sr
        firing = rng.uniform(28, 40) * (
            1 + 0.25 * np.clip(np.sin(2 * np.pi * rng.uniform(0.03, 0.1) * t), -1, 1)
        )
        engine = np.sin(2 * np.pi * np.cumsum(firing) / sr)
        engine = np.sign(engine) * np.abs(engine) ** 0.5  # a rough, harmonic-rich diesel
        rumble = _band(_coloured(rng, n, 2.0), sr, 20, 300)
        hiss = _band(rng.standard_normal(n), sr, 3000, 7000) * (_envelope(rng, n, sr, 0.4, 1.0) > 1.6)
        return 1.3 * _unit(_band(engine, sr, 20, 600)) + 1.5 * _unit(rumble) + 0.2 * _unit(hiss)

    def cafe(rng, n, sr):
        crowd = _room(rng, _talk(rng, talkers, n, len(talkers)), sr, 0.8)
        cutlery = _pings(rng, n, sr, 3.0, (2500, 7500), 25)
        steam = _band(rng.standard_normal(n), sr, 1500, 7500) * (_envelope(rng, n, sr, 0.2, 1.0) > 1.7)
        return _unit(crowd) + 0.6 * _unit(cutlery) + 0.15 * _unit(steam) + 3.0 * _rumble(rng, n, sr)

    def psquare(rng, n, sr):
        murmur = _band(_talk(rng, talkers, n, max(1, len(talkers) - 1)), sr, 80, 2500)
        steps = _band(_clicks(rng, n, sr, 2.0, 25), sr, 60, 1200)
        wind = _gusts(rng, n, sr, 250, 0.6)
        distant = _band(_coloured(rng, n, 2.0), sr, 20, 500)
        return (
            0.7 * _unit(murmur)
            + 0.5 * _unit(steps)
            + _unit(wind)
            + _unit(distant)
            + 2.0 * _rumble(rng, n, sr)
        )

    return {"living": living, "office": office, "bus": bus, "cafe": cafe, "psquare": psquare}
