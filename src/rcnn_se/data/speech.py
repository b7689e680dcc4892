"""Synthetic talkers for the demo corpus: espeak-ng voice variants, or a numpy source-filter fallback.

Each speaker is a seeded set of voice parameters (base variant, pitch, pitch range, speed, formant
scaling), so speakers differ audibly and reproducibly. espeak-ng's output is brighter than recorded
speech, so it is tilted down and brought to a realistic level (-26 dBov over active speech) like a studio
recording.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

ESPEAK_RATE = 22050
BASE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
WORDS = (
    "the a an this that some every many few our your their his her its my one two three four five ten "
    "man woman child friend teacher doctor driver farmer painter singer neighbour family student captain "
    "house garden river mountain city village street window table kitchen market station harbour bridge "
    "morning evening winter summer weather rain sunlight music story letter message picture language "
    "bread water coffee apple orange paper money ticket engine bicycle ship train airport office school "
    "walks runs speaks writes reads carries finds brings opens closes builds paints watches hears sees "
    "likes needs wants keeps leaves takes gives makes moves turns waits plays sings calls answers learns "
    "quickly slowly quietly loudly early later often always never gently carefully again together alone "
    "green yellow bright dark cold warm small large old young happy busy quiet heavy empty famous simple "
    "near under over behind across around through before after during with without into from about"
).split()


@dataclass(frozen=True)
class Voice:
    variant: str
    pitch_range: int  # Hz above the base, through the variant file
    speed: int  # words per minute
    formants: tuple[float, float, float, float]  # scale of F0..F3 in percent
    f0_hz: float  # speaking pitch: the base of espeak-ng's pitch range, the numpy engine's F0


def make_voice(rng: np.random.Generator) -> Voice:
    variant = BASE_VARIANTS[int(rng.integers(len(BASE_VARIANTS)))]
    female = variant.startswith("f")
    return Voice(
        variant=variant,
        pitch_range=int(rng.integers(20, 90)),
        speed=int(rng.integers(135, 185)),
        formants=tuple(float(v) for v in rng.uniform(88, 114, size=4)),
        f0_hz=float(rng.uniform(170, 250) if female else rng.uniform(85, 150)),
    )


def sentence(rng: np.random.Generator, seconds: float) -> str:
    n_words = max(3, int(round(seconds * 2.6)))
    return " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=n_words))


def tilt_and_level(x: np.ndarray, sr: int, level_db: float = -26.0) -> np.ndarray:
    """First-order low-pass tilt (about -6 dB/octave above 1 kHz) and active-speech level normalisation."""
    pole = math.exp(-2 * math.pi * 1000 / sr)
    y = lfilter([1 - pole], [1, -pole], x)
    rms = math.sqrt(active_power(y, sr)) or 1.0
    return (y * (10 ** (level_db / 20) / rms)).astype(np.float32)


def active_power(x: np.ndarray, sr: int, floor_db: float = 40.0) -> float:
    """Mean power over 20 ms frames within `floor_db` of the loudest: the level of speech, not of pauses."""
    frame = max(1, sr // 50)
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x**2))
    energies = np.mean(np.reshape(x[: n * frame] ** 2, (n, frame)), axis=1)
    active = energies >= energies.max() * 10 ** (-floor_db / 10)
    return float(np.mean(energies[active])) if energies.max() > 0 else 0.0


class EspeakTalker:
    """espeak-ng with private voice-variant files (formants, pitch range) in a copy of its data folder."""

    def __init__(self) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise RuntimeError(
                "espeak-ng not found on PATH (apt-get install espeak-ng), or use engine='numpy'"
            )
        self.exe = exe
        info = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
        data = Path(info.split("Data at:")[-1].strip()) if "Data at:" in info else None
        if data is None or not data.is_dir():
            raise RuntimeError(f"cannot locate espeak-ng's data folder from {info!r}")
        self._tmp = tempfile.TemporaryDirectory(prefix="rcnn_se_espeak_")
        self.root = Path(self._tmp.name)
        shutil.copytree(data, self.root / "espeak-ng-data")
        self._lock = threading.Lock()
        self._written: set[str] = set()

    def _variant(self, voice: Voice) -> str:
        """Write the voice's variant file once: threads share voices, and espeak-ng must never read a file
        another thread is still writing."""
        name = f"rcnn_{zlib.crc32(repr(voice).encode()):08x}"
        with self._lock:
            if name not in self._written:
                self._write_variant(name, voice)
                self._written.add(name)
        return name

    def _write_variant(self, name: str, voice: Voice) -> None:
        lines = [
            f"name {name}",
            "language en",
            f"pitch {int(voice.f0_hz * 0.85)} {int(voice.f0_hz * 0.85) + voice.pitch_range}",
        ]
        lines += [f"formant {i} {scale:.0f} 100 100" for i, scale in enumerate(voice.formants)]
        (self.root / "espeak-ng-data" / "voices" / "!v" / name).write_text("\n".join(lines) + "\n")

    def say(self, text: str, voice: Voice, sr: int) -> np.ndarray:
        with tempfile.NamedTemporaryFile(suffix=".wav", dir=self.root) as out:
            cmd = [
                self.exe,
                f"--path={self.root}",
                "-v",
                f"en-us+{self._variant(voice)}",
                "-s",
                str(voice.speed),
            ]
            subprocess.run([*cmd, "-w", out.name, text], check=True, capture_output=True)
            x, rate = sf.read(out.name, dtype="float64")
        g = math.gcd(sr, rate)
        return tilt_and_level(resample_poly(x, sr // g, rate // g), sr)


# Vowel formants (Hz) of an adult male voice: a small, well-known table (Peterson & Barney style values).
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


class NumpyTalker:
    """A pulse-train source through formant resonators, with fricative noise bursts: speech-like, no deps."""

    def say(self, text: str, voice: Voice, sr: int) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(f"{text}|{voice}".encode()))
        pieces = []
        for word in text.split():
            for _ in range(max(1, len(word) // 3)):
                pieces.append(self._syllable(rng, voice, sr))
            pieces.append(np.zeros(int(sr * rng.uniform(0.03, 0.09))))
        return tilt_and_level(np.concatenate(pieces), sr)

    def _syllable(self, rng: np.random.Generator, voice: Voice, sr: int) -> np.ndarray:
        n = int(sr * rng.uniform(0.12, 0.24) * 160 / voice.speed)
        f0 = voice.f0_hz * (1 + 0.15 * np.sin(np.linspace(0, math.pi, n)) * rng.uniform(-1, 1))
        phase = np.cumsum(f0 / sr)
        source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
        out = np.zeros(n)
        scale = np.array(voice.formants[1:]) / 100
        for freq, bw in zip(
            np.array(VOWELS[int(rng.integers(len(VOWELS)))]) * scale, (80, 100, 140), strict=True
        ):
            r = math.exp(-math.pi * bw / sr)
            out += lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * freq / sr), r * r], source)
        out *= np.hanning(n)
        if rng.random() < 0.35:  # a fricative onset
            m = int(sr * 0.06)
            hiss = lfilter([1, -0.95], [1], rng.standard_normal(m)) * 0.05 * np.hanning(m)
            out = np.concatenate([hiss, out])
        return out


def talker(engine: str):
    """'auto' prefers espeak-ng and falls back to numpy when espeak-ng is not installed."""
    if engine == "espeak" or (engine == "auto" and shutil.which("espeak-ng")):
        return EspeakTalker()
    if engine in ("numpy", "auto"):
        return NumpyTalker()
    raise ValueError(f"engine={engine!r}: expected 'auto', 'espeak' or 'numpy'")
