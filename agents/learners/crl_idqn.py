"""``crl_idqn``: the IDQN learner at the cluster head, crediting each head decision with its own edge's rewards.

The head (``CentralizedSchedulingEnv``, one ``step`` per decision) runs the learner of ``agents.learners.idqn``
unchanged: the same Q-network, double DQN, Huber loss, Polyak target, replay buffer, masks, epsilon-greedy
exploration and the same ``IDQNConfig``, so MARL's tuned hyperparameters apply as they are. What differs
from MARL is the information (the head's observation) and the latency (the head queue), not the credit:

**Per-edge trajectories.** A decision for edge e's task is a transition of edge e's own trajectory. Its
reward is edge e's per-agent reward (the parallel env's, ``info["edge_rewards"]``) of every round from
that decision until e's next head decision, discounted per round (``gamma ** k`` for the k-th round after
the decision); its next state is the head's observation and action mask at e's next decision, with
bootstrap discount ``gamma ** rounds``. So gamma means per round what it means for MARL, and a decision
is not diluted by the other N - 1 edges' rewards (the env's scalar reward, the team mean, is not used).
``n_step`` > 1 chains an edge's consecutive transitions (returns and discounts multiply along the chain),
as ``agents.learners.replay.NStepReturns`` does per round for MARL.

**Episode end.** As ``NStepReturns`` after a truncation, every chain still pending is stored with the
returns up to its last complete transition and bootstraps from that transition's next state. A decision
whose edge is not decided again before the episode ends has no next head observation (the head env has
none after its last round), so it is not stored: storing it as terminal would bias the values toward the
horizon, which the observation does not show.

**Budget and schedule** in simulated rounds (``CentralizedEpisodes`` counts them and cuts the last episode
at the budget): one ``update`` per ``train_every_rounds`` rounds (``gradient_steps`` each) once
``learning_starts`` transitions are stored; epsilon decays over rounds as for ``idqn``.

**Checkpoints** hold the model, optimizer, RNG and replay buffer (``IDQN.save_learner``) and ``state.json``
with ``rounds``, ``episodes``, ``decisions``, ``samples`` (transitions stored) and ``gradient_updates``. The
head env's mid-episode state is not saved: a resumed run restarts the episode cut by the checkpoint from
its seed (as the SB3 CRL learners do), and the decisions of that episode not yet stored are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.common.context import CheckpointSchedule, RunContext
from agents.learners.idqn import IDQN, IDQNConfig, QNetPolicy
from srole_env import CentralizedSchedulingEnv

if TYPE_CHECKING:
    from agents.common.vec_env import CentralizedEpisodes

Transition = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
"""``(obs [1, D], action [1], return [1], next_obs [1, D], next_mask [1, A], discount)`` for ``ReplayBuffer.add``."""


@dataclass(frozen=True)
class CRLIDQNConfig(IDQNConfig):
    """``IDQNConfig`` as it is (MARL's tuned values apply), with the head's own budget check: its transitions are
    stored one decision later, so ``learning_starts`` counts stored transitions and must be at least 1."""

    def run_problems(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if self.learning_starts < 1:
            return [(("learning_starts",), "the head stores a decision's transition at its edge's next decision, "
                     "so the first gradient step needs learning_starts >= 1 stored transitions (0 samples an "
                     "empty replay buffer)")]
        return []

    def run_warnings(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if self.learning_starts > rounds * cluster.n_edges:  # at most one decision per edge and round
            return [(("learning_starts",), f"more transitions than the head can decide in {rounds} rounds "
                     f"({cluster.n_edges} a round at most): the policy stays untrained")]
        return []


class HeadQPolicy(QNetPolicy):
    """Greedy policy of the head's Q-network on the centralized env (one row: the deciding edge's task)."""

    name = "crl_idqn"
    env_kind = "centralized"


class EdgeCredit:
    """Builds the per-edge transitions of the head's decisions (module docstring).

    Per decision: ``decide(edge, obs, mask)`` (closes the edge's previous decision, returns transitions
    ready for the buffer), then ``act(edge, obs, action)``; per step: ``pay(edge_rewards)`` with the rounds
    the step ran; at the episode's end: ``end_episode()``.
    """

    def __init__(self, n_edges: int, n_step: int, gamma: float):
        if n_step < 1:
            raise ValueError(f"hyperparameter n_step must be >= 1, got {n_step}")
        self.n_step, self.gamma = n_step, gamma
        self.open: list[list[Any] | None] = [None] * n_edges
        """Per edge: ``[obs, action, reward so far, rounds since the decision]`` of its last decision."""
        self.chains: list[deque[Transition]] = [deque() for _ in range(n_edges)]
        """Per edge: closed one-step transitions not yet part of a stored n-step one."""

    def decide(self, edge: int, obs: np.ndarray, mask: np.ndarray) -> list[Transition]:
        """Edge ``edge`` is decided again at ``obs``/``mask``: its previous decision becomes a transition."""
        pending = self.open[edge]
        self.open[edge] = None
        if pending is None:
            return []
        o, a, reward, rounds = pending
        chain = self.chains[edge]
        chain.append((o, a, reward, obs, mask, self.gamma**rounds))
        if len(chain) < self.n_step:
            return []
        out = [self._n_step(chain)]
        chain.popleft()
        return out

    def act(self, edge: int, obs: np.ndarray, action: int) -> None:
        self.open[edge] = [obs, action, 0.0, 0]

    def pay(self, edge_rewards: list[np.ndarray]) -> None:
        """Add each round's reward [N] to every open decision, discounted by the rounds since it."""
        for rewards in edge_rewards:
            for edge, pending in enumerate(self.open):
                if pending is not None:
                    pending[2] += self.gamma ** pending[3] * float(rewards[edge])
                    pending[3] += 1

    def end_episode(self) -> list[Transition]:
        """Every pending chain with the returns up to its last transition; open decisions are dropped."""
        out = []
        for chain in self.chains:
            while chain:
                out.append(self._n_step(chain))
                chain.popleft()
        self.open = [None] * len(self.open)
        return out

    @staticmethod
    def _n_step(chain: deque[Transition]) -> Transition:
        """The chain's first transition with the discounted returns of the whole chain."""
        ret, discount = 0.0, 1.0
        for _, _, reward, _, _, d in chain:
            ret += discount * reward
            discount *= d
        o, a, *_ = chain[0]
        _, _, _, next_obs, next_mask, _ = chain[-1]
        return (o[None, :], np.array([a]), np.array([ret]), next_obs[None, :], next_mask[None, :], discount)


