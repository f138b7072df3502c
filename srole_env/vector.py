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
- ``step_arrays(actions [K, N])`` is the fast path: ``(obs [K, N, D], mask [K, N, A], rewards [K, N],
  terminations [K], truncations [K], infos)``, no dicts built for the observation.

**Not vectorised across episodes.** Inside ``step`` the K sub-envs' simulators are stepped one after another
(a Python loop over K; each round within a sub-env is array code over its edges, never a loop over edges); the
outputs are written into preallocated [K, ...] arrays. So K episodes cost about K single-env rounds: this class
removes the per-agent dict overhead and gives learners K episodes' experience per call, but it does not make the
simulation itself faster per agent-step. Physics vectorised across the K episodes (one simulator over K blocks of
N edges) is what would. ``scripts/bench/bench_batched_env.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from srole_env.actions import as_seed
from srole_env.config import ClusterConfig
from srole_env.core.simulator import ClusterSimulator
from srole_env.edge_cluster import INFO_DEFAULTS, EdgeClusterEnv, flatten_obs

AGENT_INFO_KEYS = ("placed", "target", "caused_overload", "collided")
"""Per-agent info keys, each an array [K, N] in the batched infos."""
ROUND_INFO_KEYS = tuple(k for k in INFO_DEFAULTS if k.startswith("round_"))
"""Per-round info keys (the same for every agent of a sub-env), each an array [K]."""


class BatchedEdgeClusterEnv(VectorEnv):
    """K independent episodes of the N-agent edge cluster stepped in one call (see module docstring).

    A ``gymnasium.vector.VectorEnv`` whose rewards are per agent ([K, N] rather than [K]): Gymnasium's vector
    wrappers that assume one reward per sub-env do not apply.
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
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.envs = [EdgeClusterEnv(scenario, obs_format=obs_format, simulator=simulator, **overrides)
                     for _ in range(self.num_envs)]
        first = self.envs[0]
        self.config = first.config
        self.obs_format = obs_format
        self.n_agents = self.config.n_edges
        self.obs_dim = first.sim.obs_dim
        self.n_actions = first.sim.n_actions
        self.hold_action = first.sim.hold_action
        k, n, d, a = self.num_envs, self.n_agents, self.obs_dim, self.n_actions
        agent_space = first.observation_spaces[first.possible_agents[0]]
        self.single_observation_space = batch_space(agent_space, n)
        self.single_action_space = spaces.MultiDiscrete(np.full(n, a, dtype=np.int64))
        self.observation_space = batch_space(self.single_observation_space, k)
        self.action_space = spaces.MultiDiscrete(np.full((k, n), a, dtype=np.int64))
        self.obs = np.zeros((k, n, d), dtype=np.float32)
        self.mask = np.zeros((k, n, a), dtype=np.int8)
        self._rewards = np.zeros((k, n))
        self._terminated = np.zeros(k, dtype=bool)
        self._truncated = np.zeros(k, dtype=bool)
        self._needs_reset = np.zeros(k, dtype=bool)  # NEXT_STEP: reset these sub-envs on the next step
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
        infos = self._empty_infos()
        for k in np.flatnonzero(which):
            self._reset_one(int(k), seeds[k])
        self._needs_reset[which] = False
        self._started = True
        infos["action_mask"] = self.mask.copy()
        return self._observation(self.obs.copy(), self.mask.copy()), infos

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
        truncations [K], infos); the arrays returned are copies the caller may keep."""
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, self.n_agents) or actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs}, {self.n_agents}), "
                             f"got {actions.dtype} {actions.shape}")
        mode = self.autoreset_mode
        infos = self._empty_infos()
        self._rewards[:] = 0.0
        self._terminated[:] = False
        self._truncated[:] = False
        done_now = np.zeros(self.num_envs, dtype=bool)
        final: dict[str, Any] = {}
        for k, env in enumerate(self.envs):
            if self._needs_reset[k]:  # NEXT_STEP: this step restarts sub-env k; its action is ignored
                self._reset_one(k, None)
                self._needs_reset[k] = False
                continue
            if mode is AutoresetMode.DISABLED and not env.agents:
                raise RuntimeError(f"sub-env {k} finished its episode and autoreset_mode is DISABLED; "
                                   "reset it with options={'reset_mask': ...}")
            obs, mask, rewards, terminated, truncated, result = env.step_arrays(actions[k])
            self.obs[k], self.mask[k], self._rewards[k] = obs, mask, rewards
            self._terminated[k], self._truncated[k] = terminated, truncated
            _fill_infos(infos, k, result)
            if terminated or truncated:
                env.agents = []
                done_now[k] = True
                metrics = env.metrics()
                if not final:
                    final = {key: np.full(self.num_envs, np.nan) for key in metrics}
                for key, value in metrics.items():
                    if key in final:
                        final[key][k] = value
                if mode is AutoresetMode.NEXT_STEP:
                    self._needs_reset[k] = True
        if final:
            infos["final_metrics"], infos["_final_metrics"] = final, done_now.copy()
        if mode is AutoresetMode.SAME_STEP and done_now.any():
            infos["final_obs"], infos["final_mask"] = self.obs.copy(), self.mask.copy()
            infos["_final_obs"] = done_now.copy()
            infos["final_info"] = {key: value.copy() for key, value in infos.items() if not key.startswith(
                ("final", "_final"))}
            infos["_final_info"] = done_now.copy()
            for k in np.flatnonzero(done_now):
                self._reset_one(int(k), None)
                for key in AGENT_INFO_KEYS + ROUND_INFO_KEYS:  # the reset observation's infos are the defaults
                    infos[key][k] = INFO_DEFAULTS[key]
        infos["action_mask"] = self.mask.copy()
        return (self.obs.copy(), self.mask.copy(), self._rewards.copy(), self._terminated.copy(),
                self._truncated.copy(), infos)

    def metrics(self) -> list[dict[str, float]]:
        """Each sub-env's episode figures so far (``EdgeClusterEnv.metrics``), in sub-env order."""
        return [env.metrics() for env in self.envs]

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

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

    def _reset_one(self, k: int, seed: int | None) -> None:
        env = self.envs[k]
        env.reset(seed=seed)
        self.obs[k], self.mask[k] = env.sim.observe(), env.sim.action_mask()

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


def _fill_infos(infos: dict[str, Any], k: int, result: Any) -> None:
    """Write sub-env ``k``'s round ``result`` (a ``RoundResult``) into the batched ``infos``."""
    infos["placed"][k] = result.placed
    infos["target"][k] = result.targets
    infos["caused_overload"][k] = result.caused_overload
    infos["collided"][k] = result.collided
    infos["round_collisions"][k] = result.collisions
    infos["round_overloaded_edges"][k] = result.overloaded_edges
    infos["round_jobs_completed"][k] = result.jobs_completed
    infos["round_decision_latency_s"][k] = result.decision_latency_s
    infos["round_oom_kills"][k] = result.oom_kills
    infos["round_work_lost_s"][k] = result.work_lost_s


def batched_env(num_envs: int, scenario: str | ClusterConfig | None = "small", **kwargs: Any) -> BatchedEdgeClusterEnv:
    """``BatchedEdgeClusterEnv(num_envs, scenario, **kwargs)`` (see module docstring)."""
    return BatchedEdgeClusterEnv(num_envs, scenario, **kwargs)
