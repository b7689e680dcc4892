"""Configuration, in one package: the typed schema of every setting (`schema`), the checks derived from it
(`checks`), the `_target_` guard (`safety`), what Hydra needs registered before it composes a config
(`resolvers`) and the start of a job that refuses a bad config in one line (`early`).

`schema`, `checks` and `safety` sit at the bottom of the layers (any module may trust or consult them) and
import neither torch, Lightning nor MLflow; this front and `resolvers`/`early` belong to the entry points.
"""

from rcnn_se.config.resolvers import multirun_flag_first, register_resolvers

__all__ = ["multirun_flag_first", "register_resolvers"]
