"""A real PostgreSQL server (Debian's postgresql) on loopback, in a folder of its own, for the tests of an
`mlflow server` whose store many machines share. `.ci/run` installs it; elsewhere the tests say why not."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.net import unused_port

USER = "rcnn_se"


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    return found[-1] or None


def missing() -> str | None:
    """Why no server can start here, or None."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "PostgreSQL is not installed (Debian's postgresql; .ci/run installs it)"
    try:
        import psycopg  # noqa: F401  (SQLAlchemy's driver for postgresql:// stores)
    except ImportError:
        return "psycopg is not installed (the `scale` extra: pip install -e '.[scale]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "PostgreSQL refuses to run as root and runuser is missing"
    return None


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """initdb and start a server in `folder` (trust authentication, loopback only, no fsync); yields its
    SQLAlchemy URI. PostgreSQL refuses to run as root, so as root it runs as Debian's `postgres` user."""
    as_user: list[str] = []
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", unused_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(
            _bin("initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "-A",
            "trust",
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start")
    except subprocess.CalledProcessError as error:
        log = folder / "server.log"
        tail = log.read_text()[-2000:] if log.is_file() else ""
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr[-2000:]}\n{tail}") from None
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
