"""Real recordings that Debian packages install: talkers for the demo corpus, sound effects as real noise.

`tuxpaint-stamps-default` holds spoken descriptions of its stamps, `<stamp>_desc_<lang>.ogg`, recorded by
volunteers (its changelog credits them by name, e.g. "Descriptive sounds by Krasimir Petkov" for Bulgarian),
and 150 sound effects (animals, instruments, household machines, vehicles). `klettres-data` holds letters
and syllables read in 20 languages. Every language's set is taken as one talker: each was recorded in one
session, mostly by one person; a set read by several people only makes that talker more varied.

Sound effects split by what they are, so the real-speech check's real noises are never heard in training:
machines, vehicles, street and weather (`TEST_NOISE_DIRS`) are the check's; animals, instruments and the
rest train. Spoken effects (`symbols/`: letters, numbers, faces) are no noise and are left out.

Nothing here is needed: without the packages a corpus falls back to synthetic voices and noises, and the
check to its synthetic-noise rows, each with a warning naming the package to install.
"""

from __future__ import annotations

import re
from pathlib import Path

TUXPAINT = Path("/usr/share/tuxpaint/stamps")
KLETTRES = Path("/usr/share/klettres")
PACKAGES = ("tuxpaint-stamps-default", "klettres-data")
# Description sets with at least 5 minutes of speech (measured: be 16, bg 21, ca 14, da 5, el 18, es 25,
# fr 21, ro 30, ru 23 min); smaller sets are one to a few words a language.
TUXPAINT_TALKERS = ("be", "bg", "ca", "da", "el", "es", "fr", "ro", "ru")
KLETTRES_TALKERS = ("ml",)  # 21 min of syllables; the other languages hold 0.4-3 min each
TEST_NOISE_DIRS = ("household", "vehicles", "town", "naturalforces", "military", "space", "seasonal/newyears")
SPOKEN_DIRS = ("symbols",)
_DESC = re.compile(r"_desc_(?P<lang>[a-z]{2})\.ogg$")
_NAMED = re.compile(r"_[a-z]{2}(_[A-Z]{2})?(@[a-z]+)?\.ogg$")


def available() -> bool:
    return TUXPAINT.is_dir()


def talkers() -> dict[str, list[Path]]:
    """Recordings per talker id (`tux<lang>`, `klet<lang>`), sorted; empty without the packages."""
    found: dict[str, list[Path]] = {}
    if TUXPAINT.is_dir():
        for path in sorted(TUXPAINT.rglob("*_desc_*.ogg")):
            m = _DESC.search(path.name)
            if m and m.group("lang") in TUXPAINT_TALKERS:
                found.setdefault(f"tux{m.group('lang')}", []).append(path)
    for lang in KLETTRES_TALKERS:
        folder = KLETTRES / lang
        if folder.is_dir():
            found[f"klet{lang}"] = sorted(folder.rglob("*.ogg"))
    return found


def sound_effects(split: str) -> list[Path]:
    """The sound effects of `split` (`train` or `test`), sorted; empty without the package."""
    if split not in ("train", "test"):
        raise ValueError(f"split {split!r}: expected train or test")
    if not TUXPAINT.is_dir():
        return []
    chosen = []
    for path in sorted(TUXPAINT.rglob("*.ogg")):
        if "_desc" in path.name or _NAMED.search(path.name):
            continue
        where = path.relative_to(TUXPAINT).as_posix()
        if where.startswith(SPOKEN_DIRS):
            continue
        if where.startswith(TEST_NOISE_DIRS) == (split == "test"):
            chosen.append(path)
    return chosen


def missing_message() -> str:
    return f"real recordings need Debian's {' and '.join(PACKAGES)} (apt-get install {' '.join(PACKAGES)})"
