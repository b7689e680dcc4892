"""Paper tables: statistics and grouping against hand-computed values, then the CLI on a real temporary
SQLite MLflow store filled through MlflowClient with known values, then (slow) on a real tiny sweep."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest

from helpers.inprocess import process_kept
from helpers.store import logged_params, project_runs
from rcnn_se.cli import main as cli_main
from rcnn_se.reporting import tables
from rcnn_se.reporting.run_groups import RunRecord, mean_ci
from rcnn_se.reporting.tables import TablesError, build, group_runs
from rcnn_se.reporting.tables_render import Stat, Table, markdown_table, text, write_csv

T_975 = {1: 12.706204736174707, 2: 4.302652729749464, 3: 3.182446305284263}  # scipy-independent table


EPOCH = 1_763_000_000_000  # ms; MLflow reads a start time of 0 as "now"


def record(run_id: str, start: int, metrics: dict[str, float], **kw: str) -> RunRecord:
    p = logged_params(**kw)
    return RunRecord(run_id, f"{p['choice.model']} run", EPOCH + start, p, metrics)


def table1_runs() -> list[RunRecord]:
    """Two seeds per Table 1 cell; NR = base ± 0.01, SD = base / 10 ± 0.002."""
    runs = []
    for i, (model, dropout, nr) in enumerate(
        [("cnn", "0.2", 0.80), ("cnn", "0", 0.82), ("rcnn", "0.2", 0.85), ("rcnn", "0.0", 0.90)]
    ):
        for j, delta in enumerate((-1, 1)):
            metrics = {"test/nr": nr + 0.01 * delta, "test/sd": nr / 10 + 0.002 * delta, "test/pesq_wb": 2.0}
            metrics |= {"model/parameters": 148663.0, "model/size_mb": 0.567}
            metrics |= {
                "test/snr_2.5/pesq_wb": 1.5,
                "test/snr_12.5/pesq_wb": 2.5,
                "test/noise_cafe/pesq_wb": 2,
            }
            runs.append(
                record(f"r{i}{j}", 1000 * (10 * i + j), metrics, model=model, dropout=dropout, seed=str(j))
            )
    return runs


def test_mean_ci_is_student_t_over_seeds() -> None:
    three = mean_ci([1.0, 2.0, 3.0])  # mean 2, s = 1
    assert three.mean == 2.0 and three.n == 3
    assert three.ci95 == pytest.approx(T_975[2] / math.sqrt(3))
    two = mean_ci([0.9, 1.1])  # s = 0.1414..., so half-width = t(1) * 0.1
    assert two.mean == pytest.approx(1.0) and two.ci95 == pytest.approx(T_975[1] * 0.1)
    four = mean_ci([2.0, 4.0, 4.0, 6.0])  # s = sqrt(8/3)
    assert four.ci95 == pytest.approx(T_975[3] * math.sqrt(8 / 3) / 2)
    assert mean_ci([0.5]) == Stat(0.5, None, 1)


def test_grouping_merges_equal_configs_and_keeps_the_newest_run_per_seed() -> None:
    runs = [
        record("old", 1_000, {"test/nr": 0.1}, dropout="0", seed="1"),
        record("new", 5_000, {"test/nr": 0.5}, dropout="0.0", seed="1.0"),  # same config and seed, newer
        record("s2", 2_000, {"test/nr": 0.7}, dropout="0", seed="2"),
        record("other", 3_000, {"test/nr": 0.9}, dropout="0.2", seed="1"),
    ]
    groups = group_runs(runs)
    assert [sorted(r.run_id for r in g.runs) for g in groups] == [["new", "s2"], ["other"]]
    assert [(old.run_id, kept.run_id) for old, kept in groups[0].superseded] == [("old", "new")]
    assert groups[0].stat("test/nr").mean == pytest.approx(0.6)
    assert groups[0].stat("test/missing") is None
    document, _ = build(runs, "in a test", allow_missing=True)
    assert "1 older run(s) repeating a configuration and seed" in document
    assert "no: same config and seed as newer new" in document


def test_table1_aggregates_each_cell_beside_the_paper() -> None:
    table = tables.table1(group_runs(table1_runs()))
    cells = ["CNN, dropout 0.2", "CNN, no dropout", "RCNN, dropout 0.2", "RCNN, no dropout"]
    assert [row[0] for row in table.rows] == [c.replace(" 0.2", "") for c in cells] + cells
    by_column = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
    printed, rcnn = by_column[3], by_column[7]
    assert printed["Setting"] == "printed in the paper" and printed["Epochs"] == "200"
    assert printed["NR"] == 0.969 and printed["SD"] == 0.052 and printed["Seeds"] is None
    assert printed["NR dB"] == pytest.approx(-10 * math.log10(1 - 0.969))
    assert printed["SD dB"] == pytest.approx(10 * math.log10(0.052))
    assert rcnn["Setting"] == "paper's setting" and rcnn["Domain"] == "raw magnitudes"
    assert rcnn["Corpus"] == "demo" and rcnn["Epochs"] == "–"  # no train/epochs_trained logged: a dash
    assert rcnn["Seeds"] == 2
    assert rcnn["NR"].mean == pytest.approx(0.90) and rcnn["NR"].ci95 == pytest.approx(T_975[1] * 0.01)
    assert rcnn["SD"].mean == pytest.approx(0.09) and rcnn["SD"].ci95 == pytest.approx(T_975[1] * 0.002)
    assert rcnn["NR dB"] is None  # not logged by these runs: shown as a dash, not invented
    assert table.columns[-2:] == ["STOI realcheck", "PESQ-WB realnoise"] and rcnn["PESQ-WB realnoise"] is None
    scored = [r for r in table1_runs() if r.params["choice.model"] == "rcnn"]
    for r in scored:
        r.metrics["realnoise/pesq_wb"] = 1.5 if r.params["dropout"] == "0.2" else 1.7
    with_real = tables.table1(group_runs(scored + table1_runs()[:4]))
    last = dict(zip(with_real.columns, with_real.rows[-1], strict=True))
    assert last["Model"] == "RCNN, no dropout" and last["PESQ-WB realnoise"].mean == pytest.approx(1.7)


def test_realcheck_rows_name_the_set_they_were_scored_on() -> None:
    runs = []
    for i in range(2):
        metrics = {"test/pesq_wb": 2.0, "test/n_utterances": 40.0}
        metrics |= {"realcheck/pesq_wb": 2.1, "realcheck/n_utterances": 24.0}
        metrics |= {"realnoise/pesq_wb": 1.6 + i / 10, "realnoise/n_utterances": 48.0}
        metrics |= {"realnoise/snr_2.5/pesq_wb": 1.2, "realnoise/noise_kettle/pesq_wb": 1.3}
        runs.append(record(f"r{i}", 1000 * i, metrics, model="rcnn", dropout="0", seed=str(i)))
    built = tables.extended(group_runs(runs))
    by_title = {t.title: t for t in built}
    (overall,) = by_title["Extended: every model, whole test set"].rows
    (real,) = by_title["Extended: real-speech check"].rows
    header = by_title["Extended: real-speech check"].columns
    assert overall[header.index("Corpus")] == "demo, 40 test utt."
    assert real[header.index("Corpus")] == "realcheck, 24 utt. (trained on demo)"
    noisy_real = by_title["Extended: real speech in real noise"]
    assert noisy_real.name == "extended_realnoise" and "tuxpaint-stamps-default" in noisy_real.notes[0]
    assert noisy_real.columns[-1:] == ["PESQ-WB"], "overall scores only, no SNR or noise columns"
    (row,) = noisy_real.rows
    assert row[noisy_real.columns.index("Corpus")] == "realnoise, 48 utt. (trained on demo)"
    assert row[-1].mean == pytest.approx(1.65)
    assert [t.name for t in built][:3] == ["extended_overall", "extended_realcheck", "extended_realnoise"]


def test_table1_says_paper_only_for_runs_in_the_papers_setting() -> None:
    ours = {
        "compress": "log1p",
        "underestimate_weight": "8.0",
        "gain_floor_db": "-12",
        "gain_ceiling_db": "0",
    }
    ours |= {"choice.scheduler": "onecycle"}
    done = {"test/n_utterances": 40.0}
    runs = [
        RunRecord(f"o{r.run_id}", r.run_name, r.start_time + 500_000, {**r.params, **ours},
                  {**r.metrics, **done, "train/epochs_trained": 5.0 - int(r.params["seed"])})
        for r in table1_runs()
    ]  # fmt: skip
    runs.append(record("raw8", 900_000, {"test/nr": -3.5}, **(ours | {"compress": "none"})))
    table = tables.table1(group_runs(table1_runs() + runs))
    by_label = {}
    for row in table.rows:
        by_label.setdefault(row[1], []).append(row)
    assert len(by_label["paper's setting"]) == 4 and len(by_label["project setting"]) == 4
    (other,) = [row for setting, rows in by_label.items() if setting.startswith("other") for row in rows]
    assert other[1] == "other: compress=none" and other[3] == "raw magnitudes"
    assert by_label["project setting"][0][2:5] == ["demo, 40 test utt.", "log1p magnitudes", "4–5"]
    assert any("NR < 0 is measured" in note for note in table.notes)  # the raw run's -3.5, shown as is
    assert other[6].mean == -3.5


def test_labels_reveal_a_config_that_differs_from_the_rest() -> None:
    runs = table1_runs() + [
        record("short", 99_000, {"test/nr": 0.5}, model="cnn", **{"trainer.max_epochs": "1"})
    ]
    labels = [row[0] for row in tables.table1(group_runs(runs)).rows]
    assert "CNN, no dropout (trainer.max_epochs=1)" in labels and "CNN, no dropout" in labels


def test_missing_table1_runs_fail_with_what_to_run() -> None:
    runs = [r for r in table1_runs() if r.params["choice.model"] == "rcnn"]
    with pytest.raises(TablesError) as err:
        build(runs, "in experiment 'rcnn_se' at sqlite:///x.db")
    message = str(err.value)
    assert message.startswith("Table 1 needs runs of model=cnn with dropout>0 and model=cnn with dropout=0 (")
    assert "found none in experiment 'rcnn_se' at sqlite:///x.db" in message
    assert message.endswith("run: python train.py experiment=paper_table1 -m")
    document, built = build(runs, "here", allow_missing=True)
    assert "**Not built:** Table 1" in document and "table1" not in {t.name for t in built}
    with pytest.raises(TablesError, match="no FINISHED job runs here"):
        build([], "here")


def test_ablations_hold_the_other_knobs_at_the_paper_setting() -> None:
    runs = table1_runs()
    for i, act in enumerate(("elu", "selu")):
        runs.append(record(f"a{i}", 50_000 + i, {"test/pesq_wb": 2.5 + i}, activation=act))
    runs.append(record("sgd", 60_000, {"test/pesq_wb": 1.0}, activation="elu", **{"choice.optimizer": "sgd"}))
    by_name = {t.name: t for t in tables.ablations(group_runs(runs))}
    assert set(by_name) == {"ablation_activation"}  # one optimizer value at the reference activation
    rows = by_name["ablation_activation"].rows
    assert [r[0] for r in rows] == ["activation relu", "activation elu", "activation selu"]
    assert rows[1][6].mean == 2.5 and rows[1][1] == "paper's setting"


def test_rendering_formats() -> None:
    assert text(Stat(0.96912, 0.0123, 3)) == "0.969 ± 0.012" and text(Stat(2.0, None, 1)) == "2.000"
    assert text(None) == "–" and text(148663) == "148,663" and text(Stat(123.45, None, 1)) == "123.5"
    assert text("a_b & c", latex=True) == r"a\_b \& c"
    table = Table("t", "T", ["Model", "NR"], [["x|y", Stat(0.5, 0.1, 2)], ["z", Stat(0.25, None, 1)]])
    assert "| x\\|y | 0.500 ± 0.100 |" in markdown_table(table)


def test_csv_splits_intervals_into_their_own_column(tmp_path: Path) -> None:
    a = Table("t", "T", ["Model", "NR"], [["x", Stat(0.5, 0.1, 2)]], section="PESQ-WB")
    b = Table("t", "T", ["Model", "NR"], [["y", Stat(0.25, None, 1)]], section="STOI")
    with write_csv([a, b], tmp_path / "t.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["section", "Model", "NR", "NR ci95"],
        ["PESQ-WB", "x", "0.5", "0.1"],
        ["STOI", "y", "0.25", ""],
    ]


# --- the CLI on a real SQLite MLflow store --------------------------------------------------------------


def log_run(client, experiment_id: str, record_: RunRecord, parent: str, status: str = "FINISHED") -> str:
    from mlflow.entities import Metric, Param

    tags = {"rcnn_se.kind": "job", "mlflow.parentRunId": parent, "rcnn_se.model": record_.model}
    run = client.create_run(
        experiment_id, start_time=record_.start_time, tags=tags, run_name=record_.run_name
    )
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, record_.start_time, 0) for k, v in record_.metrics.items()],
        params=[Param(k, v) for k, v in record_.params.items()],
    )
    client.set_terminated(run_id, status=status)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Sweep A: Table 1 (2 seeds per cell) plus one FAILED run; sweep B: one baseline run."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("rcnn_se", artifact_location=(folder / "artifacts").as_uri())
    sweeps = {}
    for name in ("A", "B"):
        sweeps[name] = client.create_run(
            exp, tags={"rcnn_se.kind": "sweep"}, run_name=f"sweep {name}"
        ).info.run_id
    ids = [log_run(client, exp, r, sweeps["A"]) for r in table1_runs()]
    failed = record("f", 90_000, {"test/nr": 0.0}, model="cnn", seed="7")
    log_run(client, exp, failed, sweeps["A"], status="FAILED")
    baseline = record(
        "b", 95_000, {"test/pesq_wb": 1.9, "model/parameters": 0.0, "model/size_mb": 0.0}, model="wiener"
    )
    ids.append(log_run(client, exp, baseline, sweeps["B"]))
    return {"uri": uri, "folder": folder, "sweeps": sweeps, "ids": ids}


def used_ids(out: Path) -> set[str]:
    with (out / "runs_used.csv").open() as fh:
        return {row["Run id"] for row in csv.DictReader(fh)}


def test_cli_writes_markdown_latex_and_csv_from_the_store(store: dict, tmp_path: Path, capsys) -> None:
    assert tables.main(["--tracking-uri", store["uri"], "--out", str(tmp_path)]) == 0
    written = {p.name for p in tmp_path.iterdir()}
    assert {"tables.md", "tables.tex", "table1.csv", "table2.csv", "extended_overall.csv"} <= written
    assert {"extended_by_snr.csv", "extended_by_noise.csv", "runs_used.csv"} <= written
    assert used_ids(tmp_path) == set(store["ids"])  # every finished job, no FAILED run, no sweep parent
    with (tmp_path / "table1.csv").open() as fh:
        rows = {row["Model"]: row for row in csv.DictReader(fh) if row["Setting"] == "paper's setting"}
    assert float(rows["RCNN, no dropout"]["NR"]) == pytest.approx(0.90)
    assert float(rows["RCNN, no dropout"]["NR ci95"]) == pytest.approx(T_975[1] * 0.01)
    document = (tmp_path / "tables.md").read_text()
    assert "## Table 2: model size" in document and "| SEGAN | 50-60 |" in document
    assert "| wiener | no training | demo | raw magnitudes | – | 1 | 1.900 |" in document
    assert "## Runs used" in document and "## The paper's claims against these runs" in document
    assert r"\begin{tabular}" in (tmp_path / "tables.tex").read_text()
    assert str(tmp_path / "tables.md") in capsys.readouterr().out


def test_cli_sweep_and_data_filters(store: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a"
    assert (
        tables.main(["--tracking-uri", store["uri"], "--out", str(out), "--sweep", store["sweeps"]["A"]]) == 0
    )
    assert used_ids(out) == set(store["ids"][:-1])
    args = ["--tracking-uri", store["uri"], "--out", str(tmp_path / "b"), "--sweep", store["sweeps"]["B"]]
    assert tables.main(args) == 1
    assert f"in sweep {store['sweeps']['B']}" in capsys.readouterr().err
    assert tables.main([*args, "--allow-missing"]) == 0
    assert used_ids(tmp_path / "b") == {store["ids"][-1]}
    assert (
        tables.main(["--tracking-uri", store["uri"], "--out", str(tmp_path / "c"), "--data", "voicebank"])
        == 1
    )
    err = capsys.readouterr().err
    assert "no FINISHED job runs" in err and "with data=voicebank" in err
    assert tables.main(["--tracking-uri", store["uri"], "--out", str(tmp_path / "d"), "--data", "demo"]) == 0
    assert used_ids(tmp_path / "d") == set(store["ids"])


def test_cli_errors_are_messages_not_tracebacks(store: dict, tmp_path: Path, capsys) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    assert tables.main(["--tracking-uri", missing, "--out", str(tmp_path)]) == 1
    assert f"no MLflow store at {missing}" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()  # reading never creates a store
    assert (
        tables.main(["--tracking-uri", store["uri"], "--experiment-name", "nope", "--out", str(tmp_path)])
        == 1
    )
    assert "no experiment 'nope'" in capsys.readouterr().err
    assert (
        tables.main(["--tracking-uri", store["uri"], "--sweep", store["ids"][0], "--out", str(tmp_path)]) == 1
    )
    assert "is not a sweep's parent run" in capsys.readouterr().err


# --- end to end: the headline sweep's real runs (tests/conftest.py), then the console command ------------
# `experiment=paper_table1` trains the same four jobs in the paper's setting; that its composed config logs
# params read as "paper's setting" is tests/test_claims.py's (no training needed for it).


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_paper_tables_from_a_real_sweep(headline_sweep: tuple[Path, str], tmp_path: Path) -> None:
    work = headline_sweep[0]
    runs = project_runs(work)
    (sweep,) = [r.info.run_id for r in runs if r.data.tags.get("rcnn_se.kind") == "sweep"]
    jobs = {r.info.run_id for r in runs if r.data.tags.get("rcnn_se.kind") == "job"}

    out = tmp_path / "paper"
    with process_kept():  # `rcnn-se paper-tables` from the project folder, in this process
        os.environ["RCNN_SE_ROOT"] = str(work)
        os.chdir(work)
        assert cli_main(["paper-tables", "--sweep", sweep, "--out", str(out)]) == 0
    assert used_ids(out) == jobs
    with (out / "table1.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    printed = [r for r in rows if r["Setting"] == "printed in the paper"]
    assert sorted(float(r["NR"]) for r in printed) == [0.834, 0.854, 0.892, 0.969]
    rows = [r for r in rows if r not in printed]
    assert [r["Model"] for r in rows] == [
        "CNN, dropout 0.2",
        "CNN, no dropout",
        "RCNN, dropout 0.2",
        "RCNN, no dropout",
    ]
    for r in rows:  # decided from the logged params: the headline sweep trains in the project's setting
        assert (r["Setting"], r["Domain"], r["Epochs"], r["Seeds"]) == (
            "project setting",
            "log1p magnitudes",
            "1",
            "1",
        )
        assert r["Corpus"] == "demo, 4 test utt."
    metrics = [r.data.metrics for r in runs if r.info.run_id in jobs]
    logged = sorted(v for m in metrics for v in (m["test/sd"], m["test/sd_db"]))
    shown = sorted(float(r[c]) for r in rows for c in ("SD", "SD dB"))
    assert shown == pytest.approx(logged, rel=1e-3), "each cell is its run's own figure, in both of its forms"
    pooled = sorted(m["test/sd_pooled"] for m in metrics)
    assert sorted(float(r["SD pooled"]) for r in rows) == pytest.approx(pooled, rel=1e-3)
    with (out / "paired_stats.csv").open() as fh:
        stats = list(csv.DictReader(fh))
    comparisons = {r["Comparison"] for r in stats}
    assert "RCNN − CNN (no dropout, project setting)" in comparisons
    assert "no dropout − dropout 0.2 (CNN, project setting)" in comparisons
    for r in stats:
        assert (
            float(r["95% low"]) <= float(r["Δ mean"]) <= float(r["95% high"])
            and 0 < float(r["Wilcoxon p"]) <= 1
        )
        assert r["Utterances"] == "4" and r["Seeds"] == "1"
    with (out / "claims.csv").open() as fh:
        verdicts = {r["Claim"]: r["Verdict"] for r in csv.DictReader(fh)}
    assert verdicts["ReLU beats ELU, SELU and PReLU (IV.D; no figures printed)"].startswith("open (no runs")
    document = (out / "tables.md").read_text()
    for heading in ("## Table 1", "## Table 2", "## Extended: per test SNR", "## Extended: per noise type"):
        assert heading in document
    assert (out / "figure3.png").read_bytes().startswith(b"\x89PNG"), (
        "the paper's Figure 3 from the runs' audio"
    )
