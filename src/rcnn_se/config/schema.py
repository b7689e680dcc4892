"""The typed schema of a job's config: every setting a user sets, with its type, what values it accepts and
what it does, written once here. `checks.py` reads it to answer a bad value in one line naming the key, before
torch, Lightning or MLflow load; nothing downstream checks these settings again.

Defaults: one per setting. The blocks every config shares (the top-level `System` knobs, `evaluate`,
`realcheck`, `paths`) take theirs from the dataclass fields below, which `resolvers.register_resolvers` puts
in Hydra's ConfigStore, so train.yaml and eval.yaml name them instead of copying them; constructors that need
one (`EnhancementSystem`) read it from `SYSTEM`. The blocks a config group fills (`data`, `model`,
`optimizer`, `scheduler`, `trainer`) have no default here: each option's yaml sets its values (demo and
voicebank differ), and a default here would be a second one.

Not registered as Hydra structured configs: OmegaConf 2.3 cannot type `snr` ('all' or a number) or
`evaluate.workers` ('auto' or a count), has no ranges, and reports a type error as Hydra's multi-line
"Error merging override" before any of the project's code runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

_CHECKOUT_CONF = Path(__file__).resolve().parents[3] / "conf"
# The Hydra configs: the checkout's, beside src/ (an editable install, as `make install` makes), else the
# working folder's.
CONF_DIR = _CHECKOUT_CONF if _CHECKOUT_CONF.is_dir() else Path("conf").resolve()


@dataclass(frozen=True)
class Rule:
    """What a value must be: `valid(value)`, and the words that say so (`expected a number in [0, 1)`)."""

    expected: str
    valid: Callable[[Any], bool]


@dataclass(frozen=True)
class Relation:
    """A rule across settings of one block: `holds(*values)` over `keys`; the first key is the one named."""

    keys: tuple[str, ...]
    expected: str
    holds: Callable[..., bool]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number_in(low: float, high: float) -> Rule:
    """A number in the half-open range [low, high)."""
    return Rule(f"a number in [{low:g}, {high:g})", lambda v: _number(v) and low <= v < high)


def at_least(low: float, what: str) -> Rule:
    return Rule(what, lambda v: _number(v) and v >= low)


def whole_at_least(low: int, note: str = "") -> Rule:
    return Rule(f"a whole number >= {low}{note}", lambda v: _whole(v) and v >= low)


def one_of(*choices: Any) -> Rule:
    return Rule(f"one of {', '.join(map(str, choices))}", lambda v: any(v == c for c in choices))


def optional(rule: Rule, absent: str = "null") -> Rule:
    return Rule(f"{rule.expected}, or {absent}", lambda v: v is None or rule.valid(v))


NUMBER = Rule("a number", _number)
WHOLE = Rule("a whole number", _whole)
POSITIVE = Rule("a positive number", lambda v: _number(v) and v > 0)
COUNT = whole_at_least(1)
LIMIT = Rule("a whole number (-1 for no limit)", lambda v: _whole(v) and v >= -1)
BATCHES = Rule(
    "a fraction in (0, 1], a whole number of batches, or null for all",
    lambda v: v is None or (_whole(v) and v >= 0) or (isinstance(v, float) and 0 < v <= 1),
)
SWITCH = Rule("true or false", lambda v: isinstance(v, bool))
TEXT = Rule("a string", lambda v: isinstance(v, str))
FRACTION = number_in(0, 1)
SPEAKERS = Rule(
    "auto, a number of speakers or a list of them",
    lambda v: v == "auto" or (_whole(v) and v >= 0) or (isinstance(v, Sequence) and not isinstance(v, str)),
)
FOLDER = Rule("a folder (data.root=/data/DS_10283_2791)", lambda v: isinstance(v, str) and v != "")
SNR_CONDITION = Rule(  # which numbers the corpus has: rcnn_se.data.corpus.check_snr_condition, from its log
    "all or a number of dB", lambda v: v == "all" or _number(v)
)
WORKERS = Rule("'auto' or a whole number >= 0", lambda v: v == "auto" or (_whole(v) and v >= 0))

ACTIVATIONS = ("relu", "elu", "selu", "prelu")  # paper section IV.D; built by rcnn_se.models.spectral_cnn
COMPRESSIONS = ("none", "log1p", "log")  # rcnn_se.data.features.compress
VOICES = ("synthetic", "debian", "mixed")  # a demo corpus's training talkers (rcnn_se.data.demo_real)
WINDOWS = ("hamming", "hann")
ACTIVATION = one_of(*ACTIVATIONS)


def setting(rule: Rule, doc: str, default: Any = MISSING) -> Any:
    """A schema field: its rule and its one-line documentation (and its default, where the schema has it)."""
    return field(default=default, metadata={"rule": rule, "doc": doc})


def block(doc: str) -> Any:
    """A nested block, checked by its own dataclass (the field's type)."""
    return field(metadata={"doc": doc})


@dataclass(frozen=True)
class System:
    """The top-level knobs: plain keys, so they sweep directly (`python train.py -m dropout=0,0.2`)."""

    seed: int = setting(WHOLE, "seed of every random generator (Lightning's seed_everything)", 42)
    dropout: float = setting(FRACTION, "dropout after each hidden layer; paper Table 1: 0 against > 0", 0.0)
    activation: str = setting(ACTIVATION, "hidden-layer activation (paper section IV.D)", "relu")
    snr: str | int = setting(
        SNR_CONDITION, "training SNR condition in dB, or all (the test always uses every SNR)", "all"
    )
    compress: str = setting(
        one_of(*COMPRESSIONS), "network domain of magnitudes; none = the paper's raw magnitudes", "log1p"
    )
    gain_floor_db: float | None = setting(
        optional(NUMBER), "enhanced magnitude >= noisy one plus this many dB, per bin; null = no floor", -12
    )
    gain_ceiling_db: float | None = setting(
        optional(NUMBER), "enhanced magnitude <= noisy one plus this many dB (more only adds noise)", 0
    )
    underestimate_weight: float = setting(
        POSITIVE, "loss weight of removed speech against residual noise; 1 = plain MSE (the paper)", 8.0
    )
    envelope_weight: float = setting(
        at_least(0, "a weight >= 0 (0 = off)"), "> 0 adds that times 1 - STOI's envelope correlation", 0.0
    )
    threads: int | None = setting(optional(COUNT), "torch CPU threads; null keeps torch's default", None)

    RELATIONS = (
        Relation(
            ("gain_floor_db", "gain_ceiling_db"),
            "a floor at or below gain_ceiling_db",
            lambda floor, ceiling: floor is None or ceiling is None or floor <= ceiling,
        ),
    )


@dataclass(frozen=True)
class Evaluate:
    """How test sets are scored (train.py and eval.py alike)."""

    workers: int | str = setting(
        WORKERS, "metric worker processes: auto = one per core, 0 = in-process", "auto"
    )
    full: bool = setting(SWITCH, "also PESQ-NB, eSTOI, CSIG/CBAK/COVL, SSNR, LLR, WSS", True)
    max_utterances: int | None = setting(optional(COUNT), "score only this many test utterances", None)
    n_audio_examples: int = setting(whole_at_least(0), "enhanced examples logged as audio and figures", 3)


@dataclass(frozen=True)
class Realcheck:
    """Real recorded speech in the demo test noises (rcnn-se make-realcheck), and in real recorded noise."""

    enabled: bool = setting(SWITCH, "false: neither set below is scored", True)
    root: str = setting(TEXT, "the realcheck set (built on first use)", "${paths.data_dir}/realcheck")
    real_noise: bool = setting(SWITCH, "also the same talkers in real noise never heard in training", True)
    real_noise_root: str = setting(
        TEXT, "the realnoise set (rcnn-se make-realnoise)", "${paths.data_dir}/realnoise"
    )


@dataclass(frozen=True)
class Stft:
    """The front end: the network sees magnitudes of this STFT."""

    sample_rate: int = setting(COUNT, "the rate every file is resampled to")
    n_fft: int = setting(COUNT, "FFT size (n_fft // 2 + 1 frequency bins)")
    hop_length: int = setting(COUNT, "samples between frames")
    win_length: int = setting(COUNT, "window length in samples")
    window: str = setting(one_of(*WINDOWS), "analysis window")

    RELATIONS = (
        Relation(
            ("hop_length", "win_length", "n_fft"),
            "hop_length <= win_length <= n_fft",
            lambda hop, win, n_fft: hop <= win <= n_fft,
        ),
    )


@dataclass(frozen=True)
class Demo:
    """The generated demo corpus (rcnn_se.data.synth), made on first use: its defaults are the embedded
    corpus's (conf/data/demo.yaml takes them from here, as `rcnn-se make-demo-corpus` does)."""

    n_train_speakers: int = setting(COUNT, "training talkers", 28)
    n_test_speakers: int = setting(COUNT, "test talkers", 2)
    per_condition: int = setting(
        COUNT, "test utterances per talker and (noise, SNR) condition, as in the real test set's design", 1
    )
    train_per_speaker: int = setting(
        COUNT, "training utterances per talker; the (noise, SNR) conditions cycle over them", 12
    )
    sample_rate: int = setting(COUNT, "rate of the written files", 48000)
    seed: int = setting(WHOLE, "seed of the generator", 0)
    voices: str = setting(
        one_of(*VOICES),
        "training talkers; debian/mixed: real Debian voices (rcnn_se.data.demo_real)",
        "synthetic",
    )
    real_noise: bool = setting(
        SWITCH, "also train on recorded sound effects (Debian tuxpaint-stamps-default)", False
    )


@dataclass(frozen=True)
class Data:
    """A corpus in the Edinburgh layout and how it is batched (rcnn_se.data.datamodule)."""

    root: str = setting(FOLDER, "the corpus")
    cache_dir: str = setting(TEXT, "where feature caches are kept")
    val_speakers: int | str | list[str] = setting(SPEAKERS, "training speakers held out for validation")
    segment_frames: int = setting(COUNT, "frames per training segment")
    batch_size: int = setting(COUNT, "segments per batch")
    num_workers: int | str = setting(WORKERS, "loader processes: auto = 0 on CPU, up to 4 on a GPU")
    source_sample_rate: int | None = setting(optional(COUNT), "insist that every file has this rate")
    eq_augment_db: float = setting(
        at_least(0, "a number of dB >= 0 (0 = off)"), "> 0: each training pair through a random EQ"
    )
    remix: bool = setting(SWITCH, "each training segment remixed with new noise every draw (data.remix)")
    stft: Stft = block("the front end")
    demo: Demo | None = block("the demo corpus, for data=demo (null for a real one)")


@dataclass(frozen=True)
class Model:
    """The spectral CNN / RCNN (rcnn_se.models.spectral_cnn); a baseline has none of these keys."""

    n_layers: int = setting(whole_at_least(2, " (an input and an output layer)"), "convolution layers")
    channels: int = setting(COUNT, "channels of each hidden layer")
    kernel_size: int = setting(
        Rule("an odd whole number >= 1 (symmetric 'same' padding)", lambda v: _whole(v) and v >= 1 and v % 2),
        "square kernel size",
    )
    activation: str = setting(ACTIVATION, "the top-level activation (${activation})")
    dropout: float = setting(FRACTION, "the top-level dropout (${dropout})")
    skip: bool = setting(SWITCH, "the input->output skip that makes the CNN an RCNN")
    final_activation: bool = setting(SWITCH, "a ReLU on the output")


@dataclass(frozen=True)
class Optimizer:
    lr: float = setting(POSITIVE, "learning rate")
    weight_decay: float = setting(at_least(0, "a number >= 0"), "L2 penalty")


@dataclass(frozen=True)
class Scheduler:
    interval: str = setting(one_of("epoch", "step"), "when Lightning steps the scheduler")


@dataclass(frozen=True)
class Trainer:
    max_epochs: int = setting(LIMIT, "epochs to train")
    max_steps: int = setting(LIMIT, "optimizer steps to train")
    limit_train_batches: int | float | None = setting(BATCHES, "the training batches of each epoch")


@dataclass(frozen=True)
class Paths:
    """Where a job reads and writes: everything under `root_dir` (train.py sets RCNN_SE_ROOT to the project
    folder; `paths.root_dir=DIR` relocates it all)."""

    root_dir: str = setting(TEXT, "the project folder", "${oc.env:RCNN_SE_ROOT,.}")
    data_dir: str = setting(TEXT, "corpora and check sets", "${paths.root_dir}/data")
    cache_dir: str = setting(TEXT, "feature caches", "${paths.data_dir}/cache")
    log_dir: str = setting(TEXT, "job folders", "${paths.root_dir}/outputs")
    mlruns_dir: str = setting(TEXT, "the local MLflow store", "${paths.root_dir}/mlruns")


# Where each block sits in a job's config ("" = the top level); a block a config lacks is skipped.
BLOCKS: tuple[tuple[str, type], ...] = (
    ("", System),
    ("data", Data),
    ("model", Model),
    ("optimizer", Optimizer),
    ("scheduler", Scheduler),
    ("trainer", Trainer),
    ("evaluate", Evaluate),
    ("realcheck", Realcheck),
    ("paths", Paths),
)
SYSTEM = System()
