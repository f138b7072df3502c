"""Train SROLE agents with RLlib (Ray): the edge-cluster ParallelEnv, optionally behind a shield, on a
Ray instance (local) or an existing Ray cluster, and load the checkpoints back as SROLE policies.

Optional: needs the ``rllib`` extra (``pip install -e ".[rllib]"``); importing this module without Ray
works, calling its Ray functions raises ``ImportError`` with the install line.

What it sets up (tested with Ray 2.60, RLlib's *new API stack*: RLModule + Learner + EnvRunner +
ConnectorV2, the default since Ray 2.40; the old stack of Policy/ModelV2/RolloutWorker is not used):

* **Env.** ``make_rllib_env(config)`` builds ``EdgeClusterEnv(scenario, **overrides)``, wraps it in
  ``shields.make_shield(env, kind)`` when ``shield`` is not ``"none"``, flattens each agent's Dict
  observation into one Box ``[observation (D) ; action_mask (A)]`` (``srole_env.wrappers.FlattenMaskObs``)
  and hands it to RLlib's ``ParallelPettingZooEnv``. ``register_srole_env()`` registers that creator with Tune under
  ``ENV_NAME`` (``"srole_edge_cluster"``), so ``PPOConfig().environment(ENV_NAME, env_config=...)`` and
  ``tune.Tuner("PPO", param_space=config)`` work on every node.
* **Policy mappings.** ``"shared"``: one RLModule ``"shared"`` for every agent (parameter sharing,
  the usual choice, and the only one whose checkpoint runs on any cluster size); ``"per_agent"``: one
  RLModule per edge (``"edge_i"``), independent learners for a fixed N.
* **Action masking.** The mask travels at the end of the flat observation, so the network always sees
  it. ``action_masking="logits"`` (default) also uses ``MaskedPPOTorchRLModule``, RLlib's default PPO
  torch module with ``log(mask)`` added to the action logits in every forward pass (sampling, training,
  inference), so masked actions (legal but unsafe: the task fits nowhere there and overloads the edge)
  are never taken. ``action_masking="features"`` keeps RLlib's stock module: the policy may take masked
  actions and learns to avoid them from the overload penalty; ``load_rllib_policy`` still masks at
  evaluation by default.
* **Algorithm.** PPO (``ray.rllib.algorithms.ppo.PPOConfig``), trained through ``Algorithm.train()``;
  the checkpoint is ``Algorithm.save_to_path`` output, with ``run_config.json`` beside it.

Shields and RLlib: RLlib records the action its policy chose, while the env executes the shield's safe
action, so PPO learns from the chosen action with the outcome of the executed one (as any learner behind
an env-side shield does). The shield gets no preference scores from an RLlib policy during training and
falls back to its least-loaded alternative; at evaluation, ``RLlibPolicy.preferences`` provides them.

Loaded checkpoints (``load_rllib_policy``) follow the heuristics' interface:
``preferences(obs [N, D], mask [N, A]) -> [N, A]`` and ``act(obs, mask) -> [N]``, so they evaluate through
the same path as every other SROLE learner.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.learners.rllib.specs import ACTION_MASKING, POLICY_MAPPINGS, RLlibPPOConfig
from srole_common.names import RLLIB_RUN_CONFIG, SHIELDS
from srole_common.persist import atomic_write
from srole_env.edge_cluster import EdgeClusterEnv
from srole_env.wrappers import FlattenMaskObs, flatten_obs

try:  # Ray is optional: without it the module imports, and the Ray functions raise ImportError.
    import torch
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.torch_utils import FLOAT_MIN
except ImportError:  # pragma: no cover - depends on the environment
    DefaultPPOTorchRLModule = None

ENV_NAME = "srole_edge_cluster"
"""Name under which ``register_srole_env`` registers the env creator with Ray Tune."""
SHARED_POLICY = "shared"
RUN_CONFIG_FILE = RLLIB_RUN_CONFIG
CHECKPOINT_DIR = "checkpoint"
INSTALL_HINT = 'RLlib is not installed; install the extra with: pip install -e ".[rllib]"'


def _require_ray() -> None:
    if DefaultPPOTorchRLModule is None:
        raise ImportError(INSTALL_HINT)


# ---------------------------------------------------------------------------------------------- env
def make_shielded_env(scenario: str = "small", shield: str = "none", **overrides: Any):
    """``EdgeClusterEnv(scenario, **overrides)`` behind ``shields.make_shield(env, shield)`` (Dict obs)."""
    if shield not in SHIELDS:
        raise ValueError(f"shield must be one of {SHIELDS}, got {shield!r}")
    env = EdgeClusterEnv(scenario, **overrides)
    if shield == "none":
        return env
    try:
        from shields import make_shield
    except ImportError as err:
        raise ImportError(f"shield {shield!r} needs the shields package (shields.make_shield)") from err
    return make_shield(env, shield)


def make_rllib_env(env_config: Mapping[str, Any] | None = None):
    """RLlib env creator: ``env_config`` holds ``scenario``, ``shield`` and ``overrides`` (config fields)."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    env_config = dict(env_config or {})
    env = make_shielded_env(
        env_config.get("scenario", "small"), env_config.get("shield", "none"), **dict(env_config.get("overrides") or {})
    )
    return ParallelPettingZooEnv(FlattenMaskObs(env))


