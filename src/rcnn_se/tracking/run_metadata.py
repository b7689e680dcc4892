"""What the MLflow UI shows about a run besides its scores: its name, its source and the corpus it read.

Without these the runs table has empty Dataset and Source columns and every RCNN run is called `rcnn`
whatever its dropout or seed. Names come from the configuration the user chose (the command-line
overrides), leaving out where and how a job ran (paths, workers, devices): two runs with one name computed
the same thing.
"""

from __future__ import annotations

import getpass
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Params saying where or how a job ran, not what it computed: runs differing only here are one configuration
# (rcnn_se.reporting.run_groups), and run names leave them out (all but `KEPT`).
OPERATIONAL = tuple(
    """paths. callbacks. logger. hydra. seed task_name ckpt_path threads optimized_metric choice.experiment
    choice.trainer choice.callbacks choice.logger choice.paths data.cache_dir data.train_cache
    data.num_workers realcheck. evaluate.workers evaluate.n_audio_examples trainer.accelerator trainer.devices
    trainer.strategy trainer.num_nodes trainer.log_every_n_steps trainer.enable_model_summary
    trainer.sync_batchnorm trainer.use_distributed_sampler trainer.detect_anomaly""".split()
)
KEPT = ("seed",)  # operational for grouping runs, but a name without it cannot tell seeds apart
MAX_NAME = 250
DEMO_MANIFEST = "demo_manifest.json"
log = logging.getLogger(__name__)


def configuration_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides that change what a job computes, as the user typed them (`dropout=0.2`)."""
    kept = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith(KEPT) or not key.startswith(OPERATIONAL + ("hydra",)):
            kept.append(override)
    return kept


def name_order(override: str) -> int:
    """Top-level knobs (`dropout=0.2`, `seed=1`) first, then the model's own keys, then the rest (training
    budget, data sizes): the UI cuts long names, and the knobs tell runs apart most often."""
    key = override.split("=", 1)[0]
    return 0 if "." not in key else 1 if key.startswith("model.") else 2


def job_run_name(model: str, overrides: Sequence[str]) -> str:
    """`rcnn dropout=0.2 seed=1`: the model, then every configuration override but the model's own."""
    rest = [o for o in configuration_overrides(overrides) if not o.startswith("model=")]
    return " ".join([model, *sorted(rest, key=name_order)])[:MAX_NAME]


def code_commit() -> str:
    """The git commit of the code that runs (not of the folder the job writes to)."""
    from rcnn_se.tracking.mlflow_runs import git_commit

    return git_commit(Path(__file__).resolve().parent)


def sweep_run_name(overrides: Sequence[str], sweep_dir: Path) -> str:
    """`sweep model=rcnn,cnn dropout=0,0.2` (the swept values as typed), or the folder for a bare `-m`."""
    rest = configuration_overrides(overrides)
    return " ".join(["sweep", *rest] if rest else ["sweep", sweep_dir.name])[:MAX_NAME]


def source_tags(entry_point: str, commit: str) -> dict[str, str]:
    """MLflow's own source tags, which fill the UI's Source and User columns."""
    return {
        "mlflow.source.name": entry_point,
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": commit,
        "mlflow.user": getpass.getuser(),
    }


def corpus_version(root: Path) -> str | None:
    """The demo corpus's generator version (from its manifest); None for a corpus we did not generate."""
    manifest = root / DEMO_MANIFEST
    if not manifest.is_file():
        return None
    return f"v{json.loads(manifest.read_text()).get('generator', '?')}"


def split_profile(items: Sequence) -> dict[str, object]:
    """Counts worth seeing beside a split's name: utterances, speakers, SNRs and noise types."""
    return {
        "utterances": len(items),
        "speakers": len({u.speaker for u in items}),
        "snrs": sorted({float(u.snr) for u in items}),
        "noises": sorted({u.noise for u in items}),
    }


def corpus_inputs(name: str, datamodule) -> list:
    """One MLflow dataset input per split the job read (training, validation, test), named after the data
    config with the corpus's version, digested by its files' fingerprint (names, sizes, times, labels: it
    changes whenever the corpus does), sourced at the corpus root."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from rcnn_se.data.corpus import fingerprint, scan_split

    root = Path(datamodule.root).resolve()
    version = corpus_version(root)
    full_name = f"{name} {version}" if version else name
    splits = {"test": ("test", list(datamodule.test_cache.items))}
    if datamodule.train_cache is not None:  # a test-only corpus (baselines, eval.py) has no training split
        train = datamodule.train_cache.items
        splits["training"] = ("train", [train[i] for i in datamodule.train_indices])
        splits["validation"] = ("train", [train[i] for i in datamodule.val_indices])
    scanned = {split: {u.uid: u for u in scan_split(root, split)} for split, _ in splits.values()}
    inputs = []
    for context, (split, items) in splits.items():
        if not items:
            continue
        dataset = Dataset(
            name=full_name,
            digest=fingerprint(scanned[split][u.uid] for u in items),
            source_type="local",
            source=json.dumps({"uri": str(root), "split": split}),
            profile=json.dumps(split_profile(items)),
        )
        inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)]))
    return inputs


def log_corpus(client, run_id: str, name: str, datamodule, attempts: int = 3) -> None:
    """Log the corpus inputs. Parallel jobs of a sweep register the same datasets at the same moment and
    the SQLite store lets one of them fail on its unique key: the retry then finds the dataset there."""
    from mlflow.exceptions import MlflowException

    inputs = corpus_inputs(name, datamodule)
    for attempt in range(attempts):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except MlflowException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


@contextmanager
def system_metrics(run_id: str, tracking_uri: str, interval: float, resuming: bool) -> Iterator[None]:
    """CPU, memory, disk and network use sampled every `interval` s into the run (`system/...` metrics),
    continuing a resumed run's steps; `interval` 0 switches it off. MLflow's monitor drops the samples of
    its last, unfinished interval, so a job shorter than one interval would log none: they are logged
    here when the job ends, and every run carries at least one sample."""
    if not interval:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(
        run_id, sampling_interval=interval, resume_logging=resuming, tracking_uri=tracking_uri
    )
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
        if any(m.metrics for m in monitor.monitors):
            try:
                monitor.publish_metrics(monitor.aggregate_metrics())
                monitor.mlflow_logger.flush()
            except Exception as error:  # never hide how the job itself ended
                log.warning("last system metrics of run %s not logged: %s", run_id, error)
