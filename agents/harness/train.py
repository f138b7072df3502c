"""Training entry point: ``train(algo, shield, config, rounds, seed, out_dir, device) -> Path``.

One call is one run directory (layout in ``agents.common.run_dir``): ``config.json`` with everything the
run was started with, ``episodes.csv`` (one row per finished training episode), ``curves.csv`` (with
``eval_every``), TensorBoard logs and a checkpoint. ``resume=True`` continues the run in ``out_dir`` from
its checkpoint up to ``rounds`` in total: the round counter, the learning curve (rows after the checkpoint
are dropped, then appended to), optimizer and replay buffer carry on; the custom learners (``idqn``,
``ippo``) also restore the environment mid-episode, so a resumed run is identical to an uninterrupted one.

**One budget unit: simulated decision rounds.** Every learned method trains for ``rounds`` rounds of the
simulator (10 simulated seconds each), whatever its view: for the per-edge learners (``idqn``, ``ippo``,
SB3 ``ppo``/``dqn``/``maskable_ppo`` over the vec-env adapter) a round is one step of the parallel env
(all N agents act once); for the cluster head (``crl_*``), where one env step is one head decision, the
simulator's rounds are counted (a round has as many decisions as edges with a pending task) and the last
episode is cut at the budget. Every algo stops at exactly ``rounds`` (PPO-style learners drop the part
of a rollout cut by the budget). Schedules that used to be in agent-steps are relative to the budget
(IDQN's and SB3 DQN's epsilon decay over a fraction of it), so short budgets still end exploiting.
``episodes.csv`` rows carry the round count. Runs are deterministic given the seed (same device, same
library versions), with or without periodic evaluation.

**Learning curves.** With ``eval_every=K`` the current policy is evaluated greedily every K rounds (and
at rounds 0 and the end), behind the run's shield, on the fixed episodes ``s + e`` for ``s`` in
``eval_seeds`` and ``e < eval_episodes``; ``curves.csv`` gets one row per evaluation (see
``agents.harness.convergence``).

**Preferences.** ``hparams={"shield_preferences": False}`` makes a shielded learner withhold its
preference order from the shield (the shield then ranks a displaced agent's alternatives by load), in
training and when the run is evaluated: the ``SROLE-central-noprefs`` ablation.

SROLE is any MARL algo here trained with ``shield="central"`` or ``"decentralized"``.
"""

from __future__ import annotations

import functools
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.common.context import RunContext
from agents.common.curves import CurveRecorder
from agents.common.run_dir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    STATE_FILE,
    EpisodeLog,
    RunDir,
    died_before_checkpoint,
    load_run,
    read_json,
    run_lock,
    write_json,
)
from agents.common.utils import as_config, resolve_device, seed_everything
from agents.harness.evaluate import evaluate_seeds
from agents.harness.registry import LEARNERS
from agents.learners.base import Learner, LearnerConfig
from srole_common.names import SHIELDS
from srole_env import ClusterConfig

BUDGET_UNIT = "simulated decision rounds"
DEFAULT_ROUNDS = 10_000
SHIELD_PREFERENCES = "shield_preferences"
"""The hyperparameter every parallel-env learner takes: hand preferences to the shield (default True)."""


