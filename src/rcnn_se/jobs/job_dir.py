"""Output folders that no two jobs share: a timestamp to the second plus a random suffix, claimed with an
exclusive `mkdir`, so jobs started in the same second (two terminals, a script, a cluster array) never
write into one folder, which would mix their run files, scores, audio, configs and logs.

Registered as the `job_dir` resolver (`hydra.run.dir: ${job_dir:.../runs}`). Hydra resolves a run folder
more than once in a process (and copies the resolved value into a sweep's job configs), so the claim is
made once per process and parent folder and then remembered.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

STAMP = "%Y-%m-%d_%H-%M-%S"
_claimed: dict[str, str] = {}


def claim_job_dir(parent: str) -> str:
    """A new folder `<parent>/<time>_<6 hex digits>`, created here: the first job to create it owns it."""
    if parent in _claimed:
        return _claimed[parent]
    Path(parent).mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime(STAMP)
    while True:
        folder = os.path.join(parent, f"{stamp}_{secrets.token_hex(3)}")
        try:
            os.mkdir(folder)
        except FileExistsError:  # 1 in 16 million per pair started in the same second: draw again
            continue
        _claimed[parent] = folder
        return folder


def discard_if_unused(folder: str | Path) -> bool:
    """Remove a job folder that holds nothing but Hydra's log of a job refused before it began (a rejected
    override must not leave a folder behind: an afternoon of typos left 14). Anything else in it keeps it."""
    folder = Path(folder)
    if not folder.is_dir() or folder.name.count("_") < 2:  # only the claimed `<date>_<time>_<hex>` folders
        return False
    if any(p.name != "train.log" and p.name != "eval.log" for p in folder.iterdir()):
        return False
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return True
