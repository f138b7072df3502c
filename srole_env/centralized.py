"""The cluster head's view (CRL): one Gymnasium agent decides every edge's task, one at a time.

Same simulator as the parallel env. In each round the head takes the edges that have a pending task in
a rotating order and decides their head tasks one per ``step``; each decision sees the loads the head
has already committed earlier in the round, so the head never collides with itself. When the round's
last decision is made the simulator runs the round, charging every placed task the head's latency:
collecting N state reports through the head's NIC, then one decision after another, each slowed by
the head's own load (``srole_env.core.overhead.head_decision_latency``). Rounds with nothing to decide
run on their own.

* Observation: ``Box(0, 10, (6 + 6C + 3,))``: the deciding edge's local observation (with this round's
  earlier decisions counted as load), then cluster mean utilisation, the fraction of this round's
  decisions still to make, and the head's utilisation.
* Action: ``Discrete(C + 1)`` over the deciding edge's candidates, then hold.
* Reward: the mean over edges of the parallel env's per-agent rewards, paid on the step that completes
  a round (0 on intermediate decisions).
* ``action_masks()`` gives the safe actions (for ``sb3_contrib.MaskablePPO``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from srole_env._actions import as_action
from srole_env.config import ClusterConfig, make_config
from srole_env.core.overhead import head_decision_latency
from srole_env.core.simulator import OBS_HIGH, ClusterSimulator

GLOBAL_FEATURES = 3


class CentralizedSchedulingEnv(gym.Env):
    """Centralized RL scheduler at the cluster head (see module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self, scenario: str | ClusterConfig | None = "small", render_mode: str | None = None, **overrides: Any
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.config = make_config(scenario, **overrides)
        self.sim = ClusterSimulator(self.config)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(
            0.0, OBS_HIGH, shape=(self.sim.obs_dim + GLOBAL_FEATURES,), dtype=np.float32
        )
        self.action_space = spaces.Discrete(self.sim.n_actions)
        n = self.config.n_edges
        self._joint = np.full(n, self.sim.hold_action, dtype=np.int64)
        self._extra_slots = np.zeros(n)
        self._extra_mem = np.zeros(n)
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.sim.reset(self.np_random)
        reward, _ = self._begin_round()
        return self._observation(), {"deciding_edge": self.deciding_edge, "reward_before_first_decision": reward}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._pos >= len(self._order):
            raise RuntimeError("step() called on a finished episode; call reset() first")
        action = as_action(action, self.sim.n_actions)
        agent = self._order[self._pos]
        self._joint[agent] = action
        if action < self.sim.n_candidates:
            target = self.sim.topology.candidates[agent, action]
            self._extra_slots[target] += 1.0
            self._extra_mem[target] += self.sim.head_demand()[1][agent]
        self._pos += 1
        reward, info = 0.0, {}
        if self._pos == len(self._order):
            reward, info = self._finish_round()
            more, skipped = self._begin_round()
            reward += more
            info["rounds_without_decisions"] = skipped
        truncated = self._pos >= len(self._order)
        info["deciding_edge"] = self.deciding_edge
        return self._observation(), float(reward), False, bool(truncated), info

    def action_masks(self) -> np.ndarray:
        """Bool mask [C + 1] of the deciding edge's safe actions given this round's earlier decisions."""
        if self._pos >= len(self._order):
            mask = np.zeros(self.sim.n_actions, dtype=bool)
            mask[self.sim.hold_action] = True
            return mask
        return self.sim.action_mask(self._extra_slots, self._extra_mem)[self._order[self._pos]].astype(bool)

    def metrics(self) -> dict[str, float]:
        """Episode figures so far (see ``ClusterSimulator.metrics``)."""
        return self.sim.metrics()

    @property
    def deciding_edge(self) -> int:
        """Index of the edge whose task the next ``step`` decides (-1 when the episode is over)."""
        return int(self._order[self._pos]) if self._pos < len(self._order) else -1

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        util = self.sim.utilization()
        return (
            f"t={self.sim.time:.0f}s round {self.sim.round}/{self.config.horizon} "
            f"deciding edge_{self.deciding_edge} ({self._pos}/{len(self._order)}), "
            f"mean util {util.mean():.2f}, max util {util.max():.2f}"
        )

    # ------------------------------------------------------------------ rounds
    def _begin_round(self) -> tuple[float, int]:
        """Start the next round that has decisions to make, running empty rounds; (reward, rounds skipped)."""
        reward, skipped = 0.0, 0
        self._joint[:] = self.sim.hold_action
        self._extra_slots[:] = 0.0
        self._extra_mem[:] = 0.0
        self._pos = 0
        while self.sim.round < self.config.horizon:
            deciding = np.flatnonzero(self.sim.pending_heads() >= 0)
            if len(deciding):
                self._order = np.roll(deciding, -(self.sim.round % len(deciding)))
                return reward, skipped
            reward += float(self.sim.step(self._joint, 0.0).rewards.mean())
            skipped += 1
        self._order = np.empty(0, dtype=np.int64)
        return reward, skipped

    def _finish_round(self) -> tuple[float, dict]:
        """Run the simulator round with the head's joint decision and its latency."""
        head_util = float(self.sim.utilization()[self.sim.topology.head])
        latency = head_decision_latency(self.sim.topology, self.config, self._order, head_util)
        result = self.sim.step(self._joint, latency)
        info = {
            "collisions": result.collisions,
            "overloaded_edges": result.overloaded_edges,
            "jobs_completed": result.jobs_completed,
            "jcts": result.jcts.tolist(),
            "decision_latency_s": result.decision_latency_s,
        }
        return float(result.rewards.mean()), info

    def _observation(self) -> np.ndarray:
        if self._pos >= len(self._order):
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        agent = self._order[self._pos : self._pos + 1]
        local = self.sim.observe(self._extra_slots, self._extra_mem, agents=agent)[0]
        slots, _ = self.sim.committed()
        util = (slots + self._extra_slots) / self.sim.topology.cores
        extra = np.array(
            [util.mean(), 1.0 - self._pos / len(self._order), util[self.sim.topology.head]], dtype=np.float32
        )
        return np.clip(np.concatenate([local, extra]), 0.0, OBS_HIGH).astype(np.float32)
