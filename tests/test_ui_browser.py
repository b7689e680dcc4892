"""The MLflow UI as a person sees it after a small sweep: headless Chromium (Debian's `chromium`) driven by
Playwright against a real `mlflow server` on loopback, the sweep logged through that server.

Screenshots of the runs table, the sweep's parent run (and its comparison figure) and a logged model are
saved under `test-artifacts/ui/` (or `$RCNN_SE_TEST_ARTIFACTS/ui`). Needs the `ui-test` extra and the
chromium package: CI installs both (.ci/run) and fails without them; elsewhere the test is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from helpers.browser import check_screenshots, open_view, show, snap
from helpers.net import mlflow_server

pytestmark = pytest.mark.slow
METRIC_COLUMNS = ("test/pesq_wb", "test/nr", "test/sd")


def show_metric_columns(page: Any, keys: tuple[str, ...]) -> None:
    """Tick each metric in the runs table's column selector, as a user does (search, then tick)."""
    for key in keys:
        page.get_by_role("button", name="Columns", exact=True).click()
        page.keyboard.type(key)
        tree = page.get_by_test_id("column-selector-tree")
        exact = re.compile(rf"^{re.escape(key)}$")
        tree.locator(".du-bois-light-tree-treenode").filter(has_text=exact).locator(
            ".du-bois-light-tree-checkbox"
        ).click()
        page.keyboard.press("Escape")


def table_rows(page: Any) -> dict[str, str]:
    """The runs table's rows by row index: its pinned and scrolling halves joined into one text."""
    rows: dict[str, str] = {}
    cells = page.locator("[role=row][row-index]")
    for i in range(cells.count()):
        row = cells.nth(i)
        index = row.get_attribute("row-index")
        rows[index] = rows.get(index, "") + " | " + row.inner_text().replace("\n", " | ")
    return rows


def shows(text: str, value: float) -> bool:
    """True when `text` holds a number equal to `value` as the UI rounds it (at least 3 digits kept)."""
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]
    return any(abs(n - value) <= max(1e-3 * abs(value), 5e-5) for n in numbers)


@pytest.mark.xdist_group("headline_sweep")
def test_runs_table_parent_run_and_model_in_a_real_browser(
    headline_sweep: tuple[Path, str], browser: Any, shots: Path
) -> None:
    """The shared sweep's store, served by a real `mlflow server` as `make ui` serves a project's."""
    store = headline_sweep[0] / "mlruns"
    with mlflow_server(store / "mlflow.db", store / "artifacts") as url:
        look_at_the_sweep(url, browser, shots)


def look_at_the_sweep(mlflow_server: str, browser: Any, shots: Path) -> None:
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("rcnn_se")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    eid = experiment.experiment_id
    runs = client.search_runs([eid])
    (parent,) = [r for r in runs if r.data.tags["rcnn_se.kind"] == "sweep"]
    jobs = [r for r in runs if r.data.tags["rcnn_se.kind"] == "job"]
    assert len(jobs) == 4

    page = browser.new_page(viewport={"width": 1800, "height": 900})
    experiment = f"{mlflow_server}/#/experiments/{eid}"
    open_view(page, f"{experiment}/runs", "matching runs")
    assert page.get_by_role("button", name="Columns", exact=True).is_visible(), "the model-training view"
    page.get_by_role("button", name="Close").last.click()  # the assistant panel, for a wider table
    page.locator("button[data-component-id*=runnamecellrenderer]").first.click()  # expand the sweep
    page.get_by_text(jobs[0].info.run_name[:20]).first.wait_for(timeout=30_000)
    show_metric_columns(page, METRIC_COLUMNS)
    snap(page, shots, "experiment_runs")
    rows = list(table_rows(page).values())
    header = page.locator("[role=columnheader]").all_inner_texts()
    for key in METRIC_COLUMNS:
        assert any(key in h for h in header), f"no {key} column in {header}"
    for job in jobs:
        (row,) = [r for r in rows if f"| {job.info.run_name[:40]}" in r]  # not "rcnn" for "cnn"
        assert "demo v6" in row, "the Dataset column names the corpus and its version"
        for key in METRIC_COLUMNS:
            assert shows(row, job.data.metrics[key]), f"{key}={job.data.metrics[key]} not in row {row!r}"

    run = f"{experiment}/runs/{parent.info.run_id}"
    show(page, run, parent.info.run_name[:30], shots, "sweep_parent_run")
    figure = "artifacts/comparison/metrics_vs_snr.png"
    show(page, f"{run}/{figure}", "comparison.csv", shots, "sweep_parent_comparison", settle_ms=2000)

    (model,) = client.search_logged_models(
        experiment_ids=[eid], filter_string=f"source_run_id = '{jobs[0].info.run_id}'"
    )
    show(page, f"{experiment}/models/{model.model_id}", jobs[0].info.run_name[:30], shots, "logged_model")
    names = ("experiment_runs", "sweep_parent_run", "sweep_parent_comparison", "logged_model")
    check_screenshots(shots, names)
