"""Nothing in a checkpoint or a config runs code: pickle payloads, foreign `_target_`s in a checkpoint's
model_config, and `_target_` overrides on the command line are refused before anything executes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate

from helpers.audio import speechlike
from helpers.configs import CONF, composed
from helpers.jobs import ROOT
from rcnn_se.config.safety import UnsafeTargetError, check_command_line, check_config_targets, targets
from rcnn_se.data.audio import write_wav
from rcnn_se.deploy.enhance import main as enhance_main
from rcnn_se.errors import ConfigError
from rcnn_se.training.checkpoints import CheckpointError, load_checkpoint
from rcnn_se.training.system import EnhancementSystem

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@pytest.fixture
def forget_modules() -> Iterator[list[str]]:
    """Names of modules a test imports from its own temp folder, dropped from `sys.modules` afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]


class Payload:
    """Unpickling this runs `touch <marker>`: what a crafted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_in_checkpoint_is_refused_and_not_run(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "payload_ran"
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["extra"] = Payload(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(ckpt, evil)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused.*nothing in it was run.*system"):
        EnhancementSystem.from_checkpoint(evil)
    wav = tmp_path / "x.wav"
    write_wav(wav, speechlike(0.3, 16000), 16000)
    with pytest.raises(SystemExit, match="refused"):
        enhance_main([str(wav), "-o", str(tmp_path / "o"), "--checkpoint", str(evil)])
    assert not marker.exists(), "the pickle payload ran"
    assert not (tmp_path / "o" / "x_enhanced.wav").exists()


@pytest.mark.parametrize(
    "target",
    [
        "builtins.open",
        "os.system",
        "torch.hub.load",
        "rcnn_se.deploy.enhance.main",
        "rcnn_se.models.nosuch.X",
    ],
)
def test_foreign_model_target_is_refused_before_anything_runs(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    target: str,
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["model_config"] = {"_target_": target, "file": str(victim), "mode": "w"}
    bad = tmp_path / "bad.ckpt"
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match=r"bad\.ckpt: model_config\._target_=.*(refused|no such model)"):
        EnhancementSystem.from_checkpoint(bad)
    assert victim.read_text() == "precious"


def test_nested_target_in_model_config_is_refused(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["model_config"]["activation"] = {"_target_": "builtins.open", "file": "x"}
    torch.save(ckpt, tmp_path / "nested.ckpt")
    with pytest.raises(UnsafeTargetError, match="nested _target_ activation._target_"):
        EnhancementSystem.from_checkpoint(tmp_path / "nested.ckpt")


def test_truncated_checkpoint_is_one_clear_error(checkpoint: Path, tmp_path: Path) -> None:  # noqa: F811
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(checkpoint.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt: not a readable checkpoint"):
        load_checkpoint(cut)


def test_config_targets_allow_the_project_and_refuse_the_rest(
    monkeypatch, tmp_path: Path, forget_modules: list[str]
) -> None:
    check_config_targets(
        {
            "trainer": {"_target_": "lightning.Trainer"},
            "optimizer": {"_target_": "torch.optim.Adam"},
            "callbacks": {"ckpt": {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"}},
            "model": {"_target_": "rcnn_se.models.spectral_cnn.SpectralCNN"},
        }
    )
    with pytest.raises(UnsafeTargetError, match=r"callbacks\.evil\._target_='builtins\.open': refused"):
        check_config_targets({"callbacks": {"evil": {"_target_": "builtins.open"}}})
    with pytest.raises(UnsafeTargetError, match="torch.hub.load"):
        check_config_targets({"x": [{"_target_": "torch.hub.load"}]})
    (tmp_path / "mycallbacks.py").write_text("import os\nfrom os import system\n\n\nclass Mine:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_modules.append("mycallbacks")
    monkeypatch.setenv("RCNN_SE_TRUSTED_TARGETS", "mycallbacks.")
    check_config_targets({"callbacks": {"mine": {"_target_": "mycallbacks.Mine"}}})
    # trusting a module trusts its own code, not what it imports, nor a builtin it re-binds
    for reached, really in [
        ("mycallbacks.os.system", "os.system"),
        ("mycallbacks.system", "mycallbacks.system"),
    ]:
        with pytest.raises(UnsafeTargetError, match=rf"resolves to {really}, defined in posix, outside"):
            check_config_targets({"callbacks": {"mine": {"_target_": reached}}})


def test_command_line_targets_are_checked_sweeps_included() -> None:
    check_command_line(["-m", "model=rcnn,cnn", "+callbacks.k._target_=lightning.pytorch.callbacks.Timer"])
    check_command_line(["hydra/launcher=slurm", f"+hydra.launcher._target_={SLURM_LAUNCHER}"])
    with pytest.raises(UnsafeTargetError, match="os.system"):
        check_command_line(["-m", "+callbacks.k._target_=lightning.pytorch.callbacks.Timer,os.system"])
    with pytest.raises(UnsafeTargetError, match=r"hydra\.callbacks\.evil\._target_='builtins\.open'"):
        check_command_line(["+hydra.callbacks.evil={_target_:builtins.open,file:x,mode:w}"])
    with pytest.raises(UnsafeTargetError, match="hydra_plugins"):  # only under hydra.*
        check_command_line(["+callbacks.k._target_=hydra_plugins.x.Y"])


@pytest.mark.parametrize("key", ["callbacks", "hydra.callbacks"])
def test_train_refuses_foreign_target_override_and_runs_nothing(tmp_path: Path, key: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    env = {**os.environ, "RCNN_SE_ROOT": str(tmp_path)}
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            f"+{key}.evil={{_target_:builtins.open,file:{victim},mode:w}}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and f"{key}.evil._target_='builtins.open': refused" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - start < 30
    assert victim.read_text() == "precious"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists()


# --- `_target_`s that pass a string-prefix test but reach code outside the allowed modules ---------------
# Hydra's `_locate` walks attributes, so a path through any module an allowed one imports reaches that module:
# each dangerous function below, reached from each allowed package (all real paths of the installed packages).
VIA = {
    "os.open": {
        "rcnn_se": "rcnn_se.config.safety.os.open",
        "torch.nn": "torch.nn.parallel.distributed.os.open",
        "torch.optim": "torch.optim.optimizer.torch.os.open",
        "lightning": "lightning.pytorch.callbacks.model_checkpoint.os.open",
    },
    "torch.save": {
        "rcnn_se": "rcnn_se.training.system.torch.save",
        "torch.nn": "torch.nn.modules.module.torch.save",
        "torch.optim": "torch.optim.optimizer.torch.save",
        "lightning": "lightning.pytorch.callbacks.model_checkpoint.torch.save",
    },
    "torch.hub.load": {
        "rcnn_se": "rcnn_se.training.system.torch.hub.load",
        "torch.nn": "torch.nn.modules.module.torch.hub.load",
        "torch.optim": "torch.optim.optimizer.torch.hub.load",
        "lightning": "lightning.pytorch.callbacks.model_checkpoint.torch.hub.load",
    },
    "builtins.exec": {
        "rcnn_se": "rcnn_se.config.safety.inspect.builtins.exec",
        "torch.nn": "torch.nn.modules.module.torch.builtins.exec",
        "torch.optim": "torch.optim.optimizer.torch.builtins.exec",
        "lightning": "lightning.pytorch.callbacks.model_checkpoint.torch.builtins.exec",
    },
}
# what each really is, as the refusal must say it
DEFINED_IN = {
    "os.open": "os.open, defined in posix",
    "torch.save": "torch.save, defined in torch.serialization",
    "torch.hub.load": "torch.hub.load, defined in torch.hub",
    "builtins.exec": "builtins.exec, defined in builtins",
}
BYPASSES = [(danger, path) for danger, paths in VIA.items() for path in paths.values()]
# the same reached from the model package, which is all a checkpoint's model_config may name
FROM_MODELS = {
    "os.open": "rcnn_se.models.spectral_cnn.torch.os.open",
    "torch.save": "rcnn_se.models.spectral_cnn.torch.save",
    "torch.hub.load": "rcnn_se.models.spectral_cnn.torch.hub.load",
    "builtins.exec": "rcnn_se.models.spectral_cnn.torch.builtins.exec",
}


class Armed:
    """A victim file, a local torch hub repo whose hubconf.py leaves a marker, and the arguments that make
    each dangerous function harm them: `untouched()` is whether none of it happened."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        self.victim = folder / "victim.txt"
        self.victim.write_text("precious")
        self.marker = folder / "code_ran"
        self.hub = folder / "hubrepo"
        self.hub.mkdir(exist_ok=True)
        (self.hub / "hubconf.py").write_text(
            f"open({str(self.marker)!r}, 'w').write('hubconf')\n\n\ndef evil():\n    return None\n"
        )

    def arguments(self, danger: str) -> dict:
        return {
            "os.open": {"path": str(self.victim), "flags": os.O_WRONLY | os.O_TRUNC},
            "torch.save": {"obj": "overwritten", "f": str(self.victim)},
            "torch.hub.load": {
                "repo_or_dir": str(self.hub),
                "model": "evil",
                "source": "local",
                "trust_repo": True,
            },
            "builtins.exec": {"_args_": [f'open("{self.marker}", "w").write("exec")']},
        }[danger]

    def config(self, danger: str, target: str) -> dict:
        return {"_target_": target, **self.arguments(danger)}

    def untouched(self) -> bool:
        return self.victim.read_bytes() == b"precious" and not self.marker.exists()


