"""What Hydra needs registered before it composes a config: the OmegaConf resolvers the configs use, and the
schema's shared blocks (the top-level knobs, `evaluate`, `realcheck`) in Hydra's ConfigStore, which
train.yaml and eval.yaml name in their defaults lists instead of copying them.

Kept free of heavy imports: torch is loaded only when a resolver is actually evaluated.
"""

from __future__ import annotations

from dataclasses import asdict

from omegaconf import OmegaConf

from rcnn_se.config.schema import SYSTEM, Demo, Evaluate, Paths, Realcheck


def cpu_precision() -> str:
    """bf16 autocast where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): about 2x the fp32
    training rate at the same validation loss (make bench); full fp32 elsewhere, where bf16 is emulated."""
    from rcnn_se.cpu import bf16_is_native

    return "bf16-mixed" if bf16_is_native() else "32-true"


MULTIRUN_FLAGS = ("-m", "--multirun")


def multirun_flag_first(argv: list[str]) -> list[str]:
    """Move `-m`/`--multirun` before the overrides. The docs write `train.py experiment=paper_table1 -m
    seed=1,2,3`, Hydra's own style, but argparse (Python < 3.12 with Hydra 1.3) rejects overrides on both
    sides of the flag ("unrecognized arguments: seed=1,2,3")."""
    flags = [a for a in argv if a in MULTIRUN_FLAGS]
    return flags + [a for a in argv if a not in MULTIRUN_FLAGS]


def store_shared_blocks() -> None:
    """The schema's defaults as plain (untyped) nodes: `system` (top-level keys), `evaluate/default`,
    `realcheck/default`, `paths/default` and `demo_corpus/default` (the demo corpus's design, `data.demo`).
    Untyped so that a bad value reaches rcnn_se.config.checks and its one line, not OmegaConf's multi-line
    type error."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="system", node=asdict(SYSTEM))
    store.store(group="evaluate", name="default", node=asdict(Evaluate()))
    store.store(group="realcheck", name="default", node=asdict(Realcheck()))
    store.store(group="demo_corpus", name="default", node=asdict(Demo()))  # data/demo.yaml's `demo` block
    store.store(group="paths", name="default", node=asdict(Paths()))


def register_resolvers() -> None:
    """Everything a config needs before Hydra composes it: the resolvers and the schema's shared blocks."""
    from rcnn_se.jobs.job_dir import claim_job_dir
    from rcnn_se.tracking.store import default_tracking_uri

    if not OmegaConf.has_resolver("cpu_precision"):
        OmegaConf.register_new_resolver("cpu_precision", cpu_precision)
    if not OmegaConf.has_resolver("tracking_uri"):  # RCNN_SE_TRACKING_URI, else the store in `mlruns_dir`
        OmegaConf.register_new_resolver("tracking_uri", default_tracking_uri)
    if not OmegaConf.has_resolver("job_dir"):  # cached: Hydra copies resolved values into a sweep's jobs
        OmegaConf.register_new_resolver("job_dir", claim_job_dir, use_cache=True)
    store_shared_blocks()
