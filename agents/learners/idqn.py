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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agents.common.array_env import EpisodeDriver
from agents.common.context import CheckpointSchedule, RunContext, make_hparams, resume_driver, saved_hparams
from agents.common.policy import ScoredPolicy
from agents.learners.networks import MASKED_SCORE, DuelingQ, as_tensor, mlp
from agents.learners.replay import NStepReturns, ReplayBuffer
from srole_common.persist import load_checkpoint, restore, save_checkpoint

MODEL_FILE = "idqn.pt"
REPLAY_FILE = "replay.npz"
ENV_FILE = "env.npz"


@dataclass(frozen=True)
class IDQNConfig:
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


class QNetPolicy(ScoredPolicy):
    """Greedy policy of a Q-network: preferences are the Q-values [N, A] (masked actions: ``MASKED_SCORE``)."""

    name = "idqn"

    def __init__(self, net: torch.nn.Module, mask_actions: bool, device: str):
        self.net = net
        self.mask_actions = mask_actions
        self.device = device

    @torch.no_grad()
    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        q = self.net(as_tensor(obs, self.device)).cpu().numpy().astype(np.float64)
        return np.where(mask > 0, q, MASKED_SCORE) if self.mask_actions else q


class IDQN:
    """The learner: ``learn`` trains on an ``EpisodeDriver``; ``policy`` is its greedy ``QNetPolicy``."""

    def __init__(self, obs_dim: int, n_actions: int, hp: IDQNConfig, seed: int, device: str = "cpu"):
        if hp.learn_from not in ("executed", "chosen"):
            raise ValueError(f"hyperparameter learn_from must be 'executed' or 'chosen', got {hp.learn_from!r}")
        if not 0.0 <= hp.lr_end_fraction <= 1.0:
            raise ValueError(f"hyperparameter lr_end_fraction must be in [0, 1], got {hp.lr_end_fraction!r}")
        self.hp, self.device = hp, device
        self.obs_dim, self.n_actions = obs_dim, n_actions
        torch.manual_seed(seed)
        self.q = self._net().to(device)
        self.target = self._net().to(device)
        self.target.load_state_dict(self.q.state_dict())
        self.optim = torch.optim.Adam(self.q.parameters(), lr=hp.lr)
        self.buffer = ReplayBuffer(hp.buffer_size, obs_dim, n_actions)
        self.nstep = NStepReturns(hp.n_step, hp.gamma)
        self.rng = np.random.default_rng(seed)
        self.updates = 0
        self.policy = QNetPolicy(self.q, hp.mask_actions, device)

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
        """One gradient step on a sampled batch; returns the loss."""
        hp = self.hp
        b = self.buffer.sample(self.rng, hp.batch_size)
        obs, next_obs = as_tensor(b.obs, self.device), as_tensor(b.next_obs, self.device)
        actions = as_tensor(b.actions, self.device, torch.int64)
        rewards = as_tensor(b.rewards * hp.reward_scale, self.device)
        discount = as_tensor(b.discount, self.device)
        with torch.no_grad():
            next_mask = as_tensor(b.next_mask, self.device, torch.bool)
            target_q = self.target(next_obs)
            chooser = self.q(next_obs) if hp.double_q else target_q
            if hp.mask_actions:
                chooser = chooser.masked_fill(~next_mask, -torch.inf)
            best = chooser.argmax(dim=1, keepdim=True)
            y = rewards + discount * target_q.gather(1, best).squeeze(1)
        q = self.q(obs).gather(1, actions[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        self.optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q.parameters(), hp.max_grad_norm)
        self.optim.step()
        with torch.no_grad():
            for p, tp in zip(self.q.parameters(), self.target.parameters()):
                tp.mul_(1.0 - hp.tau).add_(p, alpha=hp.tau)
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
        hp, n = self.hp, driver.env.n_agents
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
            if driver.rounds * n >= hp.learning_starts and driver.rounds % hp.train_every_rounds == 0:
                if hp.lr_end_fraction != 1.0:
                    self.set_lr_for(driver.rounds, ctx.rounds)
                losses += [self.update() for _ in range(hp.gradient_steps)]
            if out.done and losses:
                ctx.log_scalars("train", {"loss": float(np.mean(losses)), "epsilon": eps}, driver.rounds)
                losses = []
            bar.update(1)
            if schedule.due(driver.rounds):
                self.save(ctx, driver)
        bar.close()
        self.save(ctx, driver)
        ctx.finish_curve(driver.rounds, self.policy)

    # ------------------------------------------------------------------ checkpoints
    def save(self, ctx: RunContext, driver: EpisodeDriver) -> None:
        """Model, optimizer, RNG, replay buffer and the env's mid-episode state into ``checkpoint/``."""
        ckpt = self.save_learner(ctx)
        driver.save_state(ckpt / ENV_FILE)
        ctx.save_state(driver.rounds, driver.episode, samples=driver.rounds * driver.env.n_agents,
                       gradient_updates=self.updates)

    def save_learner(self, ctx: RunContext, **extra: Any) -> Path:
        """Model, optimizer, RNG and replay buffer (plus ``extra`` entries) into ``checkpoint/``; returns it."""
        ckpt = ctx.run.checkpoint
        ckpt.mkdir(parents=True, exist_ok=True)
        pending = list(self.nstep.pending)
        save_checkpoint(ckpt / MODEL_FILE, {
            "q": self.q.state_dict(), "target": self.target.state_dict(), "optim": self.optim.state_dict(),
            "nstep_pending": [[torch.from_numpy(np.ascontiguousarray(x)) for x in item] for item in pending],
        }, {"hparams": asdict(self.hp), "obs_dim": self.obs_dim, "n_actions": self.n_actions,
            "rng": self.rng.bit_generator.state, "updates": self.updates, **extra})
        self.buffer.save(ckpt / REPLAY_FILE)
        return ckpt

    @classmethod
    def load(cls, ckpt: Path, device: str, with_buffer: bool = True) -> IDQN:
        path = Path(ckpt) / MODEL_FILE
        data, meta = load_checkpoint(path, device, ("q", "target", "optim", "nstep_pending"),
                                     ("hparams", "obs_dim", "n_actions", "rng", "updates"))
        hp = restore(path, "hyperparameters", saved_hparams, IDQNConfig, meta["hparams"])
        agent = restore(path, "sizes", cls, int(meta["obs_dim"]), int(meta["n_actions"]), hp, 0, device)
        restore(path, "the Q-network", agent.q.load_state_dict, data["q"])
        restore(path, "the target network", agent.target.load_state_dict, data["target"])
        restore(path, "the optimizer state", agent.optim.load_state_dict, data["optim"])
        restore(path, "the RNG state", setattr, agent.rng.bit_generator, "state", meta["rng"])
        agent.updates = int(meta["updates"])
        agent.nstep.pending.extend(tuple(t.numpy() for t in item) for item in data["nstep_pending"])
        if with_buffer and (Path(ckpt) / REPLAY_FILE).is_file():
            agent.buffer.load(Path(ckpt) / REPLAY_FILE)
        return agent


def run(ctx: RunContext) -> None:
    """Train (or resume) an IDQN run described by ``ctx``."""
    env = ctx.make_env()
    if ctx.resume:
        agent = IDQN.load(ctx.run.checkpoint, ctx.device)
        driver = resume_driver(env, ctx, ENV_FILE)
    else:
        agent = IDQN(env.obs_dim, env.n_actions, budget_hparams(ctx.hparams, ctx.rounds), ctx.seed, ctx.device)
        driver = EpisodeDriver(env, ctx.seed, ctx.episode_log)
    agent.learn(driver, ctx)


def budget_hparams(overrides: dict[str, Any], rounds: int) -> IDQNConfig:
    """The run's hyperparameters; a relative epsilon schedule is fixed now in rounds (and saved with the checkpoint)."""
    hp = make_hparams(IDQNConfig, overrides)
    if hp.eps_decay_rounds == 0:
        hp = replace(hp, eps_decay_rounds=max(1, round(hp.eps_decay_fraction * rounds)))
    return hp


def load_policy(ckpt: Path, device: str = "cpu") -> QNetPolicy:
    """The greedy policy of a checkpoint (no replay buffer loaded)."""
    agent = IDQN.load(ckpt, device, with_buffer=False)
    agent.q.eval()
    return agent.policy


def hparams(overrides: dict[str, Any]) -> dict[str, Any]:
    """The full hyperparameter dict a run with ``overrides`` uses (written to ``config.json``)."""
    return asdict(make_hparams(IDQNConfig, overrides))