def override(key: str, config: dict) -> str:
    """`+key={...}` in Hydra's override grammar, as a user would paste it."""

    def value(v) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ",".join(value(x) for x in v) + "]"
        return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"+{key}={{" + ",".join(f"{k}:{value(v)}" for k, v in config.items()) + "}"


def checked_build(container: dict) -> None:
    """What a job does with its config: check every `_target_`, then build."""
    check_config_targets(container)
    instantiate(container)


@pytest.mark.parametrize("danger", ["os.open", "torch.save", "torch.hub.load"])
def test_each_bypass_is_armed_when_not_checked(tmp_path: Path, danger: str) -> None:
    """The payloads are live: built by Hydra without the check, each one harms the victim or runs code
    (what the measured bypasses did through train.py), so the refusals below protect something real.
    (`builtins.exec` is left out: the installed Hydra's own target policy blocklists it.)"""
    armed = Armed(tmp_path)
    built = instantiate({"evil": armed.config(danger, VIA[danger]["torch.nn"])})
    if danger == "os.open":
        os.close(built["evil"])
    assert not armed.untouched()


@pytest.mark.parametrize(("danger", "target"), BYPASSES)
@pytest.mark.parametrize("key", ["callbacks.evil", "hydra.callbacks.evil"])
def test_bypass_in_a_config_is_refused_naming_what_it_is(
    tmp_path: Path, danger: str, target: str, key: str
) -> None:
    armed = Armed(tmp_path)
    head, _, name = key.rpartition(".")
    container: dict = {name: armed.config(danger, target)}
    for part in reversed(head.split(".")):
        container = {part: container}
    expected = (
        rf"^{re.escape(key)}\._target_='{re.escape(target)}': refused, resolves to {DEFINED_IN[danger]}, "
    )
    with pytest.raises(UnsafeTargetError, match=expected):
        checked_build(container)
    assert armed.untouched()