class HeadLearner:
    """Trains an ``IDQN`` on the head's decisions (``learn``); ``samples`` counts stored transitions."""

    def __init__(self, agent: IDQN, env: CentralizedEpisodes, samples: int = 0):
        self.agent, self.env = agent, env
        self.credit = EdgeCredit(env.unwrapped.config.n_edges, agent.hp.n_step, agent.hp.gamma)
        self.samples = samples
        self.policy = HeadQPolicy(agent.q, agent.hp.mask_actions, agent.device)

    def _store(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self.agent.buffer.add(*t)
        self.samples += len(transitions)

    def learn(self, ctx: RunContext) -> None:
        """Train until ``env.rounds`` reaches ``ctx.rounds``, checkpointing and evaluating as scheduled."""
        agent, env, hp = self.agent, self.env, self.agent.hp
        head = env.unwrapped
        schedule = CheckpointSchedule(ctx.checkpoint_every, env.rounds)
        bar = ctx.progress_bar(env.rounds)
        ctx.evaluate_if_due(env.rounds, self.policy)
        obs, _ = env.reset()
        losses: list[float] = []
        while env.rounds < ctx.rounds:
            edge = head.deciding_edge
            if edge < 0:
                raise RuntimeError("an episode of the head env had no decision to make; crl_idqn cannot train on it")
            mask = head.action_masks()
            self._store(self.credit.decide(edge, obs, mask))
            eps = agent.epsilon(env.rounds)
            action = int(agent.explore(self.policy.preferences(obs[None, :], mask[None, :]), mask[None, :], eps)[0])
            self.credit.act(edge, obs, action)
            before = env.rounds
            obs, _, terminated, truncated, info = env.step(action)
            self.credit.pay(info["edge_rewards"])
            for rounds in range(before + 1, env.rounds + 1):
                if self.samples >= hp.learning_starts and rounds % hp.train_every_rounds == 0:
                    if hp.lr_end_fraction != 1.0:
                        agent.set_lr_for(rounds, ctx.rounds)
                    losses += [agent.update() for _ in range(hp.gradient_steps)]
                ctx.evaluate_if_due(rounds, self.policy)
            bar.update(env.rounds - before)
            if terminated or truncated:
                self._store(self.credit.end_episode())
                if losses:
                    ctx.log_scalars("train", {"loss": float(np.mean(losses)), "epsilon": eps}, env.rounds)
                    losses = []
                if env.rounds < ctx.rounds:
                    obs, _ = env.reset()
            if schedule.due(env.rounds):
                self.save(ctx)
        bar.close()
        self.save(ctx)
        ctx.finish_curve(env.rounds, self.policy)

    def save(self, ctx: RunContext) -> None:
        """The learner's files (``IDQN.save_learner``), then ``state.json`` with the counters."""
        self.agent.save_learner(ctx)
        env = self.env
        ctx.save_state(env.rounds, env.episode, decisions=env.decisions, samples=self.samples,
                       gradient_updates=self.agent.updates)


class CRLIDQN(IDQN):
    """``crl_idqn``: the IDQN learner (same networks, checkpoint and config) trained by ``HeadLearner``."""

    name = "crl_idqn"
    env_kind = "centralized"
    description = "IDQN at the cluster head, each decision credited with its own edge's rewards"
    config_class = CRLIDQNConfig

    @classmethod
    def run(cls, ctx: RunContext) -> None:
        """Train (or resume) a ``crl_idqn`` run described by ``ctx``."""
        from agents.common.vec_env import CentralizedEpisodes  # imports SB3's VecEnv: only when a head run starts

        if ctx.shield != "none":
            raise ValueError("shield: crl_idqn schedules on the centralized env, which takes no shield; use none")
        base = CentralizedSchedulingEnv(ctx.config)
        state = ctx.state
        env = CentralizedEpisodes(base, ctx.seed, ctx.episode_log, episode=int(state.get("episodes", 0)),
                                  rounds=ctx.start_rounds, decisions=int(state.get("decisions", 0)),
                                  budget=ctx.rounds)
        obs_dim, n_actions = base.observation_space.shape[0], int(base.action_space.n)
        if ctx.resume:
            agent = cls.load(ctx.run.checkpoint, ctx.device)
        else:
            agent = cls.new_for(ctx, obs_dim, n_actions)
        HeadLearner(agent, env, int(state.get("samples", 0))).learn(ctx)

    def policy_for_eval(self) -> HeadQPolicy:
        """The greedy head policy (``HeadQPolicy.net`` is this learner's torch Q-network ``q``, in eval mode)."""
        self.q.eval()
        return HeadQPolicy(self.q, self.hp.mask_actions, self.device)
