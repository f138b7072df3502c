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

**Collection at array speed.** With numba and a network the compiled loop can evaluate (a ReLU/Tanh MLP, plain
or dueling: ``agents.common.export.head_rule``), a round's decisions are made in one compiled call
(``CentralizedSchedulingEnv.collect_round``): each decision's observation from the state the head holds, the
epsilon-greedy action from the same uniforms ``IDQN.explore`` draws per decision (drawn for the round at once,
in the same order), the placement; near ties of the greedy action go back to the torch network. The round's
transitions are then built for all edges at once (``ArrayEdgeCredit``) and added to the replay buffer in one
call. The decisions, transitions, draws and so the whole run are those of one ``step`` per decision
(``tests/test_head_collect.py``); without numba the learner steps once per decision (``EdgeCredit``).

**Budget and schedule** in simulated rounds (``CentralizedEpisodes`` counts them and cuts the last episode
at the budget): one ``update`` per ``train_every_rounds`` rounds (``gradient_steps`` each) once
``learning_starts`` transitions are stored; epsilon decays over rounds as for ``idqn``.

**Warm start by imitation** (``demo_fraction`` or ``demo_rounds`` > 0; default 0: none). The first ``demo_rounds``
(or ``demo_fraction`` x the budget) rounds are decided by the greedy head (``agents.baselines.crl_greedy``, in the
same compiled loop, without exploration); their transitions enter the replay buffer as every decision's do, and their
(observation, mask, action) triples form a demonstration set (``DemoSet``). Every gradient step then adds to the TD
loss ``demo_weight`` times the large-margin supervised loss of Deep Q-learning from Demonstrations (DQfD: Hester et
al., AAAI 2018) on a batch of demonstrations: ``max_a [Q(s, a) + margin * (a != a_E)] - Q(s, a_E)`` over the allowed
actions, which holds the demonstrated action's value at least ``demo_margin`` above the others' unless the TD targets
say otherwise. ``pretrain_steps`` gradient steps on both losses run once at the end of the demonstration rounds
(DQfD's pretraining phase). The demonstration rounds count in the budget: the head sees as many simulated rounds as
without a warm start.

**Checkpoints** hold the model, optimizer, RNG and replay buffer (``IDQN.save_learner``) and ``state.json``
with ``rounds``, ``episodes``, ``decisions``, ``samples`` (transitions stored) and ``gradient_updates``. The
head env's mid-episode state is not saved: a resumed run restarts the episode cut by the checkpoint from
its seed (as the SB3 CRL learners do), and the decisions of that episode not yet stored are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from agents.baselines.crl_greedy import EarliestFinishHead
from agents.common.context import CheckpointSchedule, RunContext
from agents.common.export import head_rule
from agents.learners.base import above, at_least, between
from agents.learners.idqn import IDQN, IDQNConfig, QNetPolicy
from agents.learners.networks import as_tensor
from srole_env import CentralizedSchedulingEnv
from srole_env.core import head_kernel
from srole_env.core.head_kernel import HeadRule

if TYPE_CHECKING:
    from agents.common.vec_env import CentralizedEpisodes

DEMO_FILE = "demos.npz"

Transition = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
"""``(obs [1, D], action [1], return [1], next_obs [1, D], next_mask [1, A], discount)`` for ``ReplayBuffer.add``."""


@dataclass(frozen=True)
class CRLIDQNConfig(IDQNConfig):
    """``IDQNConfig`` as it is (MARL's tuned values apply), with the head's own budget check: its transitions are
    stored one decision later, so ``learning_starts`` counts stored transitions and must be at least 1; the warm start
    by imitation of the greedy head (module docstring) is off by default."""

    demo_fraction: float = 0.0
    """Fraction of the run's budget (rounds, at its start) decided by the greedy head as demonstrations (0: no warm
    start); fixed in rounds when the run starts (``for_budget``), as ``eps_decay_fraction``."""
    demo_rounds: int = 0
    """Absolute number of demonstration rounds; > 0 wins over ``demo_fraction``."""
    demo_margin: float = 0.8
    """Margin of the large-margin imitation loss (DQfD's 0.8)."""
    demo_weight: float = 1.0
    """Weight of the imitation loss beside the TD loss in every gradient step once demonstrations exist."""
    pretrain_steps: int = 0
    """Gradient steps on the demonstrations alone at the end of the demonstration rounds (DQfD's pretraining)."""

    LIMITS: ClassVar = {**IDQNConfig.LIMITS, "demo_fraction": between(0.0, 0.99), "demo_rounds": at_least(0),
                        "demo_margin": above(0.0, "the margin"), "demo_weight": at_least(0.0),
                        "pretrain_steps": at_least(0)}

    def demo_rounds_for(self, rounds: int) -> int:
        """Demonstration rounds of a ``rounds``-round run."""
        return self.demo_rounds or round(self.demo_fraction * rounds)

    def for_budget(self, rounds: int) -> CRLIDQNConfig:
        """``IDQNConfig.for_budget``, with the demonstration rounds also fixed in rounds."""
        hp = super().for_budget(rounds)
        return replace(hp, demo_rounds=hp.demo_rounds_for(rounds)) if hp.demo_fraction and not hp.demo_rounds else hp

    def run_problems(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if self.learning_starts < 1:
            return [(("learning_starts",), "the head stores a decision's transition at its edge's next decision, "
                     "so the first gradient step needs learning_starts >= 1 stored transitions (0 samples an "
                     "empty replay buffer)")]
        if self.demo_rounds_for(rounds) >= rounds:
            return [(("demo_rounds", "demo_fraction"), f"the warm start's {self.demo_rounds_for(rounds)} "
                     f"demonstration rounds leave none of the {rounds}-round budget to the learned head")]
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


class ArrayEdgeCredit:
    """``EdgeCredit`` over arrays: a round's decisions at once (``decide_round``), the same transitions in the same
    order with the same floating-point operations (the per-round powers of gamma are Python's, from a table).

    Per edge: its open decision (``open_*``) and a ring of at most ``n_step`` closed one-step transitions.
    """

    def __init__(self, n_edges: int, n_step: int, gamma: float, obs_dim: int, n_actions: int):
        if n_step < 1:
            raise ValueError(f"hyperparameter n_step must be >= 1, got {n_step}")
        self.n, self.n_step, self.gamma = n_edges, n_step, gamma
        self._powers = np.array([1.0])
        self.is_open = np.zeros(n_edges, dtype=bool)
        self.open_obs = np.zeros((n_edges, obs_dim), dtype=np.float32)
        self.open_action = np.zeros(n_edges, dtype=np.int64)
        self.open_reward = np.zeros(n_edges)
        self.open_rounds = np.zeros(n_edges, dtype=np.int64)
        k = n_step
        self.ring_obs = np.zeros((n_edges, k, obs_dim), dtype=np.float32)
        self.ring_action = np.zeros((n_edges, k), dtype=np.int64)
        self.ring_reward = np.zeros((n_edges, k))
        self.ring_next_obs = np.zeros((n_edges, k, obs_dim), dtype=np.float32)
        self.ring_next_mask = np.zeros((n_edges, k, n_actions), dtype=bool)
        self.ring_discount = np.zeros((n_edges, k))
        self.ring_start = np.zeros(n_edges, dtype=np.int64)
        self.ring_len = np.zeros(n_edges, dtype=np.int64)

    def powers(self, rounds: np.ndarray) -> np.ndarray:
        """``gamma ** rounds`` elementwise, each exactly Python's ``gamma ** int`` (``EdgeCredit``'s)."""
        top = int(rounds.max(initial=0))
        if top >= len(self._powers):
            self._powers = np.array([self.gamma**k for k in range(max(2 * top, 64))])
        return self._powers[rounds]

    def decide_round(self, edges: np.ndarray, obs: np.ndarray, masks: np.ndarray,
                     actions: np.ndarray) -> list[np.ndarray] | None:
        """Decisions for distinct ``edges`` [k] in service order at ``obs`` [k, D] / ``masks`` [k, A] with ``actions``:
        each closes its edge's previous decision; the n-step transitions complete, as ``ReplayBuffer.add``'s
        arguments (rows in decision order), or None."""
        closing = self.is_open[edges]
        e = edges[closing]
        out = None
        if len(e):
            slot = (self.ring_start[e] + self.ring_len[e]) % self.n_step
            self.ring_obs[e, slot] = self.open_obs[e]
            self.ring_action[e, slot] = self.open_action[e]
            self.ring_reward[e, slot] = self.open_reward[e]
            self.ring_next_obs[e, slot] = obs[closing]
            self.ring_next_mask[e, slot] = masks[closing]
            self.ring_discount[e, slot] = self.powers(self.open_rounds[e])
            self.ring_len[e] += 1
            full = e[self.ring_len[e] >= self.n_step]
            if len(full):
                out = self._emit(full)
                self.ring_start[full] = (self.ring_start[full] + 1) % self.n_step
                self.ring_len[full] -= 1
        self.is_open[edges] = True
        self.open_obs[edges] = obs
        self.open_action[edges] = actions
        self.open_reward[edges] = 0.0
        self.open_rounds[edges] = 0
        return out

    def pay(self, edge_rewards: list[np.ndarray]) -> None:
        """Add each round's reward [N] to every open decision, discounted by the rounds since it."""
        for rewards in edge_rewards:
            e = np.flatnonzero(self.is_open)
            self.open_reward[e] += self.powers(self.open_rounds[e]) * np.asarray(rewards, dtype=np.float64)[e]
            self.open_rounds[e] += 1

    def end_episode(self) -> list[np.ndarray] | None:
        """Every pending chain with the returns up to its last transition (edge by edge, each chain in order);
        open decisions are dropped."""
        parts, keys = [], []
        for j in range(self.n_step):
            e = np.flatnonzero(self.ring_len > j)
            if not len(e):
                break
            parts.append(self._emit(e, skip=j))
            keys.append(e * self.n_step + j)
        self.ring_len[:] = 0
        self.ring_start[:] = 0
        self.is_open[:] = False
        if not parts:
            return None
        order = np.argsort(np.concatenate(keys), kind="stable")
        return [np.concatenate(column)[order] for column in zip(*parts)]

    def _emit(self, e: np.ndarray, skip: int = 0) -> list[np.ndarray]:
        """For edges ``e``: the transition ``skip`` places into each chain with the returns of the chain's rest."""
        n = self.n_step
        start, length = self.ring_start[e], self.ring_len[e]
        ret, discount = np.zeros(len(e)), np.ones(len(e))
        for k in range(skip, n):
            live = k < length
            slot = (start + k) % n
            ret = np.where(live, ret + discount * self.ring_reward[e, slot], ret)
            discount = np.where(live, discount * self.ring_discount[e, slot], discount)
        first, last = (start + skip) % n, (start + length - 1) % n
        return [self.ring_obs[e, first], self.ring_action[e, first], ret, self.ring_next_obs[e, last],
                self.ring_next_mask[e, last], discount]


class DemoSet:
    """The warm start's demonstrations: (observation, action mask, demonstrated action) rows, at most ``capacity``
    (the arrays grow by doubling: a large cluster decides far fewer tasks a round than it has edges)."""

    def __init__(self, capacity: int, obs_dim: int, n_actions: int):
        self.capacity = capacity
        start = min(capacity, 4096)
        self.obs = np.zeros((start, obs_dim), dtype=np.float32)
        self.masks = np.zeros((start, n_actions), dtype=bool)
        self.actions = np.zeros(start, dtype=np.int64)
        self.size = 0

    def add(self, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray) -> None:
        """Rows [k, D], [k, A], [k]; a row beyond the capacity raises (the capacity bounds the demonstration rounds)."""
        k = len(actions)
        need = self.size + k
        if need > self.capacity:
            raise RuntimeError(f"DemoSet: {need} demonstrations exceed its capacity of {self.capacity}")
        if need > len(self.actions):
            grown = min(self.capacity, max(need, 2 * len(self.actions)))
            self.obs = np.concatenate([self.obs, np.zeros((grown - len(self.obs), self.obs.shape[1]), np.float32)])
            self.masks = np.concatenate([self.masks, np.zeros((grown - len(self.masks), self.masks.shape[1]), bool)])
            self.actions = np.concatenate([self.actions, np.zeros(grown - len(self.actions), np.int64)])
        self.obs[self.size:need] = obs
        self.masks[self.size:need] = masks
        self.actions[self.size:need] = actions
        self.size = need

    def sample(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = rng.integers(0, self.size, size=batch_size)
        return self.obs[idx], self.masks[idx], self.actions[idx]

    def save(self, path: Path) -> None:
        n = self.size
        np.savez(path, obs=self.obs[:n], masks=self.masks[:n], actions=self.actions[:n],
                 capacity=np.array(self.capacity))

    @classmethod
    def load(cls, path: Path) -> DemoSet:
        """The set saved by ``save``; a file whose arrays do not fit raises naming it (no pickles are read)."""
        with np.load(path, allow_pickle=False) as data:
            obs, masks, actions = data["obs"], data["masks"], data["actions"]
            capacity = int(data["capacity"])
        n = len(actions)
        if obs.ndim != 2 or masks.ndim != 2 or len(obs) != n or len(masks) != n or capacity < n:
            raise ValueError(f"{path}: demonstrations of inconsistent shapes ({obs.shape}, {masks.shape}, "
                             f"{actions.shape}, capacity {capacity})")
        out = cls(capacity, obs.shape[1], masks.shape[1])
        out.add(obs, masks.astype(bool), actions.astype(np.int64))
        return out


def margin_loss(q: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor, margin: float) -> torch.Tensor:
    """DQfD's large-margin loss, mean over rows: ``max_a [Q(s, a) + margin (a != a_E)] - Q(s, a_E)`` over the
    allowed actions (``masks``), zero exactly when the demonstrated action leads every other by the margin."""
    penalty = torch.full_like(q, margin).scatter_(1, actions[:, None], 0.0)
    scored = (q + penalty).masked_fill(~masks, -torch.inf)
    return (scored.max(dim=1).values - q.gather(1, actions[:, None]).squeeze(1)).mean()


class HeadLearner:
    """Trains an ``IDQN`` on the head's decisions (``learn``); ``samples`` counts stored transitions.

    ``fast`` (default: when the compiled loop is available and the network exports to a ``HeadRule``) collects a
    round's decisions in the compiled loop (``CentralizedSchedulingEnv.collect_round``) with ``ArrayEdgeCredit``;
    otherwise one ``step`` per decision with ``EdgeCredit``. Both take the same decisions, store the same
    transitions in the same order and draw the same random numbers, so a run is the same either way. With a warm
    start the greedy head decides the first ``demo_rounds`` rounds (no exploration draws) and its decisions are
    also kept as demonstrations; ``pretrained``: the pretraining steps at their end already ran (a resumed run).
    """

    def __init__(self, agent: CRLIDQN, env: CentralizedEpisodes, samples: int = 0, fast: bool | None = None,
                 pretrained: bool = False):
        self.agent, self.env = agent, env
        self.samples = samples
        self.policy = HeadQPolicy(agent.q, agent.hp.mask_actions, agent.device)
        if fast is None:
            fast = head_kernel.available() and head_rule(self.policy) is not None
        self.fast = bool(fast)
        base = env.unwrapped
        n_edges = base.config.n_edges
        self.credit: EdgeCredit | ArrayEdgeCredit = (
            ArrayEdgeCredit(n_edges, agent.hp.n_step, agent.hp.gamma, base.observation_space.shape[0],
                            int(base.action_space.n))
            if self.fast else EdgeCredit(n_edges, agent.hp.n_step, agent.hp.gamma))
        self._rule: HeadRule | None = None
        self._rule_updates = -1
        self.demo_rounds = agent.hp.demo_rounds
        self.pretrained = pretrained
        if self.demo_rounds and agent.demos is None:
            agent.demos = DemoSet((self.demo_rounds + 1) * n_edges, base.observation_space.shape[0],
                                  int(base.action_space.n))
        self._demo_head = EarliestFinishHead()
        self._demo_rule = self._demo_head.head_rule()

    def _store(self, transitions: list[Transition] | list[np.ndarray] | None) -> None:
        """Into the replay buffer: ``EdgeCredit``'s transitions one by one, or ``ArrayEdgeCredit``'s rows at once."""
        if not transitions:
            return
        if self.fast:
            self.agent.buffer.add(*transitions)
            self.samples += len(transitions[1])
            return
        for t in transitions:
            self.agent.buffer.add(*t)
        self.samples += len(transitions)

    def _step(self, obs: np.ndarray) -> tuple[float, tuple[np.ndarray, float, bool, bool, dict]]:
        """One decision through the Gymnasium API; (its epsilon, ``step``'s return values)."""
        agent, env = self.agent, self.env
        edge = env.unwrapped.deciding_edge
        mask = env.unwrapped.action_masks()
        self._store(self.credit.decide(edge, obs, mask))
        if self.demonstrating:
            eps, action = 0.0, int(self._demo_head.act(obs[None, :], mask[None, :])[0])
            agent.demos.add(obs[None, :], mask[None, :], np.array([action]))
        else:
            eps = agent.epsilon(env.rounds)
            action = int(agent.explore(self.policy.preferences(obs[None, :], mask[None, :]), mask[None, :], eps)[0])
        self.credit.act(edge, obs, action)
        return eps, env.step(action)

    def _collect(self) -> tuple[float, tuple[np.ndarray, float, bool, bool, dict]]:
        """The decisions ``_step`` would make until the round ends (or, when the episode's ``reset`` ran rounds
        not yet counted, its first decision alone, as the per-decision path runs their updates after it), in
        the compiled loop with the same exploration draws; (the last decision's epsilon, its return values)."""
        agent, env = self.agent, self.env
        base = env.unwrapped
        now = env.rounds_now
        count = 1 if now != env.rounds else base.decisions_left
        if self.demonstrating:  # the greedy head decides, exactly (no near ties), without exploration draws
            no_draws = np.zeros((count, int(base.action_space.n) + 1))
            decisions, out = env.collect(self._demo_rule, self._demo_act, no_draws, np.zeros(count), count)
            self._store(self.credit.decide_round(*decisions))
            agent.demos.add(decisions.obs, decisions.masks, decisions.actions)
            return 0.0, out
        eps = np.full(count, agent.epsilon(now))
        eps[0] = agent.epsilon(env.rounds)
        rand = agent.rng.random((count, int(base.action_space.n) + 1))  # IDQN.explore's draws, decision by decision
        if self._rule_updates != agent.updates:
            self._rule, self._rule_updates = head_rule(self.policy), agent.updates
        decisions, out = env.collect(self._rule, self._greedy, rand, eps, count)
        self._store(self.credit.decide_round(*decisions))
        return float(eps[-1]), out

    @property
    def demonstrating(self) -> bool:
        """Whether the greedy head decides now (the warm start's first ``demo_rounds`` rounds)."""
        return self.env.rounds < self.demo_rounds

    def _demo_act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The greedy head's action (the compiled loop hands none back: its rule is exact)."""
        return int(self._demo_head.act(obs[None, :], mask[None, :])[0])

    def _pretrain(self, ctx: RunContext) -> None:
        """DQfD's pretraining once the demonstration rounds are over: ``pretrain_steps`` gradient steps."""
        agent, hp = self.agent, self.agent.hp
        self.pretrained = True
        if hp.pretrain_steps and agent.buffer.size >= hp.min_stored() and agent.demos is not None and agent.demos.size:
            losses = [agent.update() for _ in range(hp.pretrain_steps)]
            ctx.log_scalars("pretrain", {"loss": float(np.mean(losses))}, self.env.rounds)

    def _greedy(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The torch network's greedy action (the compiled loop's near ties)."""
        return int(np.argmax(self.policy.preferences(obs[None, :], mask[None, :])[0]))

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
            if head.deciding_edge < 0:
                raise RuntimeError("an episode of the head env had no decision to make; crl_idqn cannot train on it")
            if self.demo_rounds and not self.pretrained and not self.demonstrating:
                self._pretrain(ctx)
            before = env.rounds
            eps, (obs, _, terminated, truncated, info) = self._collect() if self.fast else self._step(obs)
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
        demos = self.agent.demos
        extra = {"demonstrations": demos.size, "demo_pretrained": self.pretrained} if demos is not None else {}
        ctx.save_state(env.rounds, env.episode, decisions=env.decisions, samples=self.samples,
                       gradient_updates=self.agent.updates, **extra)


class CRLIDQN(IDQN):
    """``crl_idqn``: the IDQN learner (same networks, checkpoint and config) trained by ``HeadLearner``."""

    name = "crl_idqn"
    env_kind = "centralized"
    description = "IDQN at the cluster head, each decision credited with its own edge's rewards"
    config_class = CRLIDQNConfig
    hp: CRLIDQNConfig
    demos: DemoSet | None

    def build(self) -> None:
        super().build()
        self.demos = None  # the warm start's demonstrations (``HeadLearner`` creates them: it knows N)

    def update(self) -> float:
        """``IDQN.update``; with demonstrations (the warm start) the TD loss plus ``demo_weight`` x DQfD's margin
        loss on a batch of them, through autograd."""
        if self.demos is None or not self.demos.size or self.hp.demo_weight == 0.0:
            return super().update()
        hp = self.hp
        b = self.buffer.sample(self.rng, hp.batch_size)
        d_obs, d_masks, d_actions = self.demos.sample(self.rng, hp.batch_size)
        obs, actions, y = self.td_batch(b)
        n = len(b.actions)
        q_all = self.q(torch.cat([obs, as_tensor(d_obs, self.device)]))
        q = q_all[:n].gather(1, actions[:, None]).squeeze(1)
        allowed = as_tensor(d_masks if hp.mask_actions else np.ones_like(d_masks), self.device, torch.bool)
        imitation = margin_loss(q_all[n:], allowed, as_tensor(d_actions, self.device, torch.int64), hp.demo_margin)
        return self.apply_loss(F.smooth_l1_loss(q, y) + hp.demo_weight * imitation)

    def save_learner(self, ctx: RunContext, **extra: Any) -> Path:
        """``IDQN.save_learner``, plus the demonstrations (``DEMO_FILE``) when the warm start has some."""
        ckpt = super().save_learner(ctx, **extra)
        if self.demos is not None:
            self.demos.save(ckpt / DEMO_FILE)
        return ckpt

    def restore_extra(self, ckpt: Path, data: dict[str, Any], meta: dict[str, Any], with_buffer: bool) -> None:
        super().restore_extra(ckpt, data, meta, with_buffer)
        if with_buffer and (ckpt / DEMO_FILE).is_file():
            self.demos = DemoSet.load(ckpt / DEMO_FILE)

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
        HeadLearner(agent, env, int(state.get("samples", 0)), pretrained=bool(state.get("demo_pretrained", False))
                    ).learn(ctx)

    def policy_for_eval(self) -> HeadQPolicy:
        """The greedy head policy (``HeadQPolicy.net`` is this learner's torch Q-network ``q``, in eval mode)."""
        self.q.eval()
        return HeadQPolicy(self.q, self.hp.mask_actions, self.device)