@pytest.mark.parametrize(("danger", "target"), BYPASSES)
@pytest.mark.parametrize("key", ["callbacks.evil", "hydra.callbacks.evil"])
def test_bypass_on_the_command_line_is_refused(tmp_path: Path, danger: str, target: str, key: str) -> None:
    armed = Armed(tmp_path)
    args = ["-m", "model=rcnn,cnn", override(key, armed.config(danger, target))]
    with pytest.raises(
        UnsafeTargetError, match=rf"^{re.escape(key)}\._target_=.*resolves to {DEFINED_IN[danger]}"
    ):
        check_command_line(args)
    with pytest.raises(UnsafeTargetError, match=re.escape(DEFINED_IN[danger])):  # as one value of a sweep
        check_command_line(["-m", f"+{key}._target_=lightning.pytorch.callbacks.Timer,{target}"])
    assert armed.untouched()


def test_measured_bypasses_are_refused(tmp_path: Path) -> None:
    """The three bypasses measured through train.py (issue 24, item 3), exactly as typed there."""
    armed = Armed(tmp_path)
    hub = (
        "{_target_:torch.nn.modules.module.torch.hub.load,"
        f"repo_or_dir:{armed.hub},model:evil,source:local,trust_repo:true}}"
    )
    truncate = f"{{_target_:rcnn_se.config.safety.os.open,path:{armed.victim},flags:513}}"
    overwrite = f"{{_target_:torch.nn.modules.module.torch.save,obj:x,f:{armed.victim}}}"
    for value, what in [(hub, "torch.hub.load"), (truncate, "os.open"), (overwrite, "torch.save")]:
        with pytest.raises(
            UnsafeTargetError, match=rf"hydra\.callbacks\.evil\._target_=.*{DEFINED_IN[what]}"
        ):
            check_command_line([f"+hydra.callbacks.evil={value}"])
    assert armed.untouched()