def train(
    algo: str,
    shield: str | None = None,
    config: ClusterConfig | str | dict[str, Any] = "small",
    rounds: int = DEFAULT_ROUNDS,
    seed: int | None = None,
    out_dir: str | Path = "runs/run",
    device: str = "auto",
    *,
    hparams: dict[str, Any] | None = None,
    progress: bool = True,
    eval_every: int | None = None,
    eval_seeds: Sequence[int] = (),
    eval_episodes: int = 1,
    resume: bool = False,
    checkpoint_every: int = 0,
) -> Path:
    """Train ``algo`` behind ``shield`` on ``config`` for ``rounds`` simulated rounds (total); return the run dir.

    ``config`` is a ``ClusterConfig``, a scenario name/file, or a dict of fields (with optional
    ``scenario``). ``shield`` and ``seed`` default to ``"none"`` and 0. ``hparams`` are the learner's
    hyperparameters plus ``shield_preferences`` (bool). ``eval_every``/``eval_seeds``/``eval_episodes``:
    learning curve into ``curves.csv`` (module docstring). ``checkpoint_every``: also checkpoint every this
    many rounds. With ``resume=True`` the shield, config, seed, hyperparameters and evaluation settings come
    from the run's ``config.json`` (``config``, ``hparams`` and the ``eval_*`` arguments are ignored);
    ``algo`` and any ``shield``/``seed`` given must match them.
    """
    if algo not in LEARNERS:
        raise ValueError(f"algo: unknown algo {algo!r}; choose one of {list(LEARNERS)}")
    if resume:
        _, saved, state = load_run(out_dir)
        _check_matches(saved, algo=algo, shield=shield, seed=seed)
        if "rounds" not in state:
            raise ValueError(f"run {str(out_dir)!r} was trained by an older version (budget in timesteps, not "
                             "rounds) and cannot be resumed; start a new run")
        shield, seed = saved["shield"], int(saved["seed"])
        _check_resumable(Path(out_dir), saved, state, rounds)
    shield = "none" if shield is None else shield
    seed = 0 if seed is None else seed
    if isinstance(seed, np.integer):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if shield not in SHIELDS:
        raise ValueError(f"shield: unknown shield {shield!r}; choose one of {list(SHIELDS)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be an int >= 0, got {checkpoint_every!r}")
    learner = LEARNERS[algo]
    if learner.env_kind == "centralized" and shield != "none":
        raise ValueError(f"shield: {algo} schedules on the centralized env, which takes no shield; use 'none'")
    run = RunDir(Path(out_dir))
    resolved = resolve_device(device)
    created = False
    if resume:
        run, saved, state = load_run(run.root)
        cfg = ClusterConfig.from_dict(saved["cluster"])
        try:
            hp = learner.config_class.from_saved(saved["hparams"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"hparams in {str(run.config)!r}: {err}") from err
        share = bool(saved.get(SHIELD_PREFERENCES, True))
        evaluation = saved.get("evaluation")
        saved.setdefault("resumes", []).append({"from_rounds": state["rounds"], "to_rounds": rounds,
                                                "device": resolved, "started": _now()})
        saved["rounds"] = rounds
        write_json(run.config, saved)
    else:
        if run.root.exists() and any(run.root.iterdir()) and not died_before_checkpoint(run.root):
            raise FileExistsError(f"out dir {str(run.root)!r} is not empty; pass a new directory or resume it")
        cfg = as_config(config)
        overrides = dict(hparams or {})
        share = overrides.pop(SHIELD_PREFERENCES, True)
        if not isinstance(share, bool):
            raise ValueError(f"hyperparameter {SHIELD_PREFERENCES} must be true or false, got {share!r}")
        hp = learner.configure(overrides, cfg, rounds)  # the door: every setting checked before anything is written
        evaluation = None
        if eval_every is not None:
            CurveRecorder(run.curves, eval_every, eval_seeds, eval_episodes, evaluate_seeds)  # validates the settings
            evaluation = {"every": eval_every, "seeds": list(eval_seeds), "episodes": eval_episodes}
        elif tuple(eval_seeds):
            raise ValueError("eval_seeds given without eval_every; pass eval_every=K to evaluate every K rounds")
        state = {}
        created = not run.root.exists()
        if not created and died_before_checkpoint(run.root):  # checked again after the door: nothing else ran
            warnings.warn(f"out dir {str(run.root)!r} holds a run that stopped before its first checkpoint (no "
                          f"{CHECKPOINT_DIR}/{STATE_FILE}); it is cleared and the run starts again", stacklevel=2)
            _remove_partial_run(run.root, created=False)
        run.root.mkdir(parents=True, exist_ok=True)
        write_json(run.checkpoint / RUN_CONFIG_COPY, record := {
            "algo": algo, "shield": shield, "rounds": rounds, "budget_unit": BUDGET_UNIT,
            "seed": seed, "device": device, "resolved_device": resolved, "env_kind": learner.env_kind,
            "scenario": config if isinstance(config, str) else None, "cluster": cfg.to_dict(),
            "hparams": hp.to_dict(), SHIELD_PREFERENCES: share, "evaluation": evaluation,
            "checkpoint_every": checkpoint_every, "started": _now(), "command": sys.argv, "versions": _versions(),
        })
        write_json(run.config, record)
    try:
        with run_lock(run.root):  # a live run is never taken for one that died before its first checkpoint
            return _train_in(run, learner, algo, shield, cfg, seed, rounds, resolved, hp, resume, progress,
                             checkpoint_every, state, share, evaluation)
    except BaseException:
        if not resume and not run.state.is_file():  # nothing to resume: leave the out dir as it was
            _remove_partial_run(run.root, created)
        raise


def _train_in(run: RunDir, learner: type[Learner], algo: str, shield: str, cfg: ClusterConfig, seed: int,
              rounds: int, resolved: str, hp: LearnerConfig, resume: bool, progress: bool, checkpoint_every: int,
              state: dict[str, Any], share: bool, evaluation: dict[str, Any] | None) -> Path:
    """The part of ``train`` after the run directory is set up: logs, learner, checkpoints."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run.tb))
    log = EpisodeLog(run.episodes, writer)
    if resume:
        log.keep_before(int(state["episodes"]))
    curves = None
    if evaluation:
        evaluator = functools.partial(evaluate_seeds, shield=shield, config=cfg, device=resolved,
                                      shield_preferences=share)
        curves = CurveRecorder(run.curves, int(evaluation["every"]), [int(s) for s in evaluation["seeds"]],
                               int(evaluation["episodes"]), evaluator, start=int(state["rounds"]) if resume else None)
    seed_everything(seed)
    ctx = RunContext(run=run, algo=algo, shield=shield, config=cfg, seed=seed, rounds=rounds,
                     device=resolved, hparams=hp, resume=resume, progress=progress,
                     checkpoint_every=checkpoint_every, writer=writer, episode_log=log, state=state,
                     shield_preferences=share, curves=curves)
    try:
        learner.run(ctx)
    finally:
        writer.close()
    return run.root


def resume_run(out_dir: str | Path, rounds: int | None = None, device: str = "auto", progress: bool = True,
               checkpoint_every: int | None = None) -> Path:
    """Continue the run in ``out_dir`` up to ``rounds`` in total (default: its original budget)."""
    _, saved, _ = load_run(out_dir)
    every = int(saved.get("checkpoint_every", 0)) if checkpoint_every is None else checkpoint_every
    total = rounds or saved.get("rounds")
    if total is None:
        raise ValueError(f"run {str(out_dir)!r} was trained by an older version (budget in timesteps, not rounds) "
                         "and cannot be resumed; start a new run")
    return train(saved["algo"], rounds=int(total), out_dir=out_dir, device=device, resume=True, progress=progress,
                 checkpoint_every=every)


RUN_CONFIG_COPY = "config.json"
"""``checkpoint/config.json``: the run's config as it was trained, compared with ``config.json`` on resume."""
RESUME_FIELDS = ("algo", "shield", "seed", "env_kind", "cluster", "hparams", SHIELD_PREFERENCES, "evaluation")
"""Fields of ``config.json`` that must equal the checkpoint's copy for a run to be resumed."""


def _check_resumable(root: Path, saved: dict[str, Any], state: dict[str, Any], rounds: int) -> None:
    """Refuse a resume to fewer rounds than trained, or whose ``config.json`` differs from the checkpoint's."""
    done = state.get("rounds")
    if isinstance(rounds, int) and isinstance(done, int) and rounds < done:
        raise ValueError(f"rounds: run {str(root)!r} has already trained {done} rounds; resuming it to {rounds} "
                         f"would train nothing and rewrite its budget; pass rounds >= {done}")
    copy = root / CHECKPOINT_DIR / RUN_CONFIG_COPY
    if not copy.is_file():
        raise ValueError(f"run {str(root)!r} has no {CHECKPOINT_DIR}/{RUN_CONFIG_COPY} (written by an older "
                         "version), so its config cannot be checked; start a new run")
    trained = read_json(copy, "checkpoint config")
    changed = []
    for key in RESUME_FIELDS:
        if key == "cluster":
            changed += [f"cluster.{k}" for k in _diff_keys(saved.get(key), trained.get(key))]
        elif saved.get(key) != trained.get(key):
            changed.append(key)
    if changed:
        raise ValueError(f"config: {str(root / CONFIG_FILE)!r} differs from the config the checkpoint was trained "
                         f"with in {changed}; restore it, or start a new run")


def _diff_keys(a: Any, b: Any) -> list[str]:
    """Keys whose values differ between two dicts (all of them if either is not a dict)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [] if a == b else ["*"]
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _remove_partial_run(root: Path, created: bool) -> None:
    """Remove what a failed fresh run wrote (the whole dir if it created it, else the dir's contents)."""
    if created:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in list(root.iterdir()) if root.is_dir() else []:
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


def _check_matches(saved: dict[str, Any], **given: Any) -> None:
    for key, value in given.items():
        if value is not None and saved.get(key) != value:
            raise ValueError(f"{key}: the run was trained with {key}={saved.get(key)!r}, not {value!r}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _versions() -> dict[str, str]:
    """Versions of the libraries a run depends on, read from their installed metadata (importing SB3 or
    sb3-contrib only to read ``__version__`` would cost a run that does not use them their import time)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("numpy", "torch", "gymnasium", "pettingzoo", "stable_baselines3", "sb3_contrib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "?"
    return out
