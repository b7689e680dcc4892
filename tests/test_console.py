"""The scores a job prints when it ends."""

from __future__ import annotations

from rcnn_se.evaluation.scoring import summarize
from rcnn_se.reporting.console import job_report, mlflow_where, score_table, ui_hint


def rows() -> list[dict[str, float | str]]:
    return [
        {"uid": "a", "noise": "bus", "snr": 17.5, "pesq_wb": 3.0, "stoi": 0.96},
        {"uid": "b", "noise": "bus", "snr": 2.5, "pesq_wb": 1.5, "stoi": 0.90},
        {"uid": "c", "noise": "cafe", "snr": 2.5, "pesq_wb": 1.7, "stoi": 0.92},
    ]


def test_table_has_the_whole_set_then_each_snr_in_order() -> None:
    table = score_table(summarize(rows(), prefix="realcheck"), "realcheck").splitlines()
    assert table[0] == "realcheck: 3 utterances"
    assert table[1].split() == ["SNR", "PESQ-WB", "STOI"], "only the metrics the summary holds"
    assert table[2].split() == ["all", "2.067", "0.927"]
    assert table[3].split() == ["2.5", "dB", "1.600", "0.910"] and table[4].split()[0] == "17.5"


def test_report_names_the_run_and_every_scored_set() -> None:
    scored = {"test": summarize(rows()), "realcheck": summarize(rows(), "realcheck")}
    scored["realnoise"] = summarize(rows(), "realnoise")
    report = job_report(scored, mlflow_where("abc123", "sqlite:///x.db", "7"))
    assert report.index("test: 3 utterances") < report.index("realcheck: 3 utterances")
    assert report.index("realcheck: 3 utterances") < report.index("realnoise: 3 utterances")
    assert "MLflow run abc123 in sqlite:///x.db" in report
    assert report.splitlines()[-1].endswith("/#/experiments/7/runs/abc123?workflowType=machine_learning")
    offline = job_report(scored, "logs of CSVLogger in out/csv/version_0")
    assert offline.endswith("\n\nlogs of CSVLogger in out/csv/version_0") and "MLflow" not in offline


def test_noisy_input_row_follows_each_model_row() -> None:
    noisy = [{**r, "pesq_wb": r["pesq_wb"] - 0.5} for r in rows()]
    table = score_table(summarize(rows()), "test", summarize(noisy), "rcnn").splitlines()
    assert table[1].split() == ["SNR", "PESQ-WB", "STOI"]
    assert table[2].split() == ["all", "rcnn", "2.067", "0.927"]
    assert table[3].split() == ["noisy", "1.567", "0.927"]
    assert table[4].split() == ["2.5", "dB", "rcnn", "1.600", "0.910"] and table[5].split()[0] == "noisy"


def test_real_noise_table_has_the_noisy_input_after_each_row() -> None:
    noisy = [{**r, "pesq_wb": r["pesq_wb"] - 0.5} for r in rows()]
    scored = {"test": summarize(rows()), "realnoise": summarize(rows(), "realnoise")}
    references = {"test": summarize(noisy), "realnoise": summarize(noisy, "realnoise")}
    report = job_report(scored, "where", references, "rcnn")
    table = report.split("realnoise: 3 utterances\n")[1].split("\n\n")[0].splitlines()
    starts = [line.split()[:2] for line in table[1:]]
    assert starts[::2] == [["all", "rcnn"], ["2.5", "dB"], ["17.5", "dB"]]
    assert starts[1::2] == [["noisy", "1.567"], ["noisy", "1.100"], ["noisy", "2.500"]]


def test_ui_hint_serves_a_local_store_and_links_a_server() -> None:
    local = ui_hint("sqlite:////w/mlruns/mlflow.db", "1", "r")
    assert "ui --backend-store-uri sqlite:////w/mlruns/mlflow.db --port 5000" in local
    assert local.endswith("open http://127.0.0.1:5000/#/experiments/1/runs/r?workflowType=machine_learning")
    server = ui_hint("http://127.0.0.1:5001/", "2", "r")
    assert server == "open http://127.0.0.1:5001/#/experiments/2/runs/r?workflowType=machine_learning"
