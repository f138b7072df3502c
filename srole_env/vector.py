"""Batched edge cluster: K independent episodes x N agents stepped in one call, arrays in and out.

``BatchedEdgeClusterEnv(num_envs=K, scenario, autoreset_mode=..., **overrides)`` follows Gymnasium's vector
conventions (``gymnasium.vector.VectorEnv``) for a multi-agent env:

- ``reset(seed=None | int | list, options=None)`` -> ``(obs, infos)``: an int seeds sub-env k with ``seed + k``
  (as ``SyncVectorEnv`` does), a list gives each its own seed (None = continue its generator); each sub-env is
  reset exactly as ``parallel_env(...).reset(seed=s)`` would be. ``options={"reset_mask": bool [K]}`` resets only
  those sub-envs.
- ``step(actions [K, N])`` -> ``(obs, rewards [K, N], terminations [K], truncations [K], infos)``.
  ``obs`` is the single env's space batched: ``obs_format="dict"`` gives ``{"observation": [K, N, D],
  "action_mask": [K, N, A]}``, ``"flat"`` gives [K, N, D + A] (mask last). Episodes end by truncation at the
  horizon; terminations are always False (as in the single env).
- ``infos`` hold arrays only: ``action_mask`` [K, N, A], ``placed``, ``target``, ``caused_overload``,
  ``collided`` [K, N], the ``round_*`` figures [K]; when sub-envs finish an episode, ``final_metrics`` (a dict of
  [K] float arrays, NaN elsewhere) with the mask ``_final_metrics`` [K], the finished episodes' ``metrics()``.
- ``autoreset_mode`` (``metadata["autoreset_mode"]``): ``NEXT_STEP`` (default, Gymnasium's default) returns the
  final observation on the step that ends an episode, and the *next* step resets that sub-env (its action is
  ignored; reward 0, not done); ``SAME_STEP`` resets at once and returns the reset observation, the final one in
  ``infos["final_obs"]`` (same layout as ``obs``) and its infos in ``infos["final_info"]``, masked by
  ``_final_obs`` / ``_final_info`` [K]; ``DISABLED`` never resets (stepping a finished sub-env raises).
  An auto-reset draws the next episode from the sub-env's own generator (``reset()`` without a seed), so sub-env
  k's sequence of episodes is that of one env reset once with its seed and then ``reset()`` after each episode.
- ``metrics()`` gives each sub-env's ``metrics()`` (a list of K dicts), ``job_times(k)`` sub-env k's
  ``job_times()``.
- ``step_arrays(actions [K, N])`` is the fast path: ``(obs [K, N, D], mask [K, N, A], rewards [K, N],
  terminations [K], truncations [K], infos)``, no dicts built for the observation.

**Vectorised across episodes.** The K sub-envs are K blocks of N edges of one simulator
(``srole_env.core.batch.BatchedClusterSimulator``): a call runs the simulator's round once over K x N edges
(the single env's physics and observation code, the network block-diagonal so the episodes never exchange work),
with each block's arrivals drawn from its own generator and its figures kept in its own ledger. Sub-env k is,
bit for bit, the single env reset with its seed (``tests/test_batched_env.py``).
``scripts/bench/bench_batched_env.py`` measures agent-steps/s against one env's ``step_arrays``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from srole_env.actions import as_seed
from srole_env.config import ClusterConfig
from srole_env.core.batch import BatchedClusterSimulator
from srole_env.core.simulator import ClusterSimulator
from srole_env.edge_cluster import INFO_DEFAULTS, EdgeClusterEnv, flatten_obs

AGENT_INFO_KEYS = ("placed", "target", "caused_overload", "collided")
"""Per-agent info keys, each an array [K, N] in the batched infos."""
ROUND_INFO_KEYS = tuple(k for k in INFO_DEFAULTS if k.startswith("round_"))
"""Per-round info keys (the same for every agent of a sub-env), each an array [K]."""


class BatchedEdgeClusterEnv(VectorEnv):
    """K independent episodes of the N-agent edge cluster stepped in one call (see module docstring).

    A ``gymnasium.vector.VectorEnv`` whose rewards are per agent ([K, N] rather than [K]): Gymnasium's vector
    wrappers that assume one reward per sub-env do not apply. ``simulator`` must be None: the batch runs the
    simulator's own physics (``srole_env.core.batch``); a custom simulator (the emulator's) steps one env.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "name": "edge_cluster_batched_v0"}

    def __init__(self, num_envs: int, scenario: str | ClusterConfig | None = "small", obs_format: str = "dict",
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 simulator: Callable[[ClusterConfig], ClusterSimulator] | None = None, **overrides: Any):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(f"autoreset_mode must be one of {[m.value for m in AutoresetMode]}, "
                             f"got {autoreset_mode!r}") from None
        if simulator is not None:
            raise ValueError("simulator: the batched env runs the simulator's own physics over K blocks; "
                             "step a custom simulator (e.g. the emulator's) through one EdgeClusterEnv")
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        template = EdgeClusterEnv(scenario, obs_format=obs_format, **overrides)  # the single env: config, spaces
        self.config = template.config
        self.obs_format = obs_format
        self.n_agents = self.config.n_edges
        self.obs_dim = template.sim.obs_dim
        self.n_actions = template.sim.n_actions
        self.hold_action = template.sim.hold_action
        self.sim = BatchedClusterSimulator(self.config, self.num_envs)
        k, n, a = self.num_envs, self.n_agents, self.n_actions
        agent_space = template.observation_spaces[template.possible_agents[0]]
        self.single_observation_space = batch_space(agent_space, n)
        self.single_action_space = spaces.MultiDiscrete(np.full(n, a, dtype=np.int64))
        self.observation_space = batch_space(self.single_observation_space, k)
        self.action_space = spaces.MultiDiscrete(np.full((k, n), a, dtype=np.int64))
        self._rngs: list[np.random.Generator | None] = [None] * k
        self._needs_reset = np.zeros(k, dtype=bool)  # NEXT_STEP: reset these sub-envs on the next step
        self._finished = np.zeros(k, dtype=bool)  # DISABLED: sub-envs whose episode ended
        self._started = False

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | Sequence[int | None] | None = None,
              options: dict | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env (or those in ``options["reset_mask"]``); seeds as in the module docstring."""
        seeds = self._seeds(seed)
        which = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:
            which = np.asarray(options["reset_mask"])
            if which.shape != (self.num_envs,) or which.dtype != bool:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                                 f"got {which.dtype} {which.shape}")
            if not self._started and not which.all():
                raise ValueError("options['reset_mask'] must select every sub-env on the first reset")
        self._reset_blocks(np.flatnonzero(which), [seeds[k] for k in np.flatnonzero(which)])
        self._needs_reset[which] = False
        self._finished[which] = False
        self._started = True
        obs, mask = self._state()
        infos = self._empty_infos()
        infos["action_mask"] = mask.copy()
        return self._observation(obs, mask), infos

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One round of every sub-env: actions [K, N] -> (obs, rewards [K, N], terminations [K], truncations [K],
        infos)."""
        obs, mask, rewards, terminated, truncated, infos = self.step_arrays(actions)
        if "final_obs" in infos:
            infos["final_obs"] = self._observation(infos["final_obs"], infos.pop("final_mask"))
        return self._observation(obs, mask), rewards, terminated, truncated, infos

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                        dict[str, Any]]:
        """Fast path: actions [K, N] -> (obs [K, N, D], mask [K, N, A], rewards [K, N], terminations [K],
        truncations [K], infos); the arrays returned are the caller's to keep."""
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = np.asarray(actions)
        k, n = self.num_envs, self.n_agents
        if actions.shape != (k, n) or actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({k}, {n}), "
                             f"got {actions.dtype} {actions.shape}")
        bad = (actions < 0) | (actions >= self.n_actions)
        if bad.any():
            e, i = np.argwhere(bad)[0]
            raise ValueError(f"action {actions[e, i]} of edge_{i} in sub-env {e} is out of range "
                             f"0..{self.n_actions - 1}")
        mode = self.autoreset_mode
        if mode is AutoresetMode.DISABLED and self._finished.any():
            raise RuntimeError(f"sub-env {int(np.flatnonzero(self._finished)[0])} finished its episode and "
                               "autoreset_mode is DISABLED; reset it with options={'reset_mask': ...}")
        infos = self._empty_infos()
        rewards = np.zeros((k, n))
        terminated = np.zeros(k, dtype=bool)
        truncated = np.zeros(k, dtype=bool)
        restart = self._needs_reset.copy()  # NEXT_STEP: these sub-envs restart on this step; their actions are ignored
        sim = self.sim
        if not restart.all():
            sim.active = ~restart
            joint = np.where(restart[:, None], self.hold_action, actions).reshape(-1)
            result = sim.step(joint)
            rewards = result.rewards.reshape(k, n)
            rewards[restart] = 0.0
            self._fill_infos(infos, result, ~restart)
            truncated = ~restart & (sim.block_round >= self.config.horizon)
        if truncated.any():
            done = np.flatnonzero(truncated)
            final: dict[str, np.ndarray] = {}
            for b, figures in zip(done.tolist(), sim.metrics_of(done)):
                for key, value in figures.items():
                    final.setdefault(key, np.full(k, np.nan))[b] = value
            infos["final_metrics"], infos["_final_metrics"] = final, truncated.copy()
        if restart.any():
            self._reset_blocks(np.flatnonzero(restart), [None] * int(restart.sum()))
            self._needs_reset[restart] = False
        if mode is AutoresetMode.NEXT_STEP:
            self._needs_reset |= truncated
        elif mode is AutoresetMode.DISABLED:
            self._finished |= truncated
        obs, mask = self._state()
        if mode is AutoresetMode.SAME_STEP and truncated.any():
            infos["final_obs"], infos["final_mask"] = obs, mask
            infos["_final_obs"] = truncated.copy()
            infos["final_info"] = {key: value.copy() for key, value in infos.items() if not key.startswith(
                ("final", "_final"))}
            infos["_final_info"] = truncated.copy()
            self._reset_blocks(np.flatnonzero(truncated), [None] * int(truncated.sum()))
            for key in AGENT_INFO_KEYS + ROUND_INFO_KEYS:  # the reset observation's infos are the defaults
                infos[key][truncated] = INFO_DEFAULTS[key]
            obs, mask = self._state()
        infos["action_mask"] = mask.copy()
        return obs, mask, rewards, terminated, truncated, infos

    def metrics(self) -> list[dict[str, float]]:
        """Each sub-env's episode figures so far (``EdgeClusterEnv.metrics``), in sub-env order."""
        return self.sim.metrics_of(range(self.num_envs))

    def job_times(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sub-env ``index``'s ``job_times()`` (``ClusterSimulator.job_times``) of its episode so far."""
        return self.sim.job_times_of(int(index))

    def close_extras(self, **kwargs: Any) -> None:
        pass

    # ------------------------------------------------------------------ helpers
    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            base = as_seed(int(seed))
            return [base + k for k in range(self.num_envs)]
        if isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != self.num_envs:
                raise ValueError(f"seed: a list of seeds needs one per sub-env ({self.num_envs}), got {len(seed)}")
            return [None if s is None else as_seed(int(s)) for s in seed]
        raise TypeError(f"seed must be None, an int or a list of {self.num_envs} ints, got {type(seed).__name__}")

    def _reset_blocks(self, blocks: np.ndarray, seeds: list[int | None]) -> None:
        """Start sub-envs ``blocks`` as ``EdgeClusterEnv.reset(seed=s)`` would: a seed makes a new generator,
        None continues the sub-env's own."""
        if not len(blocks):
            return
        for b, seed in zip(blocks.tolist(), seeds):
            if seed is not None or self._rngs[b] is None:
                self._rngs[b], _ = seeding.np_random(seed)
        self.sim.reset_blocks(blocks, [self._rngs[b] for b in blocks.tolist()])

    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        k, n = self.num_envs, self.n_agents
        return self.sim.observe().reshape(k, n, -1), self.sim.action_mask().reshape(k, n, -1)

    def _fill_infos(self, infos: dict[str, Any], result: Any, active: np.ndarray) -> None:
        """The round's ``result`` (a ``RoundResult`` over K x N edges) into the batched ``infos``, for ``active``
        sub-envs (the others keep the defaults)."""
        k, n = self.num_envs, self.n_agents
        targets = result.targets.reshape(k, n)
        local = np.where(targets >= 0, targets - (np.arange(k) * n)[:, None], -1)
        for key, value in (("placed", result.placed), ("target", local), ("caused_overload", result.caused_overload),
                           ("collided", result.collided)):
            infos[key][active] = value.reshape(k, n)[active]
        for key, value in self.sim.round_figures.items():
            infos[f"round_{key}"][active] = value[active]

    def _empty_infos(self) -> dict[str, Any]:
        k, n = self.num_envs, self.n_agents
        infos: dict[str, Any] = {}
        for key in AGENT_INFO_KEYS:
            default = INFO_DEFAULTS[key]
            infos[key] = np.full((k, n), default, dtype=type(default))
        for key in ROUND_INFO_KEYS:
            default = INFO_DEFAULTS[key]
            infos[key] = np.full(k, default, dtype=type(default))
        return infos

    def _observation(self, obs: np.ndarray, mask: np.ndarray) -> Any:
        if self.obs_format == "flat":
            return flatten_obs(obs, mask)
        return {"observation": obs, "action_mask": mask}


def batched_env(num_envs: int, scenario: str | ClusterConfig | None = "small", **kwargs: Any) -> BatchedEdgeClusterEnv:
    """``BatchedEdgeClusterEnv(num_envs, scenario, **kwargs)`` (see module docstring)."""
    return BatchedEdgeClusterEnv(num_envs, scenario, **kwargs)