@pytest.mark.parametrize("danger", list(VIA))
@pytest.mark.parametrize("where", ["model_config", "model_config.activation", "stft", "stft.window"])
def test_bypass_in_a_checkpoint_config_is_refused(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    danger: str,
    where: str,
) -> None:
    armed = Armed(tmp_path / "armed")
    for target in [FROM_MODELS[danger], *VIA[danger].values()]:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
        hparams, payload = ckpt["hyper_parameters"], armed.config(danger, target)
        top, _, sub = where.partition(".")
        stored = dict(hparams.get(top) or {})
        if sub:
            stored[sub] = payload
        else:
            stored |= payload
        hparams[top] = stored
        bad = tmp_path / "bad.ckpt"
        torch.save(ckpt, bad)
        with pytest.raises(UnsafeTargetError, match=rf"bad\.ckpt: .*_target_.*{re.escape(target)}.*refused"):
            EnhancementSystem.from_checkpoint(bad)
        assert armed.untouched(), target


@pytest.mark.parametrize("danger", list(VIA))
def test_model_class_reached_through_another_module_is_refused(
    checkpoint: Path,  # noqa: F811
    tmp_path: Path,
    danger: str,
) -> None:
    """Under `rcnn_se.models.` as a string, yet `torch`'s and `os`'s functions as objects."""
    armed = Armed(tmp_path)
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["model_config"] = armed.config(danger, FROM_MODELS[danger])
    torch.save(ckpt, tmp_path / "bad.ckpt")
    with pytest.raises(
        UnsafeTargetError, match=rf"model_config\._target_=.*refused, resolves to {DEFINED_IN[danger]}"
    ):
        EnhancementSystem.from_checkpoint(tmp_path / "bad.ckpt")
    assert armed.untouched()


@pytest.mark.parametrize("script", ["train.py", "eval.py"])
def test_script_refuses_the_os_open_bypass_in_one_line_and_truncates_nothing(
    tmp_path: Path, script: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / script),
            f"+hydra.callbacks.evil={{_target_:rcnn_se.config.safety.os.open,path:{victim},flags:513}}",
        ],
        cwd=tmp_path,
        env={**os.environ, "RCNN_SE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "Error: hydra.callbacks.evil._target_='rcnn_se.config.safety.os.open': refused, "
        "resolves to os.open, defined in posix, outside the allowed modules"
    ), lines[0]
    assert time.monotonic() - start < 30
    assert victim.read_text() == "precious"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "mlruns").exists()


def test_every_target_in_the_shipped_configs_is_allowed(tmp_path: Path) -> None:
    """Each `_target_` of conf/**/*.yaml, as the object it names, plus the launchers Hydra's plugins bring."""
    seen = []
    for path in sorted(CONF.rglob("*.yaml")):
        tree = yaml.safe_load(path.read_text()) or {}
        if path.relative_to(CONF).parts[0] == "hydra":  # the hydra group is the `hydra` node
            tree = {"hydra": tree}
        check_config_targets(tree)
        seen += [target for _, target in targets(tree)]
    assert {"lightning.Trainer", "torch.optim.Adam", "rcnn_se.jobs.sweep_parent.SweepParentRun"} <= set(seen)
    for launcher in ("local_parallel", "slurm"):
        hydra_cfg = composed([f"hydra/launcher={launcher}"], tmp_path).hydra
        check_command_line([f"+hydra.launcher._target_={hydra_cfg.launcher._target_}"])
        check_config_targets({"hydra": {"launcher": {"_target_": hydra_cfg.launcher._target_}}})


def test_modules_typos_and_lookalike_names_are_refused(
    tmp_path: Path, monkeypatch, forget_modules: list[str]
) -> None:
    with pytest.raises(
        UnsafeTargetError, match="resolves to the module torch.nn.modules, not a class or function"
    ):
        check_config_targets({"x": {"_target_": "torch.nn.modules"}})
    with pytest.raises(ConfigError, match=r"x\._target_='torch\.optim\.Adamm': no such class or function"):
        check_config_targets({"x": {"_target_": "torch.optim.Adamm"}})
    # an entry naming one object opens its package to nothing else, not even to an import
    package = tmp_path / "trustpkg"
    package.mkdir()
    (package / "__init__.py").write_text("class Thing:\n    pass\n")
    (package / "Thingevil.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_modules.append("trustpkg")
    monkeypatch.setenv("RCNN_SE_TRUSTED_TARGETS", "trustpkg.Thing")
    check_config_targets({"x": {"_target_": "trustpkg.Thing"}})
    with pytest.raises(
        UnsafeTargetError, match="the module trustpkg.Thingevil is outside the allowed modules"
    ):
        check_config_targets({"x": {"_target_": "trustpkg.Thingevil.anything"}})
    assert not (tmp_path / "imported").exists()
