"""Stable-Baselines3 learners: parameter-shared PPO, DQN and MaskablePPO on the parallel env; PPO and DQN
on the cluster head's env for CRL.

| algo | model | env | SB3 timestep |
|---|---|---|---|
| `ppo` | `stable_baselines3.PPO` | `EdgeVecEnv` (N agents = N sub-envs, optional shield) | agent-step |
| `dqn` | `stable_baselines3.DQN` | same | agent-step |
| `maskable_ppo` | `sb3_contrib.MaskablePPO` (the env's action masks) | same | agent-step |
| `crl_ppo` | `stable_baselines3.PPO` | `CentralizedSchedulingEnv` (`srole/Centralized-v0`) | head decision |
| `crl_dqn` | `stable_baselines3.DQN` | same | head decision |
| `crl_maskable_ppo` | `sb3_contrib.MaskablePPO` (the head's action masks) | same | head decision |

The PPO-family CRL learners (``crl_ppo``, ``crl_maskable_ppo``) discount per decision round, not per head
decision (``agents.learners.round_discount``), so ``gamma`` means the same as for the MARL learners; ``crl_dqn``
keeps SB3's per-step discount. ``crl_maskable_ppo`` is the CRL baseline.

**Budget.** Every run trains for a number of simulated decision rounds (``RunContext.rounds``), whatever
SB3 counts: ``RoundBudget`` stops ``learn`` at exactly that round (a PPO rollout cut by the budget is not
trained on), and sets SB3's training progress (which drives DQN's exploration schedule,
``exploration_fraction``, and any learning-rate schedule of the off-policy algos) to rounds done / budget,
so schedules are relative to the budget for CRL too, where the head makes a varying number of decisions
per round. SB3 sample counts (``n_steps``, ``batch_size``, ``learning_starts``, ``buffer_size``,
``target_update_interval``) stay in SB3's own timesteps.

Hyperparameters are the SB3 constructor's keyword arguments (``net_arch`` goes into ``policy_kwargs``), as the
typed configs of ``agents.learners.sb3.specs`` (the learners' classes; ``DEFAULTS`` there holds our defaults)
validated them.
Behind a shield the model's action probabilities (PPO, MaskablePPO) or Q-values (DQN) are the agents'
preferences. A resumed run restores the model, its step counter and (DQN) the
replay buffer; SB3 restarts the environment on ``learn``, so the episode cut by the checkpoint restarts
from its seed (finished episodes and the learning curve are kept).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.common.context import CheckpointSchedule, RunContext
from agents.common.policy import ScoredPolicy
from agents.common.utils import seed_everything
from agents.common.vec_env import CentralizedEpisodes, EdgeVecEnv
from agents.learners.networks import MASKED_SCORE
from agents.learners.round_discount import (
    RoundDiscountCallback,
    RoundDiscountMaskableRolloutBuffer,
    RoundDiscountRolloutBuffer,
)
from srole_common.persist import atomic_write, sb3_load, sb3_load_replay_buffer
from srole_env import CentralizedSchedulingEnv

MODEL_FILE = "model.zip"
REPLAY_FILE = "replay_buffer.pkl"

CLASSES: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO, "dqn": DQN, "maskable_ppo": MaskablePPO, "crl_ppo": PPO, "crl_dqn": DQN,
    "crl_maskable_ppo": MaskablePPO,
}
ROUND_DISCOUNT_BUFFERS = {"crl_ppo": RoundDiscountRolloutBuffer, "crl_maskable_ppo": RoundDiscountMaskableRolloutBuffer}
"""CRL learners whose rollout buffer discounts per round (``agents.learners.round_discount``)."""
MASKED = ("maskable_ppo", "crl_maskable_ppo")
def is_centralized(algo: str) -> bool:
    return algo.startswith("crl_")


# ---------------------------------------------------------------------- preferences and policies
@torch.no_grad()
def sb3_preferences(model: BaseAlgorithm, obs: np.ndarray, mask: np.ndarray, use_mask: bool) -> np.ndarray:
    """Preferences [N, A] of an SB3 model: action probabilities (PPO, MaskablePPO) or Q-values (DQN)."""
    obs_t, _ = model.policy.obs_to_tensor(obs)
    if isinstance(model, DQN):
        scores = model.q_net(obs_t).cpu().numpy().astype(np.float64)
        return np.where(mask > 0, scores, MASKED_SCORE) if use_mask else scores
    if isinstance(model, MaskablePPO):
        dist = model.policy.get_distribution(obs_t, action_masks=mask > 0)
    else:
        dist = model.policy.get_distribution(obs_t)
    return dist.distribution.probs.cpu().numpy().astype(np.float64)


class RolloutPreferences:
    """Preferences for the shield from the rollout's own forward pass (PPO, MaskablePPO), else ``sb3_preferences``.

    SB3's ``collect_rollouts`` runs ``policy(obs, action_masks=...)`` on exactly the observation (and mask) the
    shield asks preferences for in the same round, so a second forward pass (``sb3_preferences``) repeats it.
    This wraps the policy's ``forward`` to keep the action probabilities it computed (SB3 keeps the last
    distribution in ``policy.action_dist``) with the observation and mask they belong to, and returns them when
    both are equal to the ones asked for; anything else gets ``sb3_preferences``. Same numbers either way.
    """

    def __init__(self, model: BaseAlgorithm, use_mask: bool):
        self.model, self.use_mask = model, use_mask
        self._obs: torch.Tensor | None = None
        self._mask: Any = None
        self._probs: torch.Tensor | None = None
        if isinstance(model, DQN):
            return
        policy, forward = model.policy, model.policy.forward

        def forward_keeping_probs(obs: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            out = forward(obs, *args, **kwargs)
            self._obs, self._mask = obs, kwargs.get("action_masks")
            self._probs = policy.action_dist.distribution.probs
            return out

        policy.forward = forward_keeping_probs

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._probs is not None and self._matches(obs, mask):
            return self._probs.cpu().numpy().astype(np.float64)
        return sb3_preferences(self.model, obs, mask, self.use_mask)

    def _matches(self, obs: np.ndarray, mask: np.ndarray) -> bool:
        if self._obs.shape != obs.shape or not np.array_equal(self._obs.cpu().numpy(), obs):
            return False
        if not self.use_mask:  # unmasked preferences: the forward pass must not have been masked either
            return self._mask is None
        return self._mask is not None and np.array_equal(np.asarray(self._mask).reshape(mask.shape), mask > 0)


class SB3Policy(ScoredPolicy):
    """A trained SB3 model behind the policy interface (greedy on its preferences)."""

    def __init__(self, model: BaseAlgorithm, algo: str):
        self.model = model
        self.name = algo
        self.env_kind = "centralized" if is_centralized(algo) else "parallel"
        self.use_mask = algo in MASKED

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sb3_preferences(self.model, obs, mask, self.use_mask)


def load_policy(ckpt: Path, algo: str, device: str = "cpu") -> SB3Policy:
    """The greedy policy of a checkpoint."""
    model = sb3_load(CLASSES[algo], Path(ckpt) / MODEL_FILE, device=device)  # pickled attributes checked first
    return SB3Policy(model, algo)


# ---------------------------------------------------------------------- training
class RoundBudget(BaseCallback):
    """Stops training at ``ctx.rounds`` simulated rounds; progress bar, periodic checkpoints and evaluations
    over rounds; SB3's training progress set to rounds done / budget (see module docstring).

    ``counter.rounds`` is the run's round count (``EpisodeDriver`` or ``CentralizedEpisodes``).
    """

    def __init__(self, ctx: RunContext, counter: Any, policy: ScoredPolicy, save: Any):
        super().__init__()
        self.ctx, self.counter, self.policy, self.save = ctx, counter, policy, save
        self.bar: Any = None
        self.schedule: CheckpointSchedule | None = None
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.counter.rounds
        self.bar = self.ctx.progress_bar(self._last)
        self.schedule = CheckpointSchedule(self.ctx.checkpoint_every, self._last)
        self.ctx.evaluate_if_due(self._last, self.policy)

    def _on_step(self) -> bool:
        rounds = self.counter.rounds
        self.bar.update(rounds - self._last)
        self._last = rounds
        if rounds > 0:  # progress = rounds / budget (SB3: 1 - num_timesteps / _total_timesteps)
            self.model._total_timesteps = max(self.num_timesteps, round(self.num_timesteps * self.ctx.rounds / rounds))
        if rounds >= self.ctx.rounds:
            self._store_last_transition()
            return False
        if self.schedule.due(rounds):
            self.save()
        self.ctx.evaluate_if_due(rounds, self.policy)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()

    def _store_last_transition(self) -> None:
        """Off-policy SB3 stores a step's transition after the callback; stopping would drop the budget's last
        round, so store it as SB3 would have (``collect_rollouts`` hands its locals to the callback)."""
        if isinstance(self.model, OffPolicyAlgorithm):
            loc = self.locals
            self.model._store_transition(self.model.replay_buffer, loc["buffer_actions"], loc["new_obs"],
                                         loc["rewards"], loc["dones"], loc["infos"])


def gradient_updates(model: BaseAlgorithm) -> int:
    """Optimizer steps so far: SB3 counts them for DQN, but epochs for PPO (each ``n_steps * n_envs / batch_size``
    minibatches; an epoch cut short by ``target_kl`` is counted whole)."""
    n = int(getattr(model, "_n_updates", 0))
    if isinstance(model, OnPolicyAlgorithm):
        n *= math.ceil(model.n_steps * model.n_envs / model.batch_size)
    return n


def _saved_bytes(save: Any) -> bytes:
    """What an SB3 ``save``-style method writes, as bytes (for the atomic writer)."""
    buf = io.BytesIO()
    save(buf)
    return buf.getvalue()


def _build_env(ctx: RunContext, episodes: int, rounds: int, decisions: int) -> tuple[Any, Any]:
    """(SB3 env, object counting episodes and rounds) for the run."""
    if is_centralized(ctx.algo):
        if ctx.shield != "none":
            raise ValueError(f"shield: {ctx.algo} schedules on the centralized env, which takes no shield; use none")
        wrapped = CentralizedEpisodes(CentralizedSchedulingEnv(ctx.config), ctx.seed, ctx.episode_log,
                                      episode=episodes, rounds=rounds, decisions=decisions, budget=ctx.rounds)
        return DummyVecEnv([lambda: wrapped]), wrapped
    venv = EdgeVecEnv(ctx.make_env(), ctx.seed, ctx.episode_log, episode=episodes, rounds=rounds)
    return venv, venv.driver


def run(ctx: RunContext) -> None:
    """Train (or resume) an SB3 run described by ``ctx`` for ``ctx.rounds`` rounds in total."""
    cls = CLASSES[ctx.algo]
    episodes = int(ctx.state.get("episodes", 0))
    start = ctx.start_rounds
    env, counter = _build_env(ctx, episodes, start, int(ctx.state.get("decisions", 0)))
    ckpt = ctx.run.checkpoint
    if ctx.resume:
        model = sb3_load(cls, ckpt / MODEL_FILE, env=env, device=ctx.device)
        seed_everything(ctx.seed + start)  # deterministic continuation of a given checkpoint
        if isinstance(model, DQN) and (ckpt / REPLAY_FILE).is_file():
            sb3_load_replay_buffer(model, ckpt / REPLAY_FILE)
    else:
        kwargs, policy_kwargs = ctx.hparams.constructor_kwargs()
        try:
            if ctx.algo in ROUND_DISCOUNT_BUFFERS:
                kwargs["rollout_buffer_class"] = ROUND_DISCOUNT_BUFFERS[ctx.algo]
            model = cls("MlpPolicy", env, seed=ctx.seed, device=ctx.device, verbose=0,
                        policy_kwargs=policy_kwargs, **kwargs)
        except TypeError as err:
            raise ValueError(f"hyperparameters for {ctx.algo}: {err}") from err
    model.set_logger(configure(str(ctx.run.tb), ["tensorboard"]))
    if isinstance(env, EdgeVecEnv):
        use_mask = ctx.algo in MASKED
        env.preference_fn = RolloutPreferences(model, use_mask)

    def save() -> None:
        ckpt.mkdir(parents=True, exist_ok=True)
        atomic_write(ckpt / MODEL_FILE, _saved_bytes(model.save))
        if isinstance(model, DQN):
            atomic_write(ckpt / REPLAY_FILE, _saved_bytes(model.save_replay_buffer))
        extra = {"decisions": counter.decisions} if is_centralized(ctx.algo) else {}
        ctx.save_state(counter.rounds, counter.episode, sb3_timesteps=model.num_timesteps,
                       samples=model.num_timesteps, gradient_updates=gradient_updates(model), **extra)

    policy = SB3Policy(model, ctx.algo)
    remaining = ctx.rounds - counter.rounds
    if remaining > 0:  # SB3's target: an upper bound (N timesteps per round at most); RoundBudget stops it
        callbacks = [RoundBudget(ctx, counter, policy, save)]
        callbacks += [RoundDiscountCallback()] if ctx.algo in ROUND_DISCOUNT_BUFFERS else []
        model.learn(remaining * ctx.config.n_edges, callback=CallbackList(callbacks),
                    reset_num_timesteps=not ctx.resume)
    save()
    ctx.finish_curve(counter.rounds, policy)
