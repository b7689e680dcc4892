"""Paired statistics and the paper's claims, on per-utterance rows with known differences; and the training
setting read from the composed experiment configs themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from scipy.stats import wilcoxon

from helpers.configs import composed
from helpers.store import logged_params
from rcnn_se.reporting.claims import COMPARISONS, claims_tables, pairs
from rcnn_se.reporting.paired_stats import describe, paired
from rcnn_se.reporting.run_groups import RunRecord
from rcnn_se.reporting.setting import setting_of, setting_text
from rcnn_se.reporting.tables import group_runs
from rcnn_se.tracking.mlflow_runs import config_params

UIDS = [f"p232_{i:03d}" for i in range(40)]


def rows(shift: float, seed: int, spread: float = 0.1) -> list[dict]:
    """40 utterances: a base score per utterance, plus `shift`, plus seed noise."""
    base = np.linspace(1.5, 3.0, len(UIDS))
    noise = np.random.default_rng(seed).normal(0, spread, len(UIDS))
    return [
        {
            "uid": u,
            "pesq_wb": b + shift + n,
            "stoi": 0.9 + shift / 10,
            "nr": 0.5 + shift,
            "sd": 0.1 - shift / 10,
        }
        for u, b, n in zip(UIDS, base, noise, strict=True)
    ]


def test_paired_difference_interval_and_wilcoxon() -> None:
    a = {"1": rows(0.2, 1), "2": rows(0.2, 2), "3": rows(0.2, 3)}
    b = {"1": rows(0.0, 4), "2": rows(0.0, 5), "3": rows(0.0, 6)}
    result = paired(a, b, "pesq_wb")
    mean_a = np.mean([[r["pesq_wb"] for r in a[s]] for s in a], axis=0)
    mean_b = np.mean([[r["pesq_wb"] for r in b[s]] for s in b], axis=0)
    assert result.mean == pytest.approx(np.mean(mean_a - mean_b))
    assert result.low < result.mean < result.high and result.low > 0.1 and result.high < 0.3
    assert result.p == pytest.approx(wilcoxon(mean_a - mean_b).pvalue) and result.p < 0.001
    assert len(result.seed_means) == 3 and result.significant() == 1 and result.better() == 1
    text = describe(result, "PESQ-WB", 3)
    assert text.startswith("ΔPESQ-WB +0.") and "p < 0.001, 3 seeds (per seed +0." in text
    same = paired({"1": rows(0.0, 1)}, {"1": rows(0.0, 1)}, "pesq_wb")
    assert same.mean == 0 and same.p == 1.0 and same.significant() == 0
    assert paired({"1": rows(0, 1)}, {"1": [{"uid": "other", "pesq_wb": 1.0}]}, "pesq_wb") is None
    lower = paired({"1": rows(0.2, 1)}, {"1": rows(0.0, 1)}, "sd")  # SD lower is better: a is better
    assert lower.mean < 0 and lower.better() == 1


def record(run_id: str, seed: int, **kw: str) -> RunRecord:
    return RunRecord(run_id, run_id, 1_763_000_000_000 + seed, logged_params(seed=str(seed), **kw), {})


def test_claims_pair_only_configs_that_differ_in_the_compared_knob() -> None:
    runs, by_run = [], {}
    for seed in (1, 2):
        for model, dropout, shift in (("rcnn", "0", 0.3), ("cnn", "0", 0.0), ("rcnn", "0.2", -0.3)):
            run = record(f"{model}{dropout}-{seed}", seed, model=model, dropout=dropout)
            runs.append(run)
            by_run[run.run_id] = rows(shift, seed)
    lonely = record("long", 3, model="cnn", dropout="0.2", **{"trainer.max_epochs": "50"})
    runs.append(lonely)
    by_run["long"] = rows(0.0, 3)
    groups = group_runs(runs)
    skip = pairs(groups, COMPARISONS[0])
    assert [(a.model, b.model, b.params["dropout"]) for a, b in skip] == [("rcnn", "cnn", "0")]  # not 'long'
    claims, stats = claims_tables(groups, by_run.get)
    verdicts = {row[1]: row[2] for row in claims.rows}
    assert verdicts["RCNN − CNN (no dropout, paper's setting)"] == "supports"
    assert verdicts["no dropout − dropout 0.2 (RCNN, paper's setting)"] == "supports"
    untested = {row[0]: row[2] for row in claims.rows if row[1] == "–"}
    assert untested["ReLU beats ELU, SELU and PReLU (IV.D; no figures printed)"] == (
        "open (no runs; python train.py experiment=activations -m)"
    )
    assert {row[0] for row in stats.rows} == {
        "RCNN − CNN (no dropout, paper's setting)",
        "no dropout − dropout 0.2 (RCNN, paper's setting)",
    }
    flipped = {k: rows(-0.3 if k.startswith("rcnn0-") else 0.0, 7) for k in by_run}
    claims, _ = claims_tables(groups, flipped.get)
    assert {row[1]: row[2] for row in claims.rows}[
        "RCNN − CNN (no dropout, paper's setting)"
    ] == "contradicts"
    (claims,) = claims_tables(groups, {}.get)  # runs without per-utterance scores: nothing to test
    assert {row[1]: row[2] for row in claims.rows}["RCNN − CNN (no dropout, paper's setting)"].startswith(
        "open"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["experiment=paper_table1"], "paper"),
        (["experiment=ours_table1"], "ours"),
        ([], "ours"),
        (["experiment=paper_table1", "compress=log1p"], "other"),
        (["experiment=paper_table1", "model=wiener"], "no training"),
    ],
)
def test_setting_is_read_from_the_params_a_run_logs(
    overrides: list[str], expected: str, tmp_path: Path
) -> None:
    cfg = composed(overrides, tmp_path)
    choices = {"model": cfg.hydra.runtime.choices.model, "scheduler": cfg.hydra.runtime.choices.scheduler}
    with open_dict(cfg):
        del cfg["hydra"]  # a job's own config has no hydra node (its values stay reachable via HydraConfig)
    logged = config_params(cfg, choices)
    assert setting_of(logged) == expected
    if expected == "other":
        assert (
            setting_text(logged)
            == "other: underestimate_weight=1.0, gain_floor_db=None, gain_ceiling_db=None, scheduler=none"
        )


def test_a_model_family_of_ones_own_is_reported_as_trained_when_its_run_says_so() -> None:
    """`trainable`, logged by every job, decides; runs from before it fall back to the paper's two names."""
    from rcnn_se.reporting.setting import OURS_SETTING

    assert setting_of({**OURS_SETTING, "choice.model": "toy", "trainable": "true"}) == "ours"
    assert setting_of({**OURS_SETTING, "choice.model": "rcnn", "trainable": "false"}) == "no training"
    assert setting_of({**OURS_SETTING, "choice.model": "rcnn"}) == "ours"
    assert setting_of({**OURS_SETTING, "choice.model": "toy"}) == "no training"
