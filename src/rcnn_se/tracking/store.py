"""Where the project's MLflow store is: one rule for every entry point, whatever folder it starts in.

Training (through the Hydra config's `tracking_uri` resolver), `rcnn-se enhance --run-id`, `rcnn-se
paper-tables` and `eval.py` all read this module, so a run logged by one is found by the others. The rule:
`RCNN_SE_TRACKING_URI` when set, else the SQLite store under the project folder (`RCNN_SE_ROOT`, or the
checkout this package was installed from) — never the current folder, where a stray `mlruns/` would hide
the real store. Readers open a store with `open_store`, which refuses to create one: MLflow's SQLite
backend silently creates an empty database on first contact, and an empty store then says "run not found"
about a run that exists elsewhere.

Writers (a training job) open it with `open_client`, safely: a local SQLite store is created and migrated
under a file lock, since first jobs started together on a fresh store otherwise race through MLflow's schema
creation and crash (`duplicate column name`, `table _alembic_tmp_experiments already exists`). Readers and
writers alike ask a tracking server whether it answers first: an unreachable one would otherwise cost
MLflow's default retries (7, with exponential back-off: about four minutes) and then a traceback; here it
is one line within seconds.

Both openers first check an existing SQLite file without writing to it (`check_database`): MLflow would
answer a truncated or garbled one with a long SQLAlchemy traceback, and would silently add its tables to an
empty file or to another program's database. A damaged store is named in one line and left as it is.

Kept free of heavy imports (MLflow is loaded only inside the openers), so config resolvers can use it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from rcnn_se.config.schema import CONF_DIR
from rcnn_se.errors import UserError

ENV_URI = "RCNN_SE_TRACKING_URI"
ENV_ROOT = "RCNN_SE_ROOT"
SQLITE = "sqlite:///"
PROBE_SECONDS = 5.0
# How MLflow's own HTTP calls behave once a server has answered (a user's values win): a server that
# goes away mid-run is retried for tens of seconds, not minutes.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_answered: set[str] = set()
# SQLite files found sound in this process, by (path, size, mtime): a job checks its store when it starts
# and again when it opens it, and `PRAGMA quick_check` reads the whole file (0.3 s for 14 MB); any write
# since changes the key, so a file damaged later is checked again.
_sound: set[tuple[str, int, int]] = set()
# Tables every MLflow SQLite store has had since its first schema: without them a file is not one.
MLFLOW_TABLES = ("alembic_version", "experiments", "runs")


class StoreError(UserError):
    """A store or run that cannot be found; the message says where it looked and how to point elsewhere."""


class TrackingUnavailable(StoreError):
    """The tracking server does not answer; raised before any run is created."""


class DamagedStore(StoreError):
    """The store's SQLite file is there but is not a readable MLflow store; the file is left untouched."""


def project_root() -> Path:
    """`RCNN_SE_ROOT`, else the checkout holding this package (it has `conf/` beside `src/`), else cwd."""
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).resolve()
    return CONF_DIR.parent if CONF_DIR.is_dir() else Path.cwd().resolve()


def default_tracking_uri(mlruns_dir: str | Path | None = None) -> str:
    """`RCNN_SE_TRACKING_URI`, else `sqlite:///<mlruns_dir>/mlflow.db` (default `<project root>/mlruns`)."""
    if os.environ.get(ENV_URI):
        return os.environ[ENV_URI]
    folder = Path(mlruns_dir) if mlruns_dir is not None else project_root() / "mlruns"
    return f"{SQLITE}{folder.resolve() / 'mlflow.db'}"


def where(uri: str) -> str:
    """How a message names the store and says how to choose another."""
    how = f"{ENV_URI} is set" if os.environ.get(ENV_URI) == uri else f"set {ENV_URI} or --tracking-uri"
    return f"{uri} ({how})"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing), released on exit or at process death."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_server(uri: str) -> None:
    """Fail fast, in one line, when nothing answers at an http(s) tracking URI; any HTTP answer counts."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if not uri.startswith(("http://", "https://")) or uri in _answered:
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        pass  # it answered, if not with 200: MLflow's own calls will say more
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(
            f"tracking URI {uri}: no MLflow server answers ({reason}); start it (`mlflow server`, "
            "`make ui`) or set logger.mlflow.tracking_uri to one that runs (MLFLOW_HTTP_REQUEST_TIMEOUT and "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES set how long a server may take once it has answered)"
        ) from None
    _answered.add(uri)


def database_damage(database: Path) -> str | None:
    """What makes an existing SQLite file unusable as an MLflow store, or None. Opened read-only, so the
    file is never changed; a lock or a journal to roll back is MLflow's own connection's business."""
    if database.stat().st_size == 0:
        return "an empty file, not an MLflow database"
    try:
        with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            return None
        return f"damaged ({exc})"
    if problems != ["ok"]:
        return f"damaged (SQLite's check: {problems[0]})"
    missing = [name for name in MLFLOW_TABLES if name not in tables]
    if missing:
        return f"not an MLflow database (no table {', '.join(missing)}: another program's?)"
    return None


def check_database(uri: str) -> None:
    """Refuse, in one line, a SQLite store file that is there but cannot serve as one; the file itself is
    left exactly as it is, never repaired or overwritten: it may be the only copy of someone's runs."""
    database = Path(uri.removeprefix(SQLITE))
    if not uri.startswith(SQLITE) or not database.is_file():
        return
    stat = database.stat()
    key = (str(database.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _sound:
        return
    damage = database_damage(database)
    if damage is not None:
        raise DamagedStore(
            f"MLflow store {database}: {damage}; left untouched: restore it from a backup, or move it aside "
            f"(the next training run then starts a new store), or set {ENV_URI} to use another store"
        )
    _sound.add(key)


def check_store(uri: str) -> None:
    """What a job checks before it starts: its tracking server answers, its SQLite store is not damaged."""
    check_server(uri)
    if uri.startswith(SQLITE) and Path(uri.removeprefix(SQLITE)).parent.is_dir():
        database = Path(uri.removeprefix(SQLITE))
        with file_lock(database.with_name(database.name + ".lock")):  # not while a first job creates it
            check_database(uri)


def open_client(uri: str):
    """An MlflowClient for a job to write to; a SQLite store's file and schema are created under a lock."""
    check_server(uri)
    from mlflow.tracking import MlflowClient

    if not uri.startswith(SQLITE):
        return MlflowClient(tracking_uri=uri)
    database = Path(uri.removeprefix(SQLITE))
    database.parent.mkdir(parents=True, exist_ok=True)  # SQLite will not create the folder
    with file_lock(database.with_name(database.name + ".lock")):
        check_database(uri)
        return MlflowClient(tracking_uri=uri)  # creates and migrates the schema on first use


def open_store(uri: str):
    """An MlflowClient on an existing, undamaged store; a missing SQLite file is an error, never a new
    empty store."""
    if uri.startswith(SQLITE) and not Path(uri.removeprefix(SQLITE)).is_file():
        raise StoreError(f"no MLflow store at {where(uri)}")
    check_database(uri)
    check_server(uri)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def get_run(uri: str, run_id: str):
    """The run from an existing store, or an error naming the store searched."""
    from mlflow.exceptions import MlflowException

    client = open_store(uri)
    try:
        return client, client.get_run(run_id)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
            raise StoreError(f"run {run_id} not found in the MLflow store at {where(uri)}") from None
        raise StoreError(f"run {run_id}: cannot be read from {where(uri)} ({exc.message})") from None
