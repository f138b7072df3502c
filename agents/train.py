"""Training entry point: ``train(algo, shield, config, timesteps, seed, out_dir, device) -> Path``.

One call is one run directory (layout in ``agents.common.run_dir``): ``config.json`` with everything the
run was started with, ``episodes.csv`` (one row per finished training episode), TensorBoard logs and a
checkpoint. ``resume=True`` continues the run in ``out_dir`` from its checkpoint up to ``timesteps`` in
total: the step counter, the learning curve (rows after the checkpoint are dropped, then appended to),
optimizer and replay buffer carry on; the custom learners (``idqn``, ``ippo``) also restore the
environment mid-episode, so a resumed run is identical to an uninterrupted one.

**Timesteps.** For the parallel-env algos one timestep is one agent-step: a round of the env is N
timesteps (SB3's vec-env count with one sub-env per agent). For ``crl_*`` one timestep is one decision
of the cluster head. SB3's PPO-style algos stop after the first full rollout that reaches the target; the
others stop at the first round (or head decision) that reaches it. ``episodes.csv`` rows carry the count.
Runs are deterministic given the seed (same device, same library versions).

SROLE is any MARL algo here trained with ``shield="central"`` or ``"decentralized"``.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any

from agents.common.context import RunContext
from agents.common.names import SHIELDS
from agents.common.run_dir import EpisodeLog, RunDir, load_run, write_json
from agents.common.utils import resolve_device, seed_everything
from agents.registry import ALGOS
from srole_env import ClusterConfig, make_config


def timestep_unit(algo: str) -> str:
    return "head decisions" if ALGOS[algo].env_kind == "centralized" else "agent-steps (rounds x N)"


def train(
    algo: str,
    shield: str | None = None,
    config: ClusterConfig | str | dict[str, Any] = "small",
    timesteps: int = 100_000,
    seed: int | None = None,
    out_dir: str | Path = "runs/run",
    device: str = "auto",
    *,
    hparams: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    checkpoint_every: int = 0,
) -> Path:
    """Train ``algo`` behind ``shield`` on ``config`` for ``timesteps`` (total) and return the run directory.

    ``config`` is a ``ClusterConfig``, a scenario name/file, or a dict of fields (with optional
    ``scenario``). ``shield`` and ``seed`` default to ``"none"`` and 0. With ``resume=True`` the shield,
    config, seed and hyperparameters come from the run's ``config.json`` (``config`` and ``hparams`` are
    ignored); ``algo`` and any ``shield``/``seed`` given must match them.
    """
    if algo not in ALGOS:
        raise ValueError(f"algo: unknown algo {algo!r}; choose one of {list(ALGOS)}")
    if resume:
        _, saved, _ = load_run(out_dir)
        _check_matches(saved, algo=algo, shield=shield, seed=seed)
        shield, seed = saved["shield"], int(saved["seed"])
    shield = "none" if shield is None else shield
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if shield not in SHIELDS:
        raise ValueError(f"shield: unknown shield {shield!r}; choose one of {list(SHIELDS)}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive int, got {timesteps!r}")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be an int >= 0, got {checkpoint_every!r}")
    spec = ALGOS[algo]
    if spec.env_kind == "centralized" and shield != "none":
        raise ValueError(f"shield: {algo} schedules on the centralized env, which takes no shield; use 'none'")
    run = RunDir(Path(out_dir))
    resolved = resolve_device(device)
    if resume:
        run, saved, state = load_run(run.root)
        cfg = ClusterConfig.from_dict(saved["cluster"])
        full_hparams = saved["hparams"]
        saved.setdefault("resumes", []).append({"from_timesteps": state["timesteps"], "to_timesteps": timesteps,
                                                "device": resolved, "started": _now()})
        saved["timesteps"] = timesteps
        write_json(run.config, saved)
    else:
        if run.root.exists() and any(run.root.iterdir()):
            raise FileExistsError(f"out dir {str(run.root)!r} is not empty; pass a new directory or resume it")
        cfg = as_config(config)
        full_hparams = spec.hparams(dict(hparams or {}))
        state = {}
        run.root.mkdir(parents=True, exist_ok=True)
        write_json(run.config, {
            "algo": algo, "shield": shield, "timesteps": timesteps, "timestep_unit": timestep_unit(algo),
            "seed": seed, "device": device, "resolved_device": resolved, "env_kind": spec.env_kind,
            "scenario": config if isinstance(config, str) else None, "cluster": cfg.to_dict(),
            "hparams": full_hparams, "checkpoint_every": checkpoint_every, "started": _now(),
            "command": sys.argv, "versions": _versions(),
        })
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run.tb))
    log = EpisodeLog(run.episodes, writer)
    if resume:
        log.keep_before(int(state["episodes"]))
    seed_everything(seed)
    ctx = RunContext(run=run, algo=algo, shield=shield, config=cfg, seed=seed, timesteps=timesteps,
                     device=resolved, hparams=full_hparams, resume=resume, progress=progress,
                     checkpoint_every=checkpoint_every, writer=writer, episode_log=log, state=state)
    try:
        spec.run(ctx)
    finally:
        writer.close()
    return run.root


def resume_run(out_dir: str | Path, timesteps: int | None = None, device: str = "auto", progress: bool = True,
               checkpoint_every: int | None = None) -> Path:
    """Continue the run in ``out_dir`` up to ``timesteps`` in total (default: its original target)."""
    _, saved, _ = load_run(out_dir)
    every = int(saved.get("checkpoint_every", 0)) if checkpoint_every is None else checkpoint_every
    return train(saved["algo"], timesteps=timesteps or int(saved["timesteps"]), out_dir=out_dir, device=device,
                 resume=True, progress=progress, checkpoint_every=every)


def as_config(config: ClusterConfig | str | dict[str, Any] | None) -> ClusterConfig:
    """A ``ClusterConfig`` from a config, a scenario name or file, or a dict of fields."""
    if isinstance(config, dict):
        return ClusterConfig.from_dict(config)
    return make_config(config)


def _check_matches(saved: dict[str, Any], **given: Any) -> None:
    for key, value in given.items():
        if value is not None and saved.get(key) != value:
            raise ValueError(f"{key}: the run was trained with {key}={saved.get(key)!r}, not {value!r}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _versions() -> dict[str, str]:
    import gymnasium
    import numpy
    import pettingzoo
    import sb3_contrib
    import stable_baselines3
    import torch

    mods = {"numpy": numpy, "torch": torch, "gymnasium": gymnasium, "pettingzoo": pettingzoo,
            "stable_baselines3": stable_baselines3, "sb3_contrib": sb3_contrib}
    return {"python": platform.python_version(), **{k: getattr(m, "__version__", "?") for k, m in mods.items()}}

