"""The paper's comparisons as paired statistics, and which of its claims the runs support.

Each comparison the paper makes (skip against none, dropout against none, ReLU against the other
activations, Adam against the other optimisers) is found among the configuration groups as pairs that
differ only in the compared knob, so nothing else (setting, corpus, epochs) rides along. Every pair gets
`paired_stats` on the per-utterance scores its runs logged (`evaluation/test_utterances.csv`), and a
verdict on the paper's claim:

- supports: on at least one of the claim's metrics the claimed side is significantly better (95 %
  bootstrap interval clear of 0 and Wilcoxon p < 0.05) and on none significantly worse;
- contradicts: the other side is significantly better on at least one metric and worse on none;
- mixed: significant on both sides (different metrics disagree);
- open: no metric significant, or no runs to compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rcnn_se.metrics.names import METRICS
from rcnn_se.reporting.paired_stats import Paired, Rows, describe, paired
from rcnn_se.reporting.run_groups import ConfigGroup, canonical, config_key
from rcnn_se.reporting.setting import setting_text
from rcnn_se.reporting.tables_render import Table

RowsOf = Callable[[str], Rows | None]  # run id -> its per-utterance rows (None when it logged none)
CLAIM_METRICS = ("nr", "sd", "pesq_wb", "stoi")  # the paper's measures, then quality and intelligibility
SIGNS = {1: "+", -1: "-", 0: "0"}


@dataclass(frozen=True)
class Comparison:
    name: str
    param: str  # the compared knob, as a logged param
    varies: tuple[str, ...]  # param prefixes that change with it (copies, the optimizer's own settings)
    claimed: str  # the value the paper says is better
    label: str  # "{a} − {b}" with the values' display names
    claim: str
    command: str  # what produces the runs
    models: tuple[str, ...] = ("rcnn", "cnn")


COMPARISONS = (
    Comparison("skip", "choice.model", ("choice.model", "model.skip"), "rcnn", "RCNN − CNN",
               "The input-output skip helps: the RCNN beats the CNN (Table 1, IV.D)",
               "experiment=paper_table1 -m"),
    Comparison("dropout", "dropout", ("dropout", "model.dropout"), "0", "no dropout − dropout {b}",
               "Dropout does not help: both networks do better without it (Table 1, IV.D)",
               "experiment=paper_table1 -m"),
    Comparison("activation", "activation", ("activation", "model.activation"), "relu", "ReLU − {b}",
               "ReLU beats ELU, SELU and PReLU (IV.D; no figures printed)", "experiment=activations -m"),
    Comparison("optimizer", "choice.optimizer", ("choice.optimizer", "optimizer."), "adam", "Adam − {b}",
               "Adam beats SGD and Adagrad at learning rate 0.0005 (IV.D; no figures printed)",
               "experiment=optimizers -m"),
)  # fmt: skip


def rest_key(group: ConfigGroup, varies: tuple[str, ...]) -> tuple:
    return tuple((k, v) for k, v in config_key(group.params) if not k.startswith(varies))


def pairs(groups: Sequence[ConfigGroup], comp: Comparison) -> list[tuple[ConfigGroup, ConfigGroup]]:
    """(claimed-better group, other group) pairs that differ only in the compared knob."""
    chosen = [g for g in groups if g.model in comp.models]
    ours = [g for g in chosen if canonical(g.params.get(comp.param)) == canonical(comp.claimed)]
    others = [g for g in chosen if canonical(g.params.get(comp.param)) != canonical(comp.claimed)]
    return [(a, b) for a in ours for b in others if rest_key(a, comp.varies) == rest_key(b, comp.varies)]


def seed_rows(group: ConfigGroup, rows_of: RowsOf) -> dict[str, Rows]:
    out = {}
    for run in group.runs:
        rows = rows_of(run.run_id)
        if rows:
            out[canonical(run.params.get("seed", run.run_id))] = rows
    return out


def verdict(results: Sequence[Paired]) -> str:
    signs = {r.better() for r in results}
    if not results:
        return "open (no per-utterance scores)"
    if {1, -1} <= signs:
        return "mixed"
    return "supports" if 1 in signs else "contradicts" if -1 in signs else "open"


def pair_label(comp: Comparison, a: ConfigGroup, b: ConfigGroup) -> str:
    """E.g. `RCNN − CNN (no dropout, paper's setting)`, `no dropout − dropout 0.2 (CNN, project setting)`."""
    dropout = a.params.get("dropout", "0")
    context = {
        "model": a.model.upper(),
        "dropout": f"dropout {dropout}" if float(dropout) else "no dropout",
        "setting": setting_text(a.params),
    }
    shown = [v for k, v in context.items() if k != {"skip": "model", "dropout": "dropout"}.get(comp.name)]
    return f"{comp.label.format(b=b.params.get(comp.param, '?'))} ({', '.join(shown)})"


def claims_tables(groups: Sequence[ConfigGroup], rows_of: RowsOf) -> list[Table]:
    """The paired statistics of every comparison found, and the claims with their verdicts."""
    stats_rows: list[list] = []
    claim_rows: list[list] = []
    for comp in COMPARISONS:
        found = pairs(groups, comp)
        for a, b in found:
            ra, rb = seed_rows(a, rows_of), seed_rows(b, rows_of)
            n_seeds = min(len(ra), len(rb))
            label = pair_label(comp, a, b)
            results = [r for m in CLAIM_METRICS if (r := paired(ra, rb, m)) is not None]
            for r in results:
                spread = (min(r.seed_means), max(r.seed_means)) if len(r.seed_means) > 1 else (None, None)
                stats_rows.append(
                    [label, METRICS[r.metric], describe(r, METRICS[r.metric], n_seeds), r.mean, r.low,
                     r.high, r.p, r.n_utterances, n_seeds, *spread]
                )  # fmt: skip
            evidence = ", ".join(f"{METRICS[r.metric]} {SIGNS[r.better()]}" for r in results)
            claim_rows.append([comp.claim, label, verdict(results), evidence or "–"])
        if not found:
            claim_rows.append([comp.claim, "–", f"open (no runs; python train.py {comp.command})", "–"])
    stats = Table(
        "paired_stats",
        "Paired comparisons over test utterances",
        ["Comparison", "Metric", "Result", "Δ mean", "95% low", "95% high", "Wilcoxon p", "Utterances",
         "Seeds", "Seed Δ min", "Seed Δ max"],
        stats_rows,
        [
            "Δ = first minus second configuration, per test utterance (each averaged over its seeds); "
            "[95 % bootstrap interval over utterances, 10,000 resamples], two-sided Wilcoxon signed-rank "
            "p over utterances; 'per seed' = the range of the per-seed mean differences (seeds matched by "
            "number). NR and SD here are per-utterance values; higher NR and lower SD are better.",
        ],
    )  # fmt: skip
    claims = Table(
        "claims",
        "The paper's claims against these runs",
        ["Claim", "Comparison", "Verdict", "Evidence"],
        claim_rows,
        [
            "supports: the claimed side is significantly better (95 % interval clear of 0 and p < 0.05) on "
            "at least one of NR, SD, PESQ-WB, STOI and significantly worse on none; contradicts: the "
            "reverse; mixed: both; open: neither. Evidence: + claimed side significantly better, - worse, "
            "0 no significant difference.",
            "Not tested here: the paper's own NR/SD figures (another corpus, no formula given) and its "
            "model size, which ours matches by construction (Table 2).",
        ],
    )
    return [claims, stats] if stats_rows else [claims]
