"""Stable-Baselines3 learners: parameter-shared PPO, DQN and MaskablePPO on the parallel env; PPO and DQN
on the cluster head's env for CRL.

| algo | model | env | timesteps |
|---|---|---|---|
| `ppo` | `stable_baselines3.PPO` | `EdgeVecEnv` (N agents = N sub-envs, optional shield) | agent-steps |
| `dqn` | `stable_baselines3.DQN` | same | agent-steps |
| `maskable_ppo` | `sb3_contrib.MaskablePPO` (the env's action masks) | same | agent-steps |
| `crl_ppo` | `stable_baselines3.PPO` | `CentralizedSchedulingEnv` (`srole/Centralized-v0`) | head decisions |
| `crl_dqn` | `stable_baselines3.DQN` | same | head decisions |

Hyperparameters are the SB3 constructor's keyword arguments (``net_arch`` goes into ``policy_kwargs``);
``DEFAULTS`` holds ours. Behind a shield the model's action probabilities (PPO, MaskablePPO) or Q-values
(DQN) are the agents' preferences. A resumed run restores the model, its step counter and (DQN) the
replay buffer; SB3 restarts the environment on ``learn``, so the episode cut by the checkpoint restarts
from its seed (finished episodes and the learning curve are kept).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.common.array_env import ArrayEnv, make_parallel_env
from agents.common.context import CheckpointSchedule, RunContext
from agents.common.networks import MASKED_SCORE
from agents.common.policy import ScoredPolicy
from agents.common.utils import seed_everything
from agents.common.vec_env import CentralizedEpisodes, EdgeVecEnv
from srole_env import CentralizedSchedulingEnv

MODEL_FILE = "model.zip"
REPLAY_FILE = "replay_buffer.pkl"

CLASSES: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO, "dqn": DQN, "maskable_ppo": MaskablePPO, "crl_ppo": PPO, "crl_dqn": DQN,
}
_PPO = {"n_steps": 200, "batch_size": 500, "n_epochs": 10, "learning_rate": 3e-4, "gamma": 0.8,
        "ent_coef": 0.01, "net_arch": [64, 64]}
_DQN = {"buffer_size": 200_000, "learning_starts": 2_000, "batch_size": 256, "learning_rate": 5e-4,
        "gamma": 0.7, "train_freq": 1, "gradient_steps": 1, "target_update_interval": 2_000,
        "exploration_fraction": 0.3, "exploration_final_eps": 0.05, "net_arch": [128, 128]}
DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": _PPO,
    "maskable_ppo": _PPO,
    "dqn": _DQN,
    "crl_ppo": {**_PPO, "n_steps": 1024, "batch_size": 256},
    "crl_dqn": {**_DQN, "learning_starts": 1_000, "target_update_interval": 1_000},
}
"""Our defaults per algo (PPO's ``n_steps`` is per sub-env: 200 rounds x N agents per rollout). The short
discounts follow what worked for the custom learners on ``small`` (see ``agents.idqn``, ``agents.ippo``)."""


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
        self.use_mask = algo == "maskable_ppo"

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sb3_preferences(self.model, obs, mask, self.use_mask)


def load_policy(ckpt: Path, algo: str, device: str = "cpu") -> SB3Policy:
    """The greedy policy of a checkpoint."""
    model = CLASSES[algo].load(Path(ckpt) / MODEL_FILE, device=device)
    return SB3Policy(model, algo)


# ---------------------------------------------------------------------- training
class RunCallback(BaseCallback):
    """tqdm progress over timesteps and periodic checkpoints."""

    def __init__(self, ctx: RunContext, save: Any):
        super().__init__()
        self.ctx, self.save = ctx, save
        self.bar: Any = None
        self.schedule: CheckpointSchedule | None = None
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps
        self.bar = self.ctx.progress_bar(self.num_timesteps)
        self.schedule = CheckpointSchedule(self.ctx.checkpoint_every, self.num_timesteps)

    def _on_step(self) -> bool:
        self.bar.update(self.num_timesteps - self._last)
        self._last = self.num_timesteps
        if self.schedule.due(self.num_timesteps):
            self.save()
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def hparams(algo: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The full keyword arguments a run with ``overrides`` passes to the SB3 constructor (plus ``net_arch``)."""
    accepted = set(inspect.signature(CLASSES[algo].__init__).parameters) - {"self", "policy", "env", "seed", "device"}
    unknown = sorted(set(overrides) - accepted - {"net_arch"})
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown} for {algo}; valid: {sorted(accepted | {'net_arch'})}")
    return {**DEFAULTS[algo], **overrides}


def _build_env(ctx: RunContext, episodes: int, timesteps: int) -> tuple[Any, Any]:
    """(SB3 env, object counting episodes) for the run."""
    if is_centralized(ctx.algo):
        if ctx.shield != "none":
            raise ValueError(f"shield: {ctx.algo} schedules on the centralized env, which takes no shield; use none")
        wrapped = CentralizedEpisodes(CentralizedSchedulingEnv(ctx.config), ctx.seed, ctx.episode_log,
                                      episode=episodes, timesteps=timesteps)
        return DummyVecEnv([lambda: wrapped]), wrapped
    venv = EdgeVecEnv(ArrayEnv(make_parallel_env(ctx.config, ctx.shield)), ctx.seed, ctx.episode_log,
                      episode=episodes, timesteps=timesteps)
    return venv, venv.driver


def run(ctx: RunContext) -> None:
    """Train (or resume) an SB3 run described by ``ctx``."""
    cls = CLASSES[ctx.algo]
    episodes = int(ctx.state.get("episodes", 0))
    start = int(ctx.state.get("timesteps", 0))
    env, counter = _build_env(ctx, episodes, start)
    ckpt = ctx.run.checkpoint
    if ctx.resume:
        model = cls.load(ckpt / MODEL_FILE, env=env, device=ctx.device)
        seed_everything(ctx.seed + start)  # deterministic continuation of a given checkpoint
        if isinstance(model, DQN) and (ckpt / REPLAY_FILE).is_file():
            model.load_replay_buffer(ckpt / REPLAY_FILE)
    else:
        kwargs = dict(ctx.hparams)
        policy_kwargs = {"net_arch": list(kwargs.pop("net_arch"))} if "net_arch" in kwargs else {}
        try:
            model = cls("MlpPolicy", env, seed=ctx.seed, device=ctx.device, verbose=0,
                        policy_kwargs=policy_kwargs, **kwargs)
        except TypeError as err:
            raise ValueError(f"hyperparameters for {ctx.algo}: {err}") from err
    model.set_logger(configure(str(ctx.run.tb), ["tensorboard"]))
    if isinstance(env, EdgeVecEnv):
        use_mask = ctx.algo == "maskable_ppo"
        env.preference_fn = RolloutPreferences(model, use_mask)

    def save() -> None:
        ckpt.mkdir(parents=True, exist_ok=True)
        model.save(ckpt / MODEL_FILE)
        if isinstance(model, DQN):
            model.save_replay_buffer(ckpt / REPLAY_FILE)
        ctx.save_state(model.num_timesteps, counter.episode)

    remaining = ctx.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=RunCallback(ctx, save), reset_num_timesteps=not ctx.resume)
    save()
