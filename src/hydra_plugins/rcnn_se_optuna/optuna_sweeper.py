"""`hydra/sweeper=rcnn_optuna`: the project's Optuna sweeper (conf/hparams_search/rcnn_optuna.yaml uses it).

Its own rather than hydra-optuna-sweeper 1.3, which pins Optuna < 3, whose database storage fails beside
SQLAlchemy 2 (MLflow's): a study must live in a database so that a killed search resumes. The search itself is
rcnn_se.jobs.optuna_search; this module only registers the sweeper and its settings with Hydra, and loads
nothing heavy, since Hydra imports every plugin at each start.
"""

# No `from __future__ import annotations`: Hydra loads plugins without registering them in sys.modules, and
# a dataclass with string annotations then fails; OmegaConf reads the field types at run time anyway.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class RcnnOptunaConf:
    """The search's settings (`hydra.sweeper.*`)."""

    _target_: str = "hydra_plugins.rcnn_se_optuna.optuna_sweeper.RcnnOptunaSweeper"
    study_name: str = "rcnn_optuna"
    storage: str | None = None  # a database (sqlite:///...): the study outlives the process; None = memory
    direction: str = "minimize"
    n_trials: int = 12  # finished (complete or pruned) trials the study should hold; a resume adds the rest
    n_jobs: int = 1  # trials launched at once, through the launcher (hydra/launcher=local_parallel, slurm)
    sampler_seed: int | None = None  # TPE's seed
    pruner: dict[str, Any] = field(default_factory=lambda: {"n_startup_trials": 4, "n_warmup_steps": 1})
    params: dict[str, str] = field(default_factory=dict)  # key -> choice(...), interval(...), range(...)


ConfigStore.instance().store(
    group="hydra/sweeper", name="rcnn_optuna", node=RcnnOptunaConf, provider="rcnn_se"
)


class RcnnOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.launcher = None
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from rcnn_se.jobs.optuna_search import run_search

        return run_search(self.settings, self.launcher, self.config, arguments)
