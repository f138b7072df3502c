"""Independent DQN with parameter sharing: one Q-network scores every edge agent's actions in one pass.

Each agent learns from its own transitions (local observation [D], action, own reward, next local
observation) as if the others were part of the environment; the agents share the network and one replay
buffer, so a round adds N transitions. Double DQN, Huber loss, Polyak-averaged target network, optional
n-step returns (``n_step``) and dueling head (``dueling``), epsilon-greedy exploration among the mask's
actions (``mask_actions``). The replay buffer, the pending n-step rounds and the environment's
mid-episode state are checkpointed, so a resumed run continues exactly.

Behind a shield the agents hand their Q-values [N, A] to the shield as preferences, so an agent whose
action is displaced gets its own next-best action. By default the buffer stores the action that was
*executed* (the shield's safe action): Q-learning is off-policy and the reward belongs to that action
(``learn_from="chosen"`` stores the agent's own choice instead).

The budget is in rounds of the parallel env (each adds N transitions). Epsilon decays linearly over
``eps_decay_fraction`` of the run's budget (fixed when the run starts and saved in the checkpoint, so a
resumed run keeps it), so a short budget still ends exploiting; ``eps_decay_rounds`` > 0 sets an absolute
schedule instead. Sample counts (``buffer_size``, ``batch_size``, ``learning_starts``) are transitions.
Gradient steps start once ``learning_starts`` transitions have been seen and the buffer holds a batch (or
``learning_starts`` transitions, if fewer): n-step returns store a round ``n_step - 1`` rounds late, so on a large
cluster the first step waits for the buffer instead of sampling an empty one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from agents.common.array_env import EpisodeDriver
from agents.common.context import CheckpointSchedule, RunContext
from agents.common.policy import ScoredPolicy
from agents.learners import mlp_step
from agents.learners.base import LearnerConfig, TorchLearner, above, at_least, between, in_open_closed, one_of, widths
from agents.learners.networks import FORWARD_BLOCK_ROWS, MASKED_SCORE, DuelingQ, as_tensor, forward_rows, mlp
from agents.learners.optim import Adam, clip_grad_norm_, flatten_, polyak_
from agents.learners.replay import NStepReturns, ReplayBuffer

MODEL_FILE = "idqn.pt"
REPLAY_FILE = "replay.npz"
ENV_FILE = "env.npz"


@dataclass(frozen=True)
class IDQNConfig(LearnerConfig):
    """IDQN hyperparameters (sample counts in transitions, one per agent and round, unless stated)."""

    hidden: tuple[int, ...] = (128, 128)
    lr: float = 5e-4
    gamma: float = 0.7
    """Short horizon: on ``small`` (300k steps, central shield) mean JCT fell as gamma went 0.99 -> 0.7."""
    n_step: int = 5
    """n-step returns (1: plain one-step TD targets); 5 beat 1 and 10."""
    buffer_size: int = 200_000
    batch_size: int = 256
    learning_starts: int = 2_000
    train_every_rounds: int = 1
    gradient_steps: int = 1
    tau: float = 0.01
    """Polyak factor of the target network per gradient step."""
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_fraction: float = 0.3
    """Fraction of the run's budget (rounds) over which epsilon decays linearly from ``eps_start`` to ``eps_end``."""
    eps_decay_rounds: int = 0
    """Absolute decay length in rounds; 0 (default): ``eps_decay_fraction`` x the budget, fixed at the run's start."""
    double_q: bool = True
    dueling: bool = False
    """Dueling head (``DuelingQ``) instead of a plain MLP."""
    mask_actions: bool = True
    """Mask unsafe actions (the env's ``action_mask``) in exploration, targets and greedy choice."""
    learn_from: str = "executed"
    """``executed`` (the shield's safe action) or ``chosen`` (the agent's own action)."""
    max_grad_norm: float = 10.0
    reward_scale: float = 1.0
    lr_end_fraction: float = 1.0
    """The learning rate decays linearly from ``lr`` to ``lr x lr_end_fraction`` over the run's budget (rounds);
    1 keeps it constant. A decayed rate lets a long run settle instead of fluctuating around its optimum."""
    n_envs: int = 1
    """Episodes collected at once (``agents.common.batched_driver``): one network call acts for K x N agents;
    gradient steps keep their ratio to rounds (``train_every_rounds``, ``gradient_steps``). 1: one episode."""

    LIMITS: ClassVar = {
        "hidden": widths(), "lr": above(0.0, "the learning rate"), "gamma": between(0.0, 1.0), "n_step": at_least(1),
        "buffer_size": at_least(1), "batch_size": at_least(1), "learning_starts": at_least(0),
        "train_every_rounds": at_least(1), "gradient_steps": at_least(1), "tau": in_open_closed(0.0, 1.0),
        "eps_start": between(0.0, 1.0), "eps_end": between(0.0, 1.0), "eps_decay_fraction": between(0.0, 1.0),
        "eps_decay_rounds": at_least(0), "learn_from": one_of("executed", "chosen"), "max_grad_norm": above(0.0),
        "reward_scale": above(0.0), "lr_end_fraction": between(0.0, 1.0), "n_envs": at_least(1),
    }

    def run_problems(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if rounds % self.n_envs:
            return [(("n_envs",), f"{self.n_envs} episodes per step simulate {self.n_envs} rounds at a time, which "
                     f"does not divide the budget of {rounds} rounds")]
        return []

    def combinations(self) -> list[tuple[tuple[str, ...], str]]:
        if self.dueling and not self.hidden:
            return [(("dueling", "hidden"), "the dueling head needs at least one hidden layer")]
        return []

    def min_stored(self) -> int:
        """Transitions the replay buffer must hold before a gradient step: a batch, or ``learning_starts`` if fewer
        (at least 1). n-step returns store a round's transitions ``n_step - 1`` rounds late, so at large N
        ``learning_starts`` transitions are seen before anything is stored; the first step waits for the buffer."""
        return max(1, min(self.batch_size, self.learning_starts))

    def first_update_round(self, n_agents: int, horizon: int | None = None) -> int:
        """The first round with a gradient step: ``learning_starts`` transitions seen and ``min_stored()`` stored
        (a round stores up to ``n_agents`` transitions, ``n_step - 1`` rounds late within an episode of
        ``horizon`` rounds), on a multiple of ``train_every_rounds``."""
        seen = max(1, math.ceil(self.learning_starts / n_agents))
        lag = min(self.n_step, horizon if horizon is not None else self.n_step) - 1
        first = max(seen, math.ceil(self.min_stored() / n_agents) + lag)
        return math.ceil(first / self.train_every_rounds) * self.train_every_rounds

    def run_warnings(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        first = self.first_update_round(cluster.n_edges, cluster.horizon)
        if first > rounds:
            return [(("learning_starts", "train_every_rounds"), f"the first gradient step would come at round {first}, "
                     "after the budget: the policy stays untrained")]
        return []

    def for_budget(self, rounds: int) -> IDQNConfig:
        """This config with a relative epsilon schedule fixed in rounds (saved with the checkpoint)."""
        if self.eps_decay_rounds == 0:
            return replace(self, eps_decay_rounds=max(1, round(self.eps_decay_fraction * rounds)))
        return self


class QNetPolicy(ScoredPolicy):
    """Greedy policy of a Q-network: preferences are the Q-values [N, A] (masked actions: ``MASKED_SCORE``)."""

    name = "idqn"

    def __init__(self, net: torch.nn.Module, mask_actions: bool, device: str):
        self.net = net
        self.mask_actions = mask_actions
        self.device = device
        self._affine_of: tuple[torch.nn.Module, int] | None = None
        self._affine: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        affine = self._plain_layers() if len(obs) <= 2 * FORWARD_BLOCK_ROWS else None
        if affine is not None:  # a plain ReLU MLP on the CPU: its layers' calls without the modules (same floats)
            q = mlp_step.q_values(affine, obs).astype(np.float64)
        else:
            with torch.no_grad():
                q = forward_rows(self.net, as_tensor(obs, self.device)).cpu().numpy().astype(np.float64)
        return np.where(mask > 0, q, MASKED_SCORE) if self.mask_actions else q

    def _plain_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """``mlp_step.affine`` of ``net`` when ``mlp_step`` supports it, else None; taken again when ``net`` or its
        first weight's storage changes (a parameter replaced rather than updated in place)."""
        first = next(iter(self.net.parameters()), None)
        key = (self.net, first.data_ptr() if first is not None else 0)
        if self._affine_of != key:
            supported = mlp_step.supports(self.net, self.device)
            self._affine = mlp_step.affine([m for m in self.net if isinstance(m, torch.nn.Linear)]) if supported \
                else None
            self._affine_of = key
        return self._affine


class IDQN(TorchLearner):
    """The learner: ``learn`` trains on an ``EpisodeDriver``; ``policy`` is its greedy ``QNetPolicy``.

    The torch Q-network is ``IDQN.q`` (also ``IDQN.policy.net``); ``target`` is its Polyak-averaged copy.
    """

    name = "idqn"
    env_kind = "parallel"
    description = "independent DQN in torch (shared network, preferences = Q-values)"
    config_class = IDQNConfig
    MODEL_FILE = MODEL_FILE
    ENV_FILE = ENV_FILE
    STATE = {"q": ("q", "the Q-network"), "target": ("target", "the target network"),
             "optim": ("optim", "the optimizer state")}
    hp: IDQNConfig

    def build(self) -> None:
        hp = self.hp
        self.q = self._net().to(self.device)
        self.target = self._net().to(self.device)
        self.target.load_state_dict(self.q.state_dict())
        self.optim = Adam(self.q.parameters(), lr=hp.lr)  # the Q-network's parameters become views of one buffer
        self._params = list(self.q.parameters())
        self._target_flat, _ = flatten_(list(self.target.parameters()), with_grad=False)  # the same layout
        self.buffer = ReplayBuffer(hp.buffer_size, self.obs_dim, self.n_actions)
        self.nstep = NStepReturns(hp.n_step, hp.gamma)
        self.policy = QNetPolicy(self.q, hp.mask_actions, self.device)
        self._mlp_step = mlp_step.MLPQStep(self.q, self.target, self.optim, self._target_flat) \
            if not hp.dueling and mlp_step.supports(self.q, self.device) else None

    def _net(self) -> torch.nn.Module:
        hp = self.hp
        return DuelingQ(self.obs_dim, hp.hidden, self.n_actions) if hp.dueling else \
            mlp(self.obs_dim, hp.hidden, self.n_actions)

    # ------------------------------------------------------------------ acting
    def epsilon(self, rounds: int) -> float:
        frac = min(1.0, rounds / max(1, self.hp.eps_decay_rounds))
        return self.hp.eps_start + frac * (self.hp.eps_end - self.hp.eps_start)

    def explore(self, prefs: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
        """Epsilon-greedy actions [N]: greedy on ``prefs`` [N, A], else uniform over the allowed actions."""
        allowed = mask > 0 if self.hp.mask_actions else np.ones(mask.shape, dtype=bool)
        random_action = np.argmax(self.rng.random(mask.shape) * allowed, axis=1)
        explore = self.rng.random(len(prefs)) < eps
        return np.where(explore, random_action, np.argmax(prefs, axis=1))

    # ------------------------------------------------------------------ learning
    def update(self) -> float:
        """One gradient step on a sampled batch; returns the loss.

        Double DQN picks the next action with the online network and scores it with the target network. A plain
        ReLU MLP on the CPU takes the written-out step (``agents.learners.mlp_step``: the same maths to float
        rounding, about two thirds of the time at 64x64 units); other networks (the dueling head) and devices go
        through autograd (``update_autograd``).
        """
        if self._mlp_step is not None:
            loss = self._mlp_step.sample_step(self.buffer, self.rng, self.hp)
            self.updates += 1
            return loss
        return self.update_autograd()

    def update_autograd(self) -> float:
        """``update`` through autograd, for any network: also the reference the written-out step is tested against.

        The online network's pass over the next observations stays a separate no-grad forward: stacking it onto
        the batch's forward would make the backward pass twice as long. Clipping, Adam and the Polyak update run
        over flat parameter buffers (``agents.learners.optim``).
        """
        b = self.buffer.sample(self.rng, self.hp.batch_size)
        obs, actions, y = self.td_batch(b)
        q = self.q(obs).gather(1, actions[:, None]).squeeze(1)
        return self.apply_loss(F.smooth_l1_loss(q, y))

    def td_batch(self, b: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sampled batch's observations, actions and (double-Q, masked) TD targets, as tensors on the device."""
        hp = self.hp
        obs, next_obs = as_tensor(b.obs, self.device), as_tensor(b.next_obs, self.device)
        actions = as_tensor(b.actions, self.device, torch.int64)
        rewards = as_tensor(b.rewards * hp.reward_scale, self.device)
        discount = as_tensor(b.discount, self.device)
        with torch.no_grad():
            target_q = self.target(next_obs)
            chooser = self.q(next_obs) if hp.double_q else target_q
            if hp.mask_actions:
                chooser = chooser.masked_fill(~as_tensor(b.next_mask, self.device, torch.bool), -torch.inf)
            best = chooser.argmax(dim=1, keepdim=True)
            y = rewards + discount * target_q.gather(1, best).squeeze(1)
        return obs, actions, y

    def apply_loss(self, loss: torch.Tensor) -> float:
        """One optimiser step on ``loss``: backward, clip, Adam, the target's Polyak update; returns the loss."""
        self.optim.zero_grad()
        loss.backward()
        clip_grad_norm_(self._params, self.hp.max_grad_norm, self.optim.grad)
        self.optim.step()
        polyak_(self._target_flat, self.optim.data, self.hp.tau)
        self.updates += 1
        return loss.item()

    def set_lr_for(self, rounds: int, budget: int) -> None:
        """The learning rate at ``rounds`` of a ``budget``-round run (linear decay, ``lr_end_fraction``)."""
        frac = min(1.0, rounds / max(1, budget))
        lr = self.hp.lr * (1.0 - frac * (1.0 - self.hp.lr_end_fraction))
        for group in self.optim.param_groups:
            group["lr"] = lr

    def learn(self, driver: EpisodeDriver, ctx: RunContext) -> None:
        """Train until ``driver.rounds`` reaches ``ctx.rounds``, checkpointing and evaluating as scheduled."""
        hp, per_step = self.hp, driver.n_envs  # rounds simulated per driver step
        schedule = CheckpointSchedule(ctx.checkpoint_every, driver.rounds)
        bar = ctx.progress_bar(driver.rounds)
        losses: list[float] = []
        while driver.rounds < ctx.rounds:
            ctx.evaluate_if_due(driver.rounds, self.policy)
            obs, mask = driver.obs, driver.mask
            prefs = self.policy.preferences(obs, mask)
            eps = self.epsilon(driver.rounds)
            actions = self.explore(prefs, mask, eps)
            out = driver.step(actions, prefs if driver.env.shielded else None)
            stored = out.executed if hp.learn_from == "executed" else actions
            for transition in self.nstep.push(obs, stored, out.rewards, out.obs, out.mask, out.terminated, out.done):
                self.buffer.add(*transition)
            due = driver.rounds // hp.train_every_rounds - (driver.rounds - per_step) // hp.train_every_rounds
            if driver.samples >= hp.learning_starts and self.buffer.size >= hp.min_stored() and due:
                if hp.lr_end_fraction != 1.0:
                    self.set_lr_for(driver.rounds, ctx.rounds)
                losses += [self.update() for _ in range(hp.gradient_steps * due)]
            if out.done and losses:
                ctx.log_scalars("train", {"loss": float(np.mean(losses)), "epsilon": eps}, driver.rounds)
                losses = []
            bar.update(per_step)
            if schedule.due(driver.rounds):
                self.save(ctx, driver)
        bar.close()
        self.save(ctx, driver)
        ctx.finish_curve(driver.rounds, self.policy)

    # ------------------------------------------------------------------ checkpoints
    @classmethod
    def new_for(cls, ctx: RunContext, obs_dim: int, n_actions: int) -> IDQN:
        """A fresh learner; a relative epsilon schedule is fixed now in rounds (``IDQNConfig.for_budget``)."""
        return cls(obs_dim, n_actions, ctx.hparams.for_budget(ctx.rounds), ctx.seed, ctx.device)

    def save(self, ctx: RunContext, driver: EpisodeDriver) -> None:
        """Model, optimizer, RNG, replay buffer and the env's mid-episode state into ``checkpoint/``."""
        ckpt = self.save_learner(ctx)
        driver.save_state(ckpt / ENV_FILE)
        ctx.save_state(driver.rounds, driver.episode, samples=driver.samples, gradient_updates=self.updates)

    def checkpoint_tensors(self) -> dict[str, Any]:
        pending = [[torch.from_numpy(np.ascontiguousarray(x)) for x in item] for item in self.nstep.pending]
        return {**super().checkpoint_tensors(), "nstep_pending": pending}

    @classmethod
    def tensor_keys(cls) -> list[str]:
        return [*cls.STATE, "nstep_pending"]

    def save_learner(self, ctx: RunContext, **extra: Any) -> Path:
        """Model, optimizer, RNG and replay buffer (plus ``extra`` entries) into ``checkpoint/``; returns it."""
        ckpt = self.write_checkpoint(ctx, **extra)
        self.buffer.save(ckpt / REPLAY_FILE)
        return ckpt

    def restore_extra(self, ckpt: Path, data: dict[str, Any], meta: dict[str, Any], with_buffer: bool) -> None:
        self.nstep.pending.extend(tuple(t.numpy() for t in item) for item in data["nstep_pending"])
        if with_buffer and (ckpt / REPLAY_FILE).is_file():
            self.buffer.load(ckpt / REPLAY_FILE)

    @classmethod
    def load(cls, ckpt: Path, device: str, with_buffer: bool = True) -> IDQN:
        return super().load(ckpt, device, with_buffer)

    def policy_for_eval(self) -> ScoredPolicy:
        self.q.eval()
        return self.policy