def register_srole_env(name: str = ENV_NAME) -> str:
    """Register ``make_rllib_env`` with Ray Tune under ``name`` and return the name."""
    _require_ray()
    from ray.tune.registry import register_env

    register_env(name, make_rllib_env)
    return name


# ---------------------------------------------------------------------------------------------- model
if DefaultPPOTorchRLModule is not None:

    class MaskedPPOTorchRLModule(DefaultPPOTorchRLModule):
        """RLlib's default PPO torch module, plus ``log(mask)`` on the action logits in every forward pass.

        The mask is the last ``A`` entries of the flat observation (``FlattenMaskObs``); masked actions
        get logit ~ ``FLOAT_MIN``, so they are never sampled, never the argmax and carry no probability
        in the PPO loss.
        """

        def _mask(self, batch: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
            mask = batch[Columns.OBS][..., -self.action_space.n :]
            logits = out[Columns.ACTION_DIST_INPUTS]
            out[Columns.ACTION_DIST_INPUTS] = logits + torch.clamp(torch.log(mask), min=FLOAT_MIN)
            return out

        def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            return self._mask(batch, super()._forward(batch, **kwargs))

        def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
            return self._mask(batch, super()._forward_train(batch, **kwargs))


# ---------------------------------------------------------------------------------------------- config
_PPO = RLlibPPOConfig()


@dataclass
class RLlibTrainConfig:
    """One RLlib training run. Written as ``run_config.json`` beside the checkpoint."""

    scenario: str = "small"
    """Scenario name (small, paper, large) or a .yaml/.json config file."""
    shield: str = "none"
    """``none``, ``central`` or ``decentralized`` (``shields.make_shield``)."""
    iterations: int = 10
    """``Algorithm.train()`` calls (each samples ``train_batch_size`` env steps, then updates)."""
    timesteps: int | None = None
    """If set, train until this many env steps (decision rounds) were sampled instead of ``iterations``."""
    num_env_runners: int = 1
    """Remote EnvRunner actors sampling in parallel (0: sample in the driver process)."""
    seed: int = 0
    out_dir: str = "runs/rllib"
    address: str | None = None
    """Existing Ray cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); None starts a local one."""
    # the learner's fields: their defaults are RLlibPPOConfig's (``srole train --backend rllib --hparam``), one source
    policy_mapping: str = _PPO.policy_mapping
    """``shared`` (one policy for every agent) or ``per_agent`` (one per edge)."""
    action_masking: str = _PPO.action_masking
    """``logits`` (masked-logit RLModule) or ``features`` (mask only as input features)."""
    train_batch_size: int = _PPO.train_batch_size
    """Env steps per training iteration (each env step is one decision round of all N agents)."""
    minibatch_size: int = _PPO.minibatch_size
    num_epochs: int = _PPO.num_epochs
    lr: float = _PPO.lr
    gamma: float = _PPO.gamma
    hidden: tuple[int, ...] = _PPO.hidden
    rollout_fragment_length: int | str = _PPO.rollout_fragment_length
    env_overrides: dict[str, Any] = field(default_factory=dict)
    """``ClusterConfig`` field overrides, e.g. ``{"horizon": 50}``."""
    num_cpus: int | None = _PPO.num_cpus
    """CPUs of the local Ray instance (ignored with ``address``); None lets Ray detect them."""

    def __post_init__(self) -> None:
        for name, allowed in (("shield", SHIELDS), ("policy_mapping", POLICY_MAPPINGS),
                              ("action_masking", ACTION_MASKING)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("iterations", "train_batch_size", "minibatch_size", "num_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        if not isinstance(self.num_env_runners, int) or self.num_env_runners < 0:
            raise ValueError(f"num_env_runners must be an int >= 0, got {self.num_env_runners!r}")
        if self.timesteps is not None and (not isinstance(self.timesteps, int) or self.timesteps < 1):
            raise ValueError(f"timesteps must be None or an int >= 1, got {self.timesteps!r}")
        self.hidden = tuple(self.hidden)

    def env_config(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "shield": self.shield, "overrides": dict(self.env_overrides)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_ppo_config(cfg: RLlibTrainConfig):
    """The ``PPOConfig`` of a run (new API stack, torch); ``.build_algo()`` or pass it to ``tune.Tuner``."""
    _require_ray()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    env_name = register_srole_env()
    n_edges = EdgeClusterEnv(cfg.scenario, **cfg.env_overrides).config.n_edges
    if cfg.policy_mapping == "shared":
        policies = [SHARED_POLICY]
        mapping_fn = _map_shared
    else:
        policies = [f"edge_{i}" for i in range(n_edges)]
        mapping_fn = _map_per_agent
    module_class = MaskedPPOTorchRLModule if cfg.action_masking == "logits" else None
    model_config = DefaultModelConfig(fcnet_hiddens=list(cfg.hidden), head_fcnet_hiddens=[])
    specs = {pid: RLModuleSpec(module_class=module_class, model_config=model_config) for pid in policies}
    return (
        PPOConfig()
        .framework("torch")
        .environment(env_name, env_config=cfg.env_config())
        .env_runners(num_env_runners=cfg.num_env_runners, rollout_fragment_length=cfg.rollout_fragment_length)
        .learners(num_learners=0)
        .multi_agent(policies=set(policies), policy_mapping_fn=mapping_fn)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(
            train_batch_size_per_learner=cfg.train_batch_size,
            minibatch_size=cfg.minibatch_size,
            num_epochs=cfg.num_epochs,
            lr=cfg.lr,
            gamma=cfg.gamma,
        )
        .debugging(seed=cfg.seed)
    )


def _map_shared(agent_id: str, *args: Any, **kwargs: Any) -> str:
    return SHARED_POLICY


def _map_per_agent(agent_id: str, *args: Any, **kwargs: Any) -> str:
    return agent_id


# ---------------------------------------------------------------------------------------------- train
def train(cfg: RLlibTrainConfig, verbose: bool = True) -> Path:
    """Train PPO as ``cfg`` says; returns the checkpoint directory (``out_dir/checkpoint``).

    Uses the running Ray instance if there is one, else connects to ``cfg.address`` or starts a local
    instance (and shuts down what it started). Writes ``out_dir/run_config.json`` (the config, Ray
    version, per-iteration figures and wall time).
    """
    _require_ray()
    import ray
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        ENV_RUNNER_SAMPLING_TIMER,
        EPISODE_RETURN_MEAN,
        LEARNER_UPDATE_TIMER,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
        TIMERS,
    )

    out = Path(cfg.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = False
    if not ray.is_initialized():
        if cfg.address:
            ray.init(address=cfg.address)
        else:
            # address="local": always a new Ray of our own; a bare ray.init() joins any cluster already running
            # on the host (RAY_ADDRESS, or a `ray start` someone else left) and runs there (docs/rllib.md)
            ray.init(address="local", num_cpus=cfg.num_cpus, include_dashboard=False)
        started = True
    history: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        algo = build_ppo_config(cfg).build_algo()
        try:
            steps, it = 0, 0
            while (steps < cfg.timesteps) if cfg.timesteps is not None else (it < cfg.iterations):
                result = algo.train()
                it += 1
                runners = result.get(ENV_RUNNER_RESULTS, {})
                steps = int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, steps))
                ret = runners.get(EPISODE_RETURN_MEAN)
                timers = result.get(TIMERS, {})
                row = {"iteration": it, "env_steps": steps, "episode_return_mean": _num(ret),
                       "sample_s": _num(timers.get(ENV_RUNNER_SAMPLING_TIMER)),
                       "learn_s": _num(timers.get(LEARNER_UPDATE_TIMER)),
                       "time_s": round(time.perf_counter() - t0, 3)}
                history.append(row)
                if verbose:
                    print(f"iter {it:4d}  env steps {steps:8d}  return {row['episode_return_mean']}  "
                          f"{row['time_s']:.1f}s", flush=True)
            ckpt = Path(algo.save_to_path(str(out / CHECKPOINT_DIR)))
        finally:
            algo.stop()
    finally:
        wall = time.perf_counter() - t0
        if started:
            ray.shutdown()
    run = {"config": cfg.to_dict(), "algorithm": "PPO", "api_stack": "new (RLModule/Learner/EnvRunner)",
           "ray_version": ray.__version__, "checkpoint": str(ckpt), "wall_time_s": round(wall, 3),
           "history": history}
    atomic_write(out / RUN_CONFIG_FILE, json.dumps(run, indent=2, default=str))
    return ckpt


def train_rllib(
    scenario: str = "small",
    shield: str = "none",
    iterations: int = 10,
    num_env_runners: int = 1,
    seed: int = 0,
    out_dir: str | Path = "runs/rllib",
    address: str | None = None,
    policy_mapping: str = "shared",
    *,
    timesteps: int | None = None,
    verbose: bool = True,
    **options: Any,
) -> Path:
    """Train PPO on ``scenario`` behind ``shield``; returns the checkpoint directory.

    Runs ``iterations`` training iterations, or until ``timesteps`` env steps when that is given.
    ``options`` are further ``RLlibTrainConfig`` fields (``train_batch_size``, ``env_overrides``, ...).
    """
    cfg = RLlibTrainConfig(
        scenario=scenario, shield=shield, iterations=iterations, timesteps=timesteps,
        num_env_runners=num_env_runners, seed=seed, out_dir=str(out_dir), address=address,
        policy_mapping=policy_mapping, **options,
    )
    return train(cfg, verbose=verbose)


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------------------------------------- policy
class RLlibPolicy:
    """A trained RLlib checkpoint as a SROLE policy (same interface as ``agents.baselines.heuristics``).

    ``preferences(obs [N, D], mask [N, A]) -> logits [N, A]`` (masked actions at ``-inf`` when
    ``respect_mask``), ``act(obs, mask) -> [N]`` = argmax of the preferences. With the ``shared`` mapping
    it runs on any N; with ``per_agent`` row i uses module ``edge_i``.
    """

    name = "rllib"
    env_kind = "parallel"

    def __init__(self, multi_module, respect_mask: bool = True, run_config: dict[str, Any] | None = None):
        self.module = multi_module
        self.module_ids = sorted(multi_module.keys())
        self.shared = SHARED_POLICY in self.module_ids
        self.respect_mask = respect_mask
        self.run_config = run_config or {}

    def logits(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw action logits [N, A] of the RLModule(s)."""
        flat = torch.from_numpy(flatten_obs(obs, mask))
        with torch.no_grad():
            if self.shared:
                out = self.module[SHARED_POLICY].forward_inference({Columns.OBS: flat})
                return out[Columns.ACTION_DIST_INPUTS].numpy().astype(np.float64)
            rows = []
            for i in range(flat.shape[0]):
                mid = f"edge_{i}"
                if mid not in self.module:
                    raise ValueError(f"per-agent checkpoint has no module {mid!r} ({len(self.module_ids)} modules)")
                out = self.module[mid].forward_inference({Columns.OBS: flat[i : i + 1]})
                rows.append(out[Columns.ACTION_DIST_INPUTS])
            return torch.cat(rows).numpy().astype(np.float64)

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        scores = self.logits(obs, mask)
        if self.respect_mask:
            scores = np.where(np.asarray(mask) > 0, scores, -np.inf)
        return scores

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Best action of every agent [N] (never a masked one when ``respect_mask``)."""
        return np.argmax(self.preferences(obs, mask), axis=1)

    def reset(self) -> None:
        """Stateless (feed-forward modules)."""


def load_rllib_policy(checkpoint_dir: str | Path, respect_mask: bool = True) -> RLlibPolicy:
    """Load the RLModules of an ``Algorithm.save_to_path`` checkpoint (no Ray instance needed)."""
    _require_ray()
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE
    from ray.rllib.core.rl_module.rl_module import RLModule

    checkpoint_dir = Path(checkpoint_dir).resolve()
    module_dir = checkpoint_dir / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE
    if not module_dir.is_dir():
        raise FileNotFoundError(f"{checkpoint_dir} is not an RLlib algorithm checkpoint (no {module_dir})")
    multi = RLModule.from_checkpoint(module_dir)
    run_file = checkpoint_dir.parent / RUN_CONFIG_FILE
    run_config = json.loads(run_file.read_text()) if run_file.is_file() else None
    return RLlibPolicy(multi, respect_mask=respect_mask, run_config=run_config)
