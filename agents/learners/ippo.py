"""Independent PPO with parameter sharing: one actor and one critic for every edge agent, one pass for all N.

Each agent's critic sees only its local observation (independent learners, not a centralized critic).
A rollout is ``rollout_rounds`` rounds of all N agents (``rollout_rounds x N`` samples); GAE per agent,
bootstrapping from the critic at the horizon (truncation is not a terminal state); clipped surrogate,
value loss and entropy bonus as in PPO. Logits of unsafe actions are masked (``mask_actions``).

Behind a shield the agents hand their action probabilities [N, A] to the shield as preferences, so an
agent whose action is displaced gets its own next-best action. The rollout keeps the action the agent
*sampled* (PPO is on-policy; the shield is part of the environment it learns in).

The budget is in rounds of the parallel env (a round gives N samples); the last rollout is shortened so
training stops at exactly the budget. No schedule depends on the budget (constant learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from agents.common.array_env import EpisodeDriver
from agents.common.context import CheckpointSchedule, RunContext
from agents.common.policy import ScoredPolicy
from agents.learners.base import LearnerConfig, TorchLearner, above, at_least, between, widths
from agents.learners.networks import as_tensor, mask_logits, mlp
from agents.learners.optim import Adam, clip_grad_norm_

MODEL_FILE = "ippo.pt"
ENV_FILE = "env.npz"


@dataclass(frozen=True)
class IPPOConfig(LearnerConfig):
    """IPPO hyperparameters."""

    hidden: tuple[int, ...] = (64, 64)
    lr: float = 3e-4
    gamma: float = 0.8
    """Short horizon: on ``small`` (300k steps, central shield) 0.8 beat 0.99, 0.95 and 0.6."""
    gae_lambda: float = 0.95
    rollout_rounds: int = 100
    """Rounds per rollout; a rollout holds ``rollout_rounds x N`` samples."""
    n_epochs: int = 10
    minibatch_size: int = 500
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True
    mask_actions: bool = True
    reward_scale: float = 1.0
    n_envs: int = 1
    """Episodes collected at once (``agents.common.batched_driver``): a rollout of ``rollout_rounds`` rounds
    is ``rollout_rounds / K`` steps of K episodes, one network call per step for K x N agents. 1: one episode."""

    LIMITS: ClassVar = {
        "hidden": widths(), "lr": above(0.0, "the learning rate"), "gamma": between(0.0, 1.0),
        "gae_lambda": between(0.0, 1.0), "rollout_rounds": at_least(1), "n_epochs": at_least(1),
        "minibatch_size": at_least(1), "clip": above(0.0),
        "ent_coef": at_least(0.0), "vf_coef": at_least(0.0), "max_grad_norm": above(0.0), "reward_scale": above(0.0),
        "n_envs": at_least(1),
    }

    def run_problems(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if rounds % self.n_envs:
            return [(("n_envs",), f"{self.n_envs} episodes per step simulate {self.n_envs} rounds at a time, which "
                     f"does not divide the budget of {rounds} rounds")]
        return []


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs (tanh) over a local observation [B, D]: logits [B, A], values [B]."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        self.actor = mlp(obs_dim, hidden, n_actions, nn.Tanh, out_gain=0.01)
        self.critic = mlp(obs_dim, hidden, 1, nn.Tanh, out_gain=1.0)

    def logits(self, obs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return mask_logits(self.actor(obs), mask)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)


class ActorPolicy(ScoredPolicy):
    """Greedy policy of the actor: preferences are the action probabilities [N, A] (0 where masked)."""

    name = "ippo"

    def __init__(self, model: ActorCritic, mask_actions: bool, device: str):
        self.model = model
        self.mask_actions = mask_actions
        self.device = device

    @torch.no_grad()
    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = as_tensor(mask, self.device, torch.bool) if self.mask_actions else None
        logits = self.model.logits(as_tensor(obs, self.device), m)
        return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64)


class Rollout:
    """Arrays of one rollout: [T, N, ...] per agent and [T] per round."""

    def __init__(self, rounds: int, n: int, obs_dim: int, n_actions: int):
        self.obs = np.zeros((rounds, n, obs_dim), np.float32)
        self.mask = np.zeros((rounds, n, n_actions), np.bool_)
        self.actions = np.zeros((rounds, n), np.int64)
        self.logp = np.zeros((rounds, n), np.float32)
        self.values = np.zeros((rounds, n), np.float32)
        self.rewards = np.zeros((rounds, n), np.float32)
        self.ends = np.zeros(rounds, np.bool_)
        """The episode ended with this round (the next round starts a new one)."""

    def advantages(self, last_value: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """GAE advantages and returns [T, N]; ``last_value`` [N] is V of the observation after the rollout."""
        adv = np.zeros_like(self.rewards)
        gae = np.zeros(self.rewards.shape[1], np.float32)
        for t in reversed(range(len(self.rewards))):
            next_value = last_value if t == len(self.rewards) - 1 else self.values[t + 1]
            cont = 0.0 if self.ends[t] else 1.0
            delta = self.rewards[t] + gamma * cont * next_value - self.values[t]
            gae = delta + gamma * lam * cont * gae
            adv[t] = gae
        return adv, adv + self.values


def _flat(x: np.ndarray) -> np.ndarray:
    """[T, N, ...] -> [T * N, ...]."""
    return x.reshape(-1, *x.shape[2:])


class IPPO(TorchLearner):
    """The learner: ``learn`` trains on an ``EpisodeDriver``; ``policy`` is its greedy ``ActorPolicy``."""

    name = "ippo"
    env_kind = "parallel"
    description = "independent PPO in torch (shared actor-critic, preferences = probabilities)"
    config_class = IPPOConfig
    MODEL_FILE = MODEL_FILE
    ENV_FILE = ENV_FILE
    STATE = {"model": ("model", "the network"), "optim": ("optim", "the optimizer state")}
    hp: IPPOConfig

    def build(self) -> None:
        hp = self.hp
        self.model = ActorCritic(self.obs_dim, self.n_actions, hp.hidden).to(self.device)
        self.optim = Adam(self.model.parameters(), lr=hp.lr, eps=1e-5)
        self._params = list(self.model.parameters())
        self.gradient_updates = 0
        """Optimizer steps (minibatches x epochs over all rollouts; ``updates`` counts rollouts)."""
        self.policy = ActorPolicy(self.model, hp.mask_actions, self.device)

    def sample(self, probs: np.ndarray) -> np.ndarray:
        """One action per row of ``probs`` [N, A] (inverse CDF with the learner's own RNG)."""
        cdf = np.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        return (cdf < self.rng.random((len(probs), 1))).sum(axis=1)

    @torch.no_grad()
    def values(self, obs: np.ndarray) -> np.ndarray:
        return self.model.value(as_tensor(obs, self.device)).cpu().numpy()

    def collect(self, driver: EpisodeDriver, rounds: int, ctx: RunContext, bar: Any) -> tuple[Rollout, np.ndarray]:
        """Run ``rounds`` rounds (``rounds / K`` steps of K episodes, rounded up); returns the rollout and V of the
        observation that follows it [K x N]."""
        hp, n, per_step = self.hp, driver.env.n_agents, driver.n_envs
        steps = -(-rounds // per_step)
        buf = Rollout(steps, n, self.obs_dim, self.n_actions)
        for t in range(steps):
            obs, mask = driver.obs, driver.mask
            probs = self.policy.preferences(obs, mask)
            actions = self.sample(probs)
            buf.obs[t], buf.mask[t], buf.actions[t] = obs, mask > 0, actions
            buf.logp[t] = np.log(np.maximum(probs[np.arange(n), actions], 1e-12))
            buf.values[t] = self.values(obs)
            ctx.evaluate_if_due(driver.rounds, self.policy)
            out = driver.step(actions, probs if driver.env.shielded else None)
            rewards = out.rewards * hp.reward_scale
            if out.truncated and not out.terminated:  # the horizon is a time limit: bootstrap from the last state
                rewards = rewards + hp.gamma * self.values(out.obs)
            buf.rewards[t], buf.ends[t] = rewards, out.done
            bar.update(per_step)
        return buf, self.values(driver.obs)

    def update(self, buf: Rollout, last_value: np.ndarray) -> dict[str, float]:
        """PPO epochs over the rollout; returns mean losses."""
        hp = self.hp
        adv, ret = buf.advantages(last_value, hp.gamma, hp.gae_lambda)
        obs, mask, actions = _flat(buf.obs), _flat(buf.mask), _flat(buf.actions)
        logp_old, adv, ret = _flat(buf.logp), _flat(adv), _flat(ret)
        t_obs, t_mask = as_tensor(obs, self.device), as_tensor(mask, self.device, torch.bool)
        t_act = as_tensor(actions, self.device, torch.int64)
        t_logp, t_adv, t_ret = (as_tensor(x, self.device) for x in (logp_old, adv, ret))
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "entropy": [], "approx_kl": []}
        size = len(obs)
        for _ in range(hp.n_epochs):
            order = self.rng.permutation(size)
            for start in range(0, size, hp.minibatch_size):
                idx = torch.as_tensor(order[start : start + hp.minibatch_size], device=self.device)
                mb_obs = t_obs[idx]
                logits = self.model.logits(mb_obs, t_mask[idx] if hp.mask_actions else None)
                dist = torch.distributions.Categorical(logits=logits)
                logp = dist.log_prob(t_act[idx])
                a = t_adv[idx]
                if hp.normalize_advantage and len(idx) > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                ratio = torch.exp(logp - t_logp[idx])
                policy_loss = -torch.min(ratio * a, ratio.clamp(1 - hp.clip, 1 + hp.clip) * a).mean()
                value_loss = (self.model.value(mb_obs) - t_ret[idx]).pow(2).mean()
                entropy = dist.entropy().mean()
                loss = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
                self.optim.zero_grad()
                loss.backward()
                clip_grad_norm_(self._params, hp.max_grad_norm, self.optim.grad)
                self.optim.step()
                self.gradient_updates += 1
                with torch.no_grad():
                    kl = ((ratio - 1) - torch.log(ratio)).mean()
                for key, value in zip(stats, (policy_loss, value_loss, entropy, kl)):
                    stats[key].append(value.item())
        self.updates += 1
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def learn(self, driver: EpisodeDriver, ctx: RunContext) -> None:
        """Train until ``driver.rounds`` reaches ``ctx.rounds`` (the last rollout is cut to fit the budget)."""
        schedule = CheckpointSchedule(ctx.checkpoint_every, driver.rounds)
        bar = ctx.progress_bar(driver.rounds)
        while driver.rounds < ctx.rounds:
            rounds = min(self.hp.rollout_rounds, ctx.rounds - driver.rounds)
            buf, last_value = self.collect(driver, rounds, ctx, bar)
            ctx.log_scalars("train", self.update(buf, last_value), driver.rounds)
            if schedule.due(driver.rounds):
                self.save(ctx, driver)
        bar.close()
        self.save(ctx, driver)
        ctx.finish_curve(driver.rounds, self.policy)

    # ------------------------------------------------------------------ checkpoints
    def save(self, ctx: RunContext, driver: EpisodeDriver) -> None:
        """Model, optimizer, RNG and the env's mid-episode state into ``checkpoint/``."""
        ckpt = self.write_checkpoint(ctx, gradient_updates=self.gradient_updates)
        driver.save_state(ckpt / ENV_FILE)
        ctx.save_state(driver.rounds, driver.episode, samples=driver.samples, gradient_updates=self.gradient_updates)

    def restore_extra(self, ckpt: Any, data: dict[str, Any], meta: dict[str, Any], with_buffer: bool) -> None:
        self.gradient_updates = int(meta.get("gradient_updates", 0))
