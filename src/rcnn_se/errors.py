"""Errors that are the user's to fix (a config value, a file, a store) and how a job reports them: one line
naming the key or file and the problem, no Python traceback (`HYDRA_FULL_ERROR=1` brings it back)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import CompactHydraException


class UserError(ValueError):
    """An error whose message says all a user needs: the key or file and what is wrong with it. The bad
    config, corpus, audio and store errors of the lower layers derive from it, so this module, at the
    bottom, names none of them."""


class ConfigError(UserError):
    """A config value, override, folder or checkpoint that cannot be used as it is; the message names it."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopping a job, raised once the job has closed its run: carries the signal, for the
    exit status (128 + its number, as a shell reports a death by it), and what the job did about it."""

    def __init__(self, signum: int, what: str = "") -> None:
        super().__init__(what)
        self.signum = signum


class OneLineError(CompactHydraException):
    """Hydra prints a CompactHydraException as its message alone, without the traceback."""


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn a user error into one line for Hydra to print, and an interruption into one line and the exit
    status of a death by its signal (130 for Ctrl-C, 143 for SIGTERM: what schedulers and `make` expect);
    under HYDRA_FULL_ERROR=1 the original error and its traceback pass through unchanged."""
    from hydra.errors import InstantiationException

    try:
        yield
    except KeyboardInterrupt as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        signum = getattr(exc, "signum", signal.SIGINT)  # a bare KeyboardInterrupt is Python's Ctrl-C
        said = f": {exc}" if str(exc) else ""
        print(f"Interrupted by {signal.Signals(signum).name}{said}", file=sys.stderr)
        raise SystemExit(128 + signum) from None
    except (InstantiationException, UserError) as exc:
        cause = exc.__cause__ if isinstance(exc, InstantiationException) else exc
        # a constructor refusing a config value (`model.n_layers=1: need at least 2`) is a config error too
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or not isinstance(cause, ValueError):
            raise
        raise OneLineError(f"Error: {cause}") from exc
