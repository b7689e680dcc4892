"""Which training setting a run used, and where its numbers came from, decided from its logged params.

A row of a table may say "paper" only when the run trained in the paper's setting, whatever experiment
name launched it: the params are what the run did, the name only what someone meant. Two named settings:
the paper's, as its text gives it (raw magnitudes, plain MSE, no gain bounds, Adam at 0.0005 held
constant), and this project's measured-better one (log1p magnitudes, loss weight 8, gains within
[-12 dB, 0 dB], one-cycle schedule). Anything else is "other", with what departs from the project's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache

from rcnn_se.config.schema import CONF_DIR
from rcnn_se.reporting.run_groups import ConfigGroup, canonical

# The keys whose values make a training setting; the values are the experiment configs' own
# (conf/experiment/paper_table1.yaml, ours_table1.yaml), read from there: `choice.<group>` from an
# `override /<group>: <option>` of their defaults list, the others as the keys they set.
SETTING_KEYS = (  # in the order a label names departures
    "compress",
    "underestimate_weight",
    "gain_floor_db",
    "gain_ceiling_db",
    "choice.scheduler",
    "optimizer.lr",
)


@cache
def experiment_setting(name: str) -> dict[str, str]:
    """The setting keys that `conf/experiment/<name>.yaml` pins, as a run logs them (null as 'None')."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml")
    found = {
        f"choice.{group.removeprefix('override /')}": str(option)
        for entry in node.get("defaults", [])
        if isinstance(entry, Mapping)
        for group, option in entry.items()
    }
    missing = object()
    for key in SETTING_KEYS:
        value = OmegaConf.select(node, key, default=missing)
        if value is not missing:
            found[key] = str(value)
    return {key: found[key] for key in SETTING_KEYS if key in found}


PAPER_SETTING = experiment_setting("paper_table1")
OURS_SETTING = experiment_setting("ours_table1")
TRAINED_UNFLAGGED = ("rcnn", "cnn")  # the networks of runs logged before the `trainable` param
DOMAINS = {"none": "raw magnitudes", "log1p": "log1p magnitudes"}


def matches(params: Mapping[str, str], setting: Mapping[str, str]) -> bool:
    return all(canonical(params.get(k, "?")) == canonical(v) for k, v in setting.items())


def trained(params: Mapping[str, str]) -> bool:
    """Whether the run trained its model, as the job logged it (`trainable`), so a model family added with
    one module and one config file is reported as a network without a list naming it here."""
    flag = params.get("trainable")
    return flag == "true" if flag is not None else params.get("choice.model") in TRAINED_UNFLAGGED


def setting_of(params: Mapping[str, str]) -> str:
    """'paper', 'ours', 'other', or 'no training' for the baselines."""
    if not trained(params):
        return "no training"
    if matches(params, PAPER_SETTING):
        return "paper"
    return "ours" if matches(params, OURS_SETTING) else "other"


def setting_text(params: Mapping[str, str]) -> str:
    """The Setting cell: "paper's setting", "project setting", or "other: <departures from the project's>"."""
    kind = setting_of(params)
    if kind != "other":
        return {"paper": "paper's setting", "ours": "project setting"}.get(kind, kind)
    departs = [
        f"{k.removeprefix('choice.')}={params.get(k, '?')}"
        for k, v in OURS_SETTING.items()
        if canonical(params.get(k, "?")) != canonical(v)
    ]
    return "other: " + ", ".join(departs)


def domain_text(params: Mapping[str, str]) -> str:
    return DOMAINS.get(params.get("compress", "?"), params.get("compress", "?"))


def corpus_text(group: ConfigGroup, scored: str = "test") -> str:
    """The corpus config and the utterances scored: `demo, 40 test utt.`, or for rows of the real-speech
    check's sets (`scored="realcheck"` or `"realnoise"`) `realcheck, 24 utt. (trained on demo)` and
    `realnoise, 48 utt. (trained on demo)`, so no row claims a set it was not scored on."""
    n = group.stat(f"{scored}/n_utterances")
    data = group.params.get("choice.data", "?")
    if scored == "test":
        return data + (f", {n.mean:.0f} test utt." if n else "")
    return scored + (f", {n.mean:.0f} utt." if n else "") + f" (trained on {data})"


def epochs_text(group: ConfigGroup) -> str:
    """Epochs actually trained (after early stopping), over the group's runs: `5` or `3–5`."""
    values = sorted(
        int(r.metrics["train/epochs_trained"])
        for r in group.runs
        if not math.isnan(r.metrics.get("train/epochs_trained", math.nan))
    )
    if not values:
        return "–"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def provenance(group: ConfigGroup, scored: str = "test") -> list[str]:
    """Setting, corpus, domain and epochs cells of a row scored on `scored` (`test`, `realcheck` or
    `realnoise`); the seeds are counted by the caller."""
    p = group.params
    return [setting_text(p), corpus_text(group, scored), domain_text(p), epochs_text(group)]


PROVENANCE_COLUMNS = ["Setting", "Corpus", "Domain", "Epochs"]
SETTING_ORDER = ("paper", "ours", "other", "no training")


def by_setting(groups: Sequence[ConfigGroup]) -> dict[str, list[ConfigGroup]]:
    out: dict[str, list[ConfigGroup]] = {}
    for kind in SETTING_ORDER:
        chosen = [g for g in groups if setting_of(g.params) == kind]
        if chosen:
            out[kind] = chosen
    return out
