"""`rcnn-se compare` on the headline sweep's real runs: the paired figures it prints are those computed from
the per-utterance scores the runs logged, and a request it cannot answer is one line and exit 1."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from helpers.store import project_runs
from rcnn_se.reporting.compare import main
from rcnn_se.reporting.paired_stats import paired, signed
from rcnn_se.reporting.tables import utterance_rows


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_compare_prints_the_paired_differences_of_the_logged_scores(
    headline_sweep: tuple[Path, str], capsys
) -> None:
    work, _ = headline_sweep
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    args = ["--a", "model=rcnn", "dropout=0", "--b", "model=cnn", "dropout=0", "--set", "test"]
    assert main([*args, "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out

    def run_of(model: str) -> str:
        jobs = project_runs(work, f"params.`choice.model` = '{model}' AND tags.`rcnn_se.kind` = 'job'")
        (run,) = [r for r in jobs if float(r.data.params["dropout"]) == 0]
        assert run.info.run_id in out  # the runs used are listed
        return run.info.run_id

    with tempfile.TemporaryDirectory() as tmp:
        rows_of = utterance_rows(uri, Path(tmp))
        a, b = ({"42": rows_of(run_of(m))} for m in ("rcnn", "cnn"))
    expected = paired(a, b, "pesq_wb")
    (row,) = [line for line in out.splitlines() if line.startswith("| PESQ-WB |")]
    assert row.endswith(f"| {signed(expected.mean)} [{signed(expected.low)}, {signed(expected.high)}] |")
    assert "STOI gain over the noisy input by test SNR" in out


@pytest.mark.slow
@pytest.mark.xdist_group("headline_sweep")
def test_compare_refuses_what_it_cannot_answer_in_one_line(headline_sweep: tuple[Path, str], capsys) -> None:
    work, _ = headline_sweep
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    assert main(["--a", "model=rcnn", "--b", "nonsense", "--tracking-uri", uri]) == 1
    assert capsys.readouterr().err == "compare: 'nonsense': expected KEY=VALUE, a param the runs logged\n"
    assert main(["--a", "model=rcnn", "dropout=0", "--b", "model=transformer", "--tracking-uri", uri]) == 1
    err = capsys.readouterr().err
    assert err.startswith("compare: no finished job run matches model=transformer") and err.count("\n") == 1
    assert main(["--a", "model=rcnn", "--b", "model=cnn", "--tracking-uri", uri]) == 1  # two dropouts a side
    assert (
        capsys.readouterr().err
        == "compare: model=rcnn matches runs that differ in dropout (0.0, 0.2): name it\n"
    )


def test_values_are_matched_as_a_job_logs_them() -> None:
    from rcnn_se.reporting.compare import parse_side, side_runs
    from rcnn_se.reporting.run_groups import RunRecord

    runs = [
        RunRecord("a", "", 1, {"data.remix": "True", "choice.experiment": "None", "seed": "2"}, {}),
        RunRecord("b", "", 2, {"data.remix": "False", "choice.experiment": "None", "seed": "2"}, {}),
        RunRecord("c", "", 3, {"data.remix": "True", "choice.experiment": "None", "seed": "2.0"}, {}),
    ]
    remixed = side_runs(runs, parse_side(["data.remix=true", "experiment=null"]))
    assert {seed: run.run_id for seed, run in remixed.items()} == {"2.0": "c"}  # one run a seed: the newest
    assert [r.run_id for r in side_runs(runs, parse_side(["data.remix=false"])).values()] == ["b"]


def test_a_side_matching_runs_of_two_settings_is_refused_naming_them() -> None:
    """`--b model=rcnn` over default and real-voice runs once took the newest run per seed, mixing them."""
    from rcnn_se.reporting.compare import CompareError, parse_side, side_runs
    from rcnn_se.reporting.run_groups import RunRecord

    def run(run_id: str, start: int, seed: str, voices: str, **more: str) -> RunRecord:
        params = {"choice.model": "rcnn", "seed": seed, "data.demo.voices": voices, **more}
        return RunRecord(run_id, "", start, params, {})

    runs = [
        run("a", 1, "2", "synthetic", **{"paths.root_dir": "/one"}),
        run("b", 2, "3", "synthetic", **{"paths.root_dir": "/two"}),  # where it ran: the same setting
        run("c", 3, "2", "mixed"),
    ]
    with pytest.raises(CompareError, match=r"^model=rcnn matches runs that differ in data.demo.voices "):
        side_runs(runs, parse_side(["model=rcnn"]), "model=rcnn")
    chosen = side_runs(runs, parse_side(["model=rcnn", "data.demo.voices=synthetic"]))
    assert sorted(r.run_id for r in chosen.values()) == ["a", "b"]
