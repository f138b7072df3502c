"""Edge cluster: one RL agent per edge device schedules its own DL-training tasks (PettingZoo, parallel).

| | |
|---|---|
| Import | `from srole_env import edge_cluster_v0` |
| Actions | Discrete |
| Parallel API | Yes |
| Agents | `agents = ["edge_0", ..., "edge_{N-1}"]` |
| Agents count | N = `n_edges` (10 in `small`, 50 in `paper`, 1000 in `large`) |
| Action shape | (1,) |
| Action values | Discrete(C + 1): 0 = run on itself, 1..C-1 = its C-1 nearest edges, C = hold |
| Observation shape | Dict(`observation`: (6 + 6C,), `action_mask`: (C + 1,)); `obs_format="flat"`: Box (7 + 7C,) |
| Observation values | `observation` in [0, 10] (float32), `action_mask` in {0, 1} (int8); flat: float32 |

Every step is one decision round of `round_s` simulated seconds. Each edge's agent decides where its
head-of-queue pending task (one data-parallel worker of a DL training job) goes: itself, one of its
nearest neighbours, or hold. C = 1 + min(`n_neighbors`, N - 1) candidates.

### Observations
`observation`: own features [has a pending task, queue length / `queue_norm`, head task memory (GB),
log10 of its FLOPs / 15, its job's workers / max workers, its wait in units of 10 rounds], then for each
candidate [compute utilisation, memory utilisation, log10 FLOP/s of one worker alone there / 10 (a core of a
CPU device, the whole GPU of a Jetson), log1p(shard transfer time) / 5, log1p(estimated compute time at the
speed it would get there now, `srole_env.core.contention`) / 10, the task fits without overload].
`action_mask` marks the candidates the task fits on alone and `hold` (always 1).
With `obs_format="flat"` each agent's observation is one float32 Box `[observation (D) ; action_mask (A)]`:
the mask is always the **last A = C + 1 entries** (`srole_env.wrappers.split_obs` takes it apart), the
format that SB3's `MlpPolicy`, SuperSuit's vector envs and RLlib's default encoders take. Masked actions are
legal, just unsafe: the task is placed and the edge overloads. Several agents' individually safe actions
can still overload an edge together: that is an action collision, which the shields in `shields/` remove.

### Rewards
Per agent: `reward_progress` x the fraction of its own jobs' work done this round, minus
`reward_wait` per unfinished job of its own (the sum over time is its jobs' total JCT), minus
`reward_overload` if its task landed on an edge overloaded after the round's placements.

### Arguments
`parallel_env(scenario="small", render_mode=None, obs_format="dict", action_mask_in_info=False, **overrides)`:
`scenario` is `small`, `paper`, `large`, a `.yaml`/`.json` file or a `ClusterConfig`; `obs_format` is
`"dict"` (default) or `"flat"` (above); `action_mask_in_info=True` also puts each agent's mask (int8 [A])
in `infos[agent]["action_mask"]` after `reset()` and every `step()` (opt-in: the default infos hold
scalars only, see below); `simulator` (`EdgeClusterEnv` only) builds the env's simulator from its config
(default `ClusterSimulator`; e.g. one with another physics, `srole_env.core.physics`, as the emulator's);
`overrides` are `ClusterConfig` fields (see `srole_env.config`), e.g.
`n_edges=50`, `arrival_rate=0.004`, `horizon=100`. `max_cycles` is accepted as an alias of `horizon`
(PettingZoo's name for it). Episodes end only by truncation at the horizon (`terminated` is always False).

### Infos and metrics
`infos[agent]` holds scalars only, with the same keys after `reset()` and `step()` (`INFO_DEFAULTS`), so
libraries that build an info spec from the reset infos (TorchRL) carry every step's: `placed`, `target`
(edge index or -1), `caused_overload`, `collided`, and the round's cluster figures `round_collisions`,
`round_overloaded_edges`, `round_jobs_completed`, `round_decision_latency_s`, `round_oom_kills`,
`round_work_lost_s` (the same for all agents).
The JCTs of the jobs completed this round (a list of any length) are in `env.unwrapped.last_round`, and
`env.unwrapped.metrics()` returns the episode's figures.

### Rendering
`render_mode="ansi"` returns a text table; `"rgb_array"` an H x W x 3 uint8 frame of the cluster map
(`srole_env.render`, matplotlib imported only then); `"human"` shows that frame in a window.
`render()` ignores a positional mode (RLlib's wrapper calls `render(mode)`); the mode is set at construction.

### Fast path
`step_arrays(actions[N])` steps with an integer array and returns arrays, skipping the dicts.

### Round state (for wrappers)
A wrapper in front of the env (the shields in `shields/`) reads `round_state()` (candidates, head-task demands,
committed loads and overload thresholds: `srole_env.round_state.RoundState`), `topology`, `round`, `n_actions`,
`hold_action`, and reports back through `charge_decision_latency(seconds)` and `record_interventions(count)`;
`add_render_overlay(name, overlay)` has the frame draw the wrapper's own layer (a shield's regions and rewrites).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from srole_env.actions import as_seed, index_of, joint_action
from srole_env.config import ClusterConfig, make_config
from srole_env.core.observation import OBS_HIGH
from srole_env.core.simulator import ClusterSimulator, RoundResult
from srole_env.core.topology import Topology
from srole_env.round_state import RoundState, round_state

INFO_DEFAULTS: dict[str, bool | int | float] = {
    "placed": False,
    "target": -1,
    "caused_overload": False,
    "collided": False,
    "round_collisions": 0,
    "round_overloaded_edges": 0,
    "round_jobs_completed": 0,
    "round_decision_latency_s": 0.0,
    "round_oom_kills": 0,
    "round_work_lost_s": 0.0,
}
"""Every per-agent info key with the value ``reset()`` gives it (``step()`` fills the same keys, same types)."""
OBS_FORMATS = ("dict", "flat")
"""``obs_format`` values: ``dict`` = {observation [D], action_mask [A]}; ``flat`` = Box [D + A], mask last."""


class EdgeClusterEnv(ParallelEnv):
    """PettingZoo parallel view of the cluster simulator: one agent per edge (see module docstring)."""

    metadata = {
        "name": "edge_cluster_v0",
        "render_modes": ["human", "ansi", "rgb_array"],
        "render_fps": 4,
        "is_parallelizable": True,
    }

    def __init__(
        self, scenario: str | ClusterConfig | None = "small", render_mode: str | None = None,
        obs_format: str = "dict", action_mask_in_info: bool = False,
        simulator: Callable[[ClusterConfig], ClusterSimulator] | None = None, **overrides: Any
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if obs_format not in OBS_FORMATS:
            raise ValueError(f"obs_format must be one of {OBS_FORMATS}, got {obs_format!r}")
        if not isinstance(action_mask_in_info, bool):
            raise ValueError(f"action_mask_in_info must be True or False, got {action_mask_in_info!r}")
        self.obs_format = obs_format
        self.action_mask_in_info = action_mask_in_info
        self.config = make_config(scenario, **_horizon_alias(overrides))
        self.sim = ClusterSimulator(self.config) if simulator is None else simulator(self.config)
        if not isinstance(self.sim, ClusterSimulator) or self.sim.config != self.config:
            got = type(self.sim).__name__
            raise TypeError(f"simulator must build a ClusterSimulator of the env's config, got {got}")
        self.render_mode = render_mode
        self.possible_agents = [f"edge_{i}" for i in range(self.config.n_edges)]
        self.agent_index = {agent: i for i, agent in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        obs_box = spaces.Box(0.0, OBS_HIGH, shape=(self.sim.obs_dim,), dtype=np.float32)
        mask_box = spaces.Box(0, 1, shape=(self.sim.n_actions,), dtype=np.int8)
        obs_space: spaces.Space = spaces.Dict({"observation": obs_box, "action_mask": mask_box})
        if obs_format == "flat":
            obs_space = flat_space(obs_box, mask_box)
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(self.sim.n_actions) for a in self.possible_agents}
        # Global state (PettingZoo's `state_space`, and `state_spaces` per agent as skrl reads it): the space of
        # `state()`, every edge's observation concatenated, so centralized critics (skrl MAPPO, TorchRL, BenchMARL)
        # can size their input.
        self.state_space = spaces.Box(0.0, OBS_HIGH, shape=(self.config.n_edges * self.sim.obs_dim,), dtype=np.float32)
        self.state_spaces = {a: self.state_space for a in self.possible_agents}
        self._extra_latency = np.zeros(self.config.n_edges)
        self._last: RoundResult | None = None
        self._overlays: dict[str, Any] = {}  # add_render_overlay: drawn by render (e.g. a shield's regions)
        self._window: Any = None  # render_mode="human": srole_env.render.HumanWindow, opened on the first render
        self.np_random, _ = seeding.np_random(None)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[self._check_agent(agent)]

    def _check_agent(self, agent: str) -> str:
        index_of(agent, self.agent_index)
        return agent

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Draw a new episode; the same seed gives the same cluster, jobs and trajectory."""
        seed = as_seed(seed)
        if seed is not None or not hasattr(self.sim, "rng"):
            self.np_random, _ = seeding.np_random(seed)
        self.sim.reset(self.np_random)
        self.agents = list(self.possible_agents)
        self._extra_latency[:] = 0.0
        self._last = None
        mask = self.sim.action_mask()
        infos = {a: dict(INFO_DEFAULTS) for a in self.agents}
        return self._agent_obs(self.sim.observe(), mask), self._with_masks(infos, mask)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """One decision round from a dict of actions; agents absent from ``actions`` hold."""
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        joint = joint_action(actions, self.agent_index, self.sim.n_actions, self.sim.hold_action)
        obs, mask, rewards, terminated, truncated, _ = self.step_arrays(joint)
        agents = self.agents
        result = self._last
        round_info = {
            "round_collisions": result.collisions,
            "round_overloaded_edges": result.overloaded_edges,
            "round_jobs_completed": result.jobs_completed,
            "round_decision_latency_s": result.decision_latency_s,
            "round_oom_kills": result.oom_kills,
            "round_work_lost_s": result.work_lost_s,
        }
        placed, targets = result.placed.tolist(), result.targets.tolist()
        caused, collided = result.caused_overload.tolist(), result.collided.tolist()
        infos = {
            a: {"placed": placed[i], "target": targets[i], "caused_overload": caused[i], "collided": collided[i],
                **round_info}
            for i, a in enumerate(agents)
        }
        out = (
            self._agent_obs(obs, mask),
            dict(zip(agents, rewards.tolist())),
            dict.fromkeys(agents, terminated),
            dict.fromkeys(agents, truncated),
            self._with_masks(infos, mask),
        )
        if terminated or truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return out

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool, RoundResult]:
        """Array fast path: actions [N] -> (obs [N, D], mask [N, A], rewards [N], terminated, truncated, result)."""
        self.check_running()
        latency = self.sim.local_latency + self._extra_latency
        result = self.sim.step(actions, latency)
        self._extra_latency[:] = 0.0
        self._last = result
        truncated = self.sim.round >= self.config.horizon
        return self.sim.observe(), self.sim.action_mask(), result.rewards, False, truncated, result

    def check_running(self) -> None:
        """``RuntimeError`` unless an episode is under way (reset and not yet truncated)."""
        if not self.agents or self.sim.round >= self.config.horizon:
            raise RuntimeError("step() called before reset() or on a finished episode; call reset() first")

    # ------------------------------------------------------------------ round state and hooks for wrappers
    # What a wrapper in front of the env (a shield, ``shields/``) may read and call: the round's state, the
    # current layout, the action layout, and the two places it reports back (latency charged, interventions).
    @property
    def topology(self) -> Topology:
        """The current cluster layout (positions, devices, candidates; redrawn at every ``reset``)."""
        if self.sim.topology is None:
            raise RuntimeError("the cluster layout exists after reset(); call reset() first")
        return self.sim.topology

    @property
    def round(self) -> int:
        """Decision rounds played in this episode (0 right after ``reset``, and before the first one)."""
        return getattr(self.sim, "round", 0)

    @property
    def n_candidates(self) -> int:
        """Candidates per agent C (itself and its C - 1 nearest edges); actions 0..C-1 name them."""
        return self.sim.n_candidates

    @property
    def n_actions(self) -> int:
        """Actions per agent A = C + 1 (the candidates, then ``hold``)."""
        return self.sim.n_actions

    @property
    def hold_action(self) -> int:
        """The ``hold`` action (= C): keep the task queued this round."""
        return self.sim.hold_action

    def round_state(self) -> RoundState:
        """This round's ``RoundState`` (``srole_env.round_state``): candidates [N, C], head tasks' demands and
        waits, committed loads and overload thresholds [N]; read-only views, no copies."""
        return round_state(self.sim)

    def validate_actions(self, actions: np.ndarray) -> np.ndarray:
        """A joint action [N] as int64, else a ``ValueError`` naming the first bad agent."""
        return self.sim.validate_actions(actions)

    def charge_decision_latency(self, seconds: np.ndarray | float) -> None:
        """Add simulated decision latency [N] (e.g. a shield's) to the next step's placed tasks."""
        np.add(self._extra_latency, seconds, out=self._extra_latency)  # a scalar or [N]; other shapes raise

    def record_interventions(self, count: int) -> None:
        """Count actions a wrapper rewrote this round (``metrics()["interventions"]``)."""
        self.sim.record_interventions(count)

    def record_shield_host(self, utilization: float, backlog_s: float) -> None:
        """Record this round's busiest shield host: its utilisation and backlog (``metrics()["shield_host_*"]``)."""
        self.sim.record_shield_host(utilization, backlog_s)

    @property
    def last_result(self) -> RoundResult | None:
        """The last round's ``RoundResult`` (placements, targets, collisions), None before the first step."""
        return self._last

    @property
    def render_overlays(self) -> dict[str, Any]:
        """Overlays drawn on the ``rgb_array``/``human`` frame, by name (a copy; see ``add_render_overlay``)."""
        return dict(self._overlays)

    def add_render_overlay(self, name: str, overlay: Any) -> None:
        """Draw ``overlay`` on every frame: an object with ``draw_overlay(canvas)`` (``srole_env.render.MapCanvas``),
        e.g. a shield drawing its regions and rewrites. A second overlay under the same ``name`` replaces the first."""
        if not callable(getattr(overlay, "draw_overlay", None)):
            got = type(overlay).__name__
            raise TypeError(f"render overlay {name!r} needs a draw_overlay(canvas) method, got {got}")
        self._overlays[str(name)] = overlay

    @property
    def last_round(self) -> dict[str, Any] | None:
        """The last round's cluster figures: ``collisions``, ``overloaded_edges``, ``jobs_completed``,
        ``jcts`` (list: JCTs of the jobs completed in it), ``decision_latency_s``, ``oom_kills``, ``work_lost_s``;
        None before the first step."""
        result = self._last
        if result is None:
            return None
        return {
            "collisions": result.collisions,
            "overloaded_edges": result.overloaded_edges,
            "jobs_completed": result.jobs_completed,
            "jcts": result.jcts.tolist(),
            "decision_latency_s": result.decision_latency_s,
            "oom_kills": result.oom_kills,
            "work_lost_s": result.work_lost_s,
        }

    def metrics(self) -> dict[str, float]:
        """Episode figures so far (see ``ClusterSimulator.metrics``)."""
        return self.sim.metrics()

    def state(self) -> np.ndarray:
        """Global state: every agent's observation, concatenated (float32, in ``self.state_space``)."""
        return self.sim.observe().ravel()

    def render(self, *args: Any) -> str | np.ndarray | None:
        """``ansi``: a text table; ``rgb_array``: an H x W x 3 uint8 frame of the cluster map
        (``srole_env.render``); ``human``: that frame in a window; None without a render mode.
        A positional mode (RLlib's ``render(mode)``) is ignored: the mode is the constructor's."""
        if self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            return self._render_text()
        try:
            from srole_env import render
        except ModuleNotFoundError as err:  # a light install: the env without the render extra
            raise ImportError(f'render_mode={self.render_mode!r} draws with matplotlib ({err.name} is missing): '
                              'pip install "srole[render]"') from err

        rgb = render.frame(self)
        if self.render_mode == "rgb_array":
            return rgb
        if self._window is None:
            self._window = render.HumanWindow()
        self._window.show(rgb)
        return None

    def _render_text(self) -> str:
        util = self.sim.utilization()
        queue = self.sim.queue_lengths()
        lines = [f"t={self.sim.time:.0f}s round {self.sim.round}/{self.config.horizon}"]
        for i in range(self.config.n_edges):
            name = self.sim.topology.device_names[self.sim.topology.device_index[i]]
            lines.append(f"edge_{i:<4d} {name:<17s} util {util[i]:5.2f} queue {queue[i]:3d}")
        return "\n".join(lines)

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None

    # ------------------------------------------------------------------ helpers
    def _agent_obs(self, obs: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        """Per-agent observations in the env's ``obs_format`` from obs [N, D] and mask [N, A]."""
        if self.obs_format == "flat":
            flat = flatten_obs(obs, mask)
            return {a: flat[i] for i, a in enumerate(self.agents)}
        return {a: {"observation": obs[i], "action_mask": mask[i]} for i, a in enumerate(self.agents)}

    def _with_masks(self, infos: dict[str, dict[str, Any]], mask: np.ndarray) -> dict[str, dict[str, Any]]:
        """``infos`` with each agent's mask row under ``action_mask`` when ``action_mask_in_info``."""
        if self.action_mask_in_info:
            for i, agent in enumerate(self.agents):
                infos[agent]["action_mask"] = mask[i]
        return infos


def flatten_obs(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The flat observation: obs [..., D] and mask [..., A] -> [..., D + A] float32 (the mask last)."""
    return np.concatenate([np.asarray(obs, np.float32), np.asarray(mask, np.float32)], axis=-1)


def flat_space(obs: spaces.Box, mask: spaces.Box) -> spaces.Box:
    """The Box of ``flatten_obs``: the bounds of ``obs`` then those of ``mask``, float32."""
    low = np.concatenate([obs.low, mask.low]).astype(np.float32)
    high = np.concatenate([obs.high, mask.high]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def _horizon_alias(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with PettingZoo's ``max_cycles`` renamed to our ``horizon`` (both given: they must agree)."""
    if "max_cycles" not in overrides:
        return overrides
    overrides = dict(overrides)
    cycles = overrides.pop("max_cycles")
    if "horizon" in overrides and overrides["horizon"] != cycles:
        raise ValueError(f"max_cycles={cycles!r} and horizon={overrides['horizon']!r} disagree (one is an alias)")
    overrides["horizon"] = cycles
    return overrides


def parallel_env(
    scenario: str | ClusterConfig | None = "small", render_mode: str | None = None, obs_format: str = "dict",
    action_mask_in_info: bool = False, **overrides: Any
) -> EdgeClusterEnv:
    """The parallel env (see module docstring for every argument)."""
    return EdgeClusterEnv(scenario, render_mode=render_mode, obs_format=obs_format,
                          action_mask_in_info=action_mask_in_info, **overrides)


def raw_env(
    scenario: str | ClusterConfig | None = "small", render_mode: str | None = None, obs_format: str = "dict",
    action_mask_in_info: bool = False, **overrides: Any
):
    """The AEC form, via PettingZoo's parallel-to-AEC converter."""
    return parallel_to_aec(parallel_env(scenario, render_mode=render_mode, obs_format=obs_format,
                                        action_mask_in_info=action_mask_in_info, **overrides))


env = raw_env
