"""Discount per decision round, not per step, for SB3 PPO-family learners on the cluster head's env.

``CentralizedSchedulingEnv`` makes several decisions per round (one ``step`` each) and pays the round's
reward on its last decision. SB3 discounts every step by one ``gamma``, so with k decisions in a round
the first would see ``gamma ** (k - 1)`` of the round's reward. Here each step's discount is
``gamma ** rounds_completed`` (the step's ``info``: 0 within a round, so 1, and 1 or more on the step that
runs the round), which makes ``gamma`` mean the same per round as for the MARL learners.

``RoundDiscountCallback`` writes that discount into the rollout buffer for the step being collected (SB3
calls callbacks after ``env.step`` and before ``rollout_buffer.add``), and the buffers' GAE uses it in place
of ``gamma``. ``gae_lambda`` stays per step. Rewards of rounds run inside one step (rounds without
decisions) are summed undiscounted; they do not depend on the step's action.
"""

from __future__ import annotations

import numpy as np
import torch as th
from sb3_contrib.common.maskable.buffers import MaskableRolloutBuffer
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback


class _RoundDiscount:
    """Mixin for a rollout buffer: per-step discounts ``step_gamma`` [buffer, envs] used by GAE."""

    step_gamma: np.ndarray

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.step_gamma = np.full((self.buffer_size, self.n_envs), self.gamma, dtype=np.float32)

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """GAE as in SB3's ``RolloutBuffer``, with ``step_gamma[t]`` in place of ``gamma``."""
        last = last_values.clone().cpu().numpy().flatten()
        gae = 0.0
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                non_terminal = 1.0 - dones.astype(np.float32)
                next_values = last
            else:
                non_terminal = 1.0 - self.episode_starts[step + 1]
                next_values = self.values[step + 1]
            g = self.step_gamma[step]
            delta = self.rewards[step] + g * next_values * non_terminal - self.values[step]
            gae = delta + g * self.gae_lambda * non_terminal * gae
            self.advantages[step] = gae
        self.returns = self.advantages + self.values


class RoundDiscountRolloutBuffer(_RoundDiscount, RolloutBuffer):
    """SB3 PPO's rollout buffer, discounted per round."""


class RoundDiscountMaskableRolloutBuffer(_RoundDiscount, MaskableRolloutBuffer):
    """sb3-contrib MaskablePPO's rollout buffer, discounted per round."""


class RoundDiscountCallback(BaseCallback):
    """Record ``gamma ** info['rounds_completed']`` for each step into a round-discount rollout buffer."""

    def _on_step(self) -> bool:
        buffer = getattr(self.model, "rollout_buffer", None)
        if isinstance(buffer, _RoundDiscount) and buffer.pos < buffer.buffer_size:
            rounds = [float(info.get("rounds_completed", 1)) for info in self.locals["infos"]]
            buffer.step_gamma[buffer.pos] = self.model.gamma ** np.asarray(rounds)
        return True
