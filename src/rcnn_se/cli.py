"""`rcnn-se` console script. Training is `python train.py` (Hydra); these are the other entry points.

Subcommands import their module only when chosen: Lightning and MLflow take seconds to import, and
`rcnn-se --help` should answer at once.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "make-demo-corpus": ("rcnn_se.data.synth", "generate the Edinburgh-layout demo corpus"),
    "make-corpus": (
        "rcnn_se.data.make_corpus",
        "an Edinburgh-layout corpus from folders of real speech and noise",
    ),
    "make-realcheck": ("rcnn_se.data.realcheck", "build the real-speech check set (real speech + noises)"),
    "make-realnoise": ("rcnn_se.data.realnoise", "build the real-noise check set (real speech + real noise)"),
    "paper-tables": ("rcnn_se.reporting.tables", "rebuild the paper's tables from the MLflow store"),
    "compare": ("rcnn_se.reporting.compare", "two groups of runs compared on a scored set, paired"),
    "enhance": ("rcnn_se.deploy.enhance", "enhance wav files with a trained checkpoint or MLflow run"),
    "evaluate": ("rcnn_se.eval_cli", "score a checkpoint or run on a test set (= python eval.py)"),
    "export": ("rcnn_se.deploy.export", "export a checkpoint to TorchScript and ONNX"),
    "runs": (
        "rcnn_se.tracking.runs_cli",
        "runs clean [--delete]: list or remove FAILED and stale RUNNING runs",
    ),
}


def usage() -> str:
    lines = ["usage: rcnn-se COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<18} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "training: python train.py [overrides]   (see conf/train.yaml)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"rcnn-se: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
