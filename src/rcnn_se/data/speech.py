"""Synthetic talkers for the demo corpus: flite and espeak-ng voice variants, or a numpy fallback.

flite's voices awb, rms, slt and kal16 are built from real speakers' recordings (CMU ARCTIC and Kal), so they
carry a real talker's spectral envelope and prosody; espeak-ng adds many formant-synthesis variants. Each
speaker is a seeded set of parameters: base voice, speaking pitch and its range, rate, a vocal-tract length
factor (formants scaled by resampling, so one recorded voice yields male- and female-like talkers) and a
spectral tilt. Every talker is brought to a realistic level (-26 dBov over active speech) like a studio
recording.

flite's awb and slt were built from the same CMU ARCTIC speakers whose real recordings the real-speech check
(`rcnn_se.data.realcheck`) uses, so those two base voices never speak in the training split.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import threading
import zlib
from dataclasses import dataclass
from fractions import Fraction
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


FLITE_TRAIN_VOICES = ("rms", "kal16")  # built from real recordings; awb and slt are held out (see above)
FLITE_TEST_VOICES = ("awb", "slt")


@dataclass(frozen=True)
class Voice:
    variant: str  # espeak-ng variant (m1..f5) or "flite:<voice>"
    pitch_range: int  # Hz of pitch movement
    speed: int  # words per minute (espeak-ng); flite scales its own rate by 160 / speed
    formants: tuple[float, float, float, float]  # espeak-ng: scale of F0..F3 in percent
    f0_hz: float  # speaking pitch
    vtl: float = 1.0  # vocal-tract length factor: formants scaled by this (flite voices)
    tilt_hz: float = 1000.0  # corner of the first-order low-pass tilt: lower is darker

    @property
    def engine(self) -> str:
        return "flite" if self.variant.startswith("flite:") else "espeak"


def describe(voice: Voice) -> str:
    """One line a person can read in the corpus manifest."""
    base = voice.variant if voice.engine == "flite" else f"espeak:{voice.variant}"
    return (
        f"{base} f0={voice.f0_hz:.0f}Hz vtl={voice.vtl:.2f} rate={voice.speed}wpm tilt={voice.tilt_hz:.0f}Hz"
    )


def make_voice(rng: np.random.Generator) -> Voice:
    """An espeak-ng talker (its spectrum is bright, so it always gets a darker tilt)."""
    variant = BASE_VARIANTS[int(rng.integers(len(BASE_VARIANTS)))]
    female = variant.startswith("f")
    return Voice(
        variant=variant,
        pitch_range=int(rng.integers(20, 90)),
        speed=int(rng.integers(135, 185)),
        formants=tuple(float(v) for v in rng.uniform(88, 114, size=4)),
        f0_hz=float(rng.uniform(170, 250) if female else rng.uniform(85, 150)),
        tilt_hz=float(rng.uniform(700, 1400)),
    )


def make_flite_voice(rng: np.random.Generator, base: str, female: bool) -> Voice:
    """A flite talker; a female-like one has a shorter vocal tract (formants up 12-22 %), higher pitch."""
    vtl = float(rng.uniform(1.12, 1.22) if female else rng.uniform(0.92, 1.06))
    return Voice(
        variant=f"flite:{base}",
        pitch_range=int(rng.integers(10, 35)),
        speed=int(rng.integers(140, 185)),
        formants=(100.0, 100.0, 100.0, 100.0),
        f0_hz=float(rng.uniform(175, 240) if female else rng.uniform(90, 145)),
        vtl=vtl,
        tilt_hz=float(rng.uniform(2500, 6000)),
    )


def speaker_voices(
    rng: np.random.Generator, n: int, flite_bases: tuple[str, ...], flite: bool
) -> list[Voice]:
    """`n` distinct talkers, alternating male and female: two in three from flite's recorded voices when
    flite is installed, the rest espeak-ng variants."""
    voices = []
    for k in range(n):
        female = k % 2 == 1
        if flite and k % 3 != 2:
            voices.append(make_flite_voice(rng, flite_bases[(k // 2) % len(flite_bases)], female))
        else:
            voice = make_voice(rng)
            variants = [v for v in BASE_VARIANTS if v.startswith("f" if female else "m")]
            lo, hi = (170, 250) if female else (85, 150)
            voices.append(
                Voice(variants[int(rng.integers(len(variants)))], voice.pitch_range, voice.speed,
                      voice.formants, float(rng.uniform(lo, hi)), 1.0, voice.tilt_hz)
            )  # fmt: skip
    return voices


def sentence(rng: np.random.Generator, seconds: float) -> str:
    n_words = max(3, int(round(seconds * 2.6)))
    return " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=n_words))


def tilt_and_level(x: np.ndarray, sr: int, level_db: float = -26.0, corner_hz: float = 1000.0) -> np.ndarray:
    """First-order low-pass tilt (about -6 dB/octave above `corner_hz`) and active-speech level
    normalisation."""
    pole = math.exp(-2 * math.pi * min(corner_hz, 0.45 * sr) / sr)
    y = lfilter([1 - pole], [1, -pole], x)
    rms = math.sqrt(active_power(y, sr)) or 1.0
    return (y * (10 ** (level_db / 20) / rms)).astype(np.float32)


def active_power(x: np.ndarray, sr: int) -> float:
    """Active speech power by ITU-T P.56 (method B): the mean power over the samples where the speech
    envelope is within 15.9 dB of that very level, with a 200 ms hangover.

    SNRs of speech in noise are set against this level by convention. A simpler "frames within 40 dB of the
    loudest" rule counts a recording's pauses as speech once they carry a room floor 25-40 dB down: on the
    demo corpus it read 0.2-0.4 dB low on average and up to 1.7 dB low on single utterances, which were
    then mixed that much above their SNR label.
    """
    x = np.asarray(x, dtype=np.float64)
    energy = float(np.sum(x**2))
    if energy == 0.0 or len(x) == 0:
        return 0.0
    g = math.exp(-1.0 / (sr * 0.03))
    envelope = lfilter([1 - g], [1, -g], lfilter([1 - g], [1, -g], np.abs(x)))
    hangover, idx = int(0.2 * sr), np.arange(len(x))
    thresholds = envelope.max() * 2.0 ** -np.arange(16, -1, -1)  # 96 dB below the peak up to the peak
    over = []  # (threshold dB, active level dB) per threshold
    for c in thresholds:
        last = np.maximum.accumulate(np.where(envelope >= c, idx, -hangover - 1))
        count = int(np.count_nonzero(idx - last <= hangover))
        if count == 0:
            break
        over.append((20 * math.log10(c), 10 * math.log10(energy / count)))
    margins = [level - c_db - 15.9 for c_db, level in over]
    for k in range(1, len(over)):
        if margins[k] <= 0 < margins[k - 1]:  # interpolate where level - threshold crosses 15.9 dB
            t = margins[k - 1] / (margins[k - 1] - margins[k])
            return 10 ** ((over[k - 1][1] + t * (over[k][1] - over[k - 1][1])) / 10)
    return energy / len(x) if margins and margins[0] <= 0 else 10 ** (over[-1][1] / 10)


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
        return tilt_and_level(resample_poly(x, sr // g, rate // g), sr, corner_hz=voice.tilt_hz)


def _resample_ratio(x: np.ndarray, ratio: float) -> np.ndarray:
    """Resample by an arbitrary ratio (output length ~ len(x) * ratio) through a close rational."""
    frac = Fraction(ratio).limit_denominator(200)
    return resample_poly(x, frac.numerator, frac.denominator)


class FliteTalker:
    """flite for its recorded-voice talkers, espeak-ng for the rest (a corpus mixes both)."""

    def __init__(self) -> None:
        exe = shutil.which("flite")
        if exe is None:
            raise RuntimeError("flite not found on PATH (apt-get install flite), or use engine='espeak'")
        self.exe = exe
        self._espeak: EspeakTalker | None = None
        self._lock = threading.Lock()

    def _espeak_talker(self) -> EspeakTalker:
        with self._lock:
            if self._espeak is None:
                self._espeak = EspeakTalker()
            return self._espeak

    def say(self, text: str, voice: Voice, sr: int) -> np.ndarray:
        if voice.engine == "espeak":
            return self._espeak_talker().say(text, voice, sr)
        # Formants scale by `vtl` when the waveform is played `vtl` times faster, so synthesize slower and
        # lower by that factor first: duration and pitch come out as asked.
        stretch = 160 / voice.speed * voice.vtl
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            cmd = [self.exe, "-voice", voice.variant.removeprefix("flite:")]
            cmd += ["--setf", f"duration_stretch={stretch:.3f}"]
            cmd += ["--setf", f"int_f0_target_mean={voice.f0_hz / voice.vtl:.1f}"]
            cmd += ["--setf", f"int_f0_target_stddev={voice.pitch_range / voice.vtl:.1f}"]
            subprocess.run([*cmd, "-t", text, "-o", out.name], check=True, capture_output=True)
            x, rate = sf.read(out.name, dtype="float64")
        x = _resample_ratio(x, sr / (rate * voice.vtl))
        return tilt_and_level(x, sr, corner_hz=voice.tilt_hz)


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


ENGINES = ("auto", "flite", "espeak", "numpy")


def resolve_engine(engine: str) -> str:
    """'auto' prefers flite with espeak-ng (both installed), then espeak-ng alone, then numpy."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}: expected one of {ENGINES}")
    if engine != "auto":
        return engine
    if shutil.which("flite") and shutil.which("espeak-ng"):
        return "flite"
    return "espeak" if shutil.which("espeak-ng") else "numpy"


def talker(engine: str):
    resolved = resolve_engine(engine)
    if resolved == "flite":
        return FliteTalker()
    return EspeakTalker() if resolved == "espeak" else NumpyTalker()
