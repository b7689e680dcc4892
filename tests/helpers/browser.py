"""Pages of the MLflow UI in the browser tests: opened in the model-training view and photographed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRAINING_VIEW = "?workflowType=machine_learning"  # what the job's printed links carry (reporting.console)


def open_view(page: Any, address: str, ready: str) -> None:
    """Go to `address` (a UI address without the view) and wait until the text `ready` shows."""
    page.goto(f"{address}{TRAINING_VIEW}")
    page.get_by_text(ready).first.wait_for(timeout=60_000)


def snap(page: Any, shots: Path, name: str, settle_ms: int = 1000) -> None:
    """A screenshot `<shots>/<name>.png` once the page has had `settle_ms` to draw."""
    page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(shots / f"{name}.png"))


def show(page: Any, address: str, ready: str, shots: Path, name: str, settle_ms: int = 1000) -> None:
    """`open_view`, then `snap`."""
    open_view(page, address, ready)
    snap(page, shots, name, settle_ms)


def check_screenshots(shots: Path, names: tuple[str, ...]) -> None:
    """Each screenshot is there and holds a drawn page (an empty one is a few kB)."""
    for name in names:
        assert (shots / f"{name}.png").stat().st_size > 10_000, name
