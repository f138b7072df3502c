"""Load any scheduler by name or run directory as a ``Policy`` (``preferences``/``act``/``reset``).

Run directories are those of ``srole train`` (``config.json`` + ``checkpoint/``) and those of
``scripts/experiments/train_rllib.py`` (``run_config.json`` + an RLlib ``checkpoint/``), so ``srole evaluate``
takes both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.baselines.crl_greedy import EarliestFinishHead
from agents.baselines.heuristics import HEURISTICS, make_heuristic
from agents.common.policy import Policy
from agents.common.run_dir import CONFIG_FILE, load_run
from agents.harness.registry import LEARNERS
from srole_common.names import CENTRAL_HEURISTIC_NAMES, RLLIB_RUN_CONFIG
from srole_env import ClusterConfig


def load_policy(policy: str | Path | Policy, device: str = "cpu", seed: int = 0) -> tuple[Policy, dict[str, Any]]:
    """``(policy, meta)`` from a heuristic name (``crl_greedy``: the earliest-finish cluster head on the
    centralized env), a run directory or a policy object.

    ``meta`` describes where it came from: ``name``, ``env_kind`` (``parallel`` or ``centralized``) and, for
    a run directory, the run's ``config.json`` (``algo``, ``shield``, ``cluster``, ...). ``seed`` seeds a
    heuristic's own randomness (``random``).
    """
    if not isinstance(policy, (str, Path)):
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a heuristic name, a run directory or a Policy, got {policy!r}")
        return policy, {"name": getattr(policy, "name", type(policy).__name__),
                        "env_kind": getattr(policy, "env_kind", "parallel")}
    if isinstance(policy, str) and policy in HEURISTICS:
        return make_heuristic(policy, seed), {"name": policy, "env_kind": "parallel"}
    if isinstance(policy, str) and policy in CENTRAL_HEURISTIC_NAMES:
        return EarliestFinishHead(), {"name": policy, "env_kind": "centralized"}
    path = Path(policy)
    if not path.exists():
        known = ", ".join(HEURISTICS + CENTRAL_HEURISTIC_NAMES)
        raise FileNotFoundError(f"policy: {str(policy)!r} is neither a heuristic ({known}) nor a run directory; an "
                                "import path package.module:factory or an SB3 .zip resolves with "
                                "study.benchmark.policy_spec.resolve (as srole evaluate and srole score do)")
    if _is_rllib_run(path):
        return _load_rllib_run(path)
    run, saved, _ = load_run(path)
    algo = saved.get("algo")
    if algo not in LEARNERS:
        raise ValueError(f"policy: run {str(path)!r} was trained with unknown algo {algo!r}")
    loaded = LEARNERS[algo].load_policy(run.checkpoint, device)
    meta = {**saved, "name": path.name, "env_kind": LEARNERS[algo].env_kind, "run_dir": str(path)}
    return loaded, meta


def check_fits(meta: dict[str, Any], config: ClusterConfig) -> None:
    """``ValueError`` when a trained run's observation/action sizes differ from those of ``config``'s cluster."""
    if "run_dir" not in meta or not isinstance(meta.get("cluster"), dict):
        return
    trained = ClusterConfig.from_dict(meta["cluster"])
    if (trained.n_candidates, trained.n_actions) != (config.n_candidates, config.n_actions):
        raise ValueError(
            f"config: run {meta['run_dir']!r} was trained with {trained.n_candidates} candidate edges per agent "
            f"(n_neighbors={trained.n_neighbors}, {trained.n_actions} actions), so its observation size differs "
            f"from this cluster's ({config.n_candidates} candidates, n_neighbors={config.n_neighbors}, "
            f"n_edges={config.n_edges}); evaluate it on a cluster with the same candidate count"
        )


def run_cluster(path: str | Path) -> dict[str, Any]:
    """The training cluster (a dict of config fields) of a run directory of either kind, without its model."""
    path = Path(path)
    if _is_rllib_run(path):
        return _rllib_cluster(_rllib_run_config(path))
    _, saved, _ = load_run(path)
    return saved["cluster"]


def _is_rllib_run(path: Path) -> bool:
    return (path / RLLIB_RUN_CONFIG).is_file() and not (path / CONFIG_FILE).is_file()


def _rllib_run_config(path: Path) -> dict[str, Any]:
    return json.loads((path / RLLIB_RUN_CONFIG).read_text()).get("config", {})


def _rllib_cluster(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"scenario": cfg.get("scenario", "small"), **cfg.get("env_overrides", {})}


def _load_rllib_run(path: Path) -> tuple[Policy, dict[str, Any]]:
    """An RLlib run directory as a policy; its meta carries the run's shield and cluster like ``srole train``'s."""
    from agents.learners.rllib.adapter import CHECKPOINT_DIR, load_rllib_policy

    cfg = _rllib_run_config(path)
    policy = load_rllib_policy(path / CHECKPOINT_DIR)
    meta = {"name": path.name, "env_kind": "parallel", "algo": "rllib_ppo", "shield": cfg.get("shield", "none"),
            "cluster": _rllib_cluster(cfg), "scenario": cfg.get("scenario"), "run_dir": str(path)}
    return policy, meta
