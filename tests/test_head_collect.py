"""The head learner's collection in the compiled loop (``CentralizedSchedulingEnv.collect_round`` with
``ArrayEdgeCredit``) against one ``step`` per decision with ``EdgeCredit``: the same transitions, in the same order,
and with exploration on the same run from the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import srole_env
from agents.common.export import head_rule
from agents.harness.train import train
from agents.learners.crl_idqn import ArrayEdgeCredit, EdgeCredit, HeadQPolicy
from agents.learners.idqn import IDQN, IDQNConfig
from agents.learners.replay import ReplayBuffer
from srole_env.core import head_kernel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLUSTER = {"scenario": "paper", "n_edges": 60, "horizon": 12, "arrival_rate": 0.03}
"""Busy enough that edges are decided again within an episode (transitions close) and masks have zeros."""
COLUMNS = ("obs", "actions", "rewards", "next_obs", "next_mask", "discount")


def _agent(env: srole_env.CentralizedSchedulingEnv, seed: int, **hp) -> IDQN:
    return IDQN(env.observation_space.shape[0], int(env.action_space.n), IDQNConfig(hidden=(32, 32), **hp), seed,
                "cpu")


def _per_decision(env, agent: IDQN, seed: int, eps: float, n_step: int) -> tuple[ReplayBuffer, list[int]]:
    """An episode stepped once per decision, transitions from ``EdgeCredit`` (the reference)."""
    policy = HeadQPolicy(agent.q, agent.hp.mask_actions, "cpu")
    credit = EdgeCredit(env.config.n_edges, n_step, agent.hp.gamma)
    buf = ReplayBuffer(100_000, env.observation_space.shape[0], int(env.action_space.n))
    obs, _ = env.reset(seed=seed)
    actions: list[int] = []
    while env.deciding_edge >= 0:
        edge, mask = env.deciding_edge, env.action_masks()
        for t in credit.decide(edge, obs, mask):
            buf.add(*t)
        action = int(agent.explore(policy.preferences(obs[None, :], mask[None, :]), mask[None, :], eps)[0])
        credit.act(edge, obs, action)
        actions.append(action)
        obs, _, _, _, info = env.step(action)
        credit.pay(info["edge_rewards"])
    for t in credit.end_episode():
        buf.add(*t)
    return buf, actions


def _by_round(env, agent: IDQN, seed: int, eps: float, n_step: int) -> tuple[ReplayBuffer, list[int]]:
    """The same episode a round at a time in the compiled loop, transitions from ``ArrayEdgeCredit``."""
    policy = HeadQPolicy(agent.q, agent.hp.mask_actions, "cpu")
    rule = head_rule(policy)
    credit = ArrayEdgeCredit(env.config.n_edges, n_step, agent.hp.gamma, env.observation_space.shape[0],
                             int(env.action_space.n))
    buf = ReplayBuffer(100_000, env.observation_space.shape[0], int(env.action_space.n))
    env.reset(seed=seed)
    actions: list[int] = []

    def greedy(obs, mask):
        return int(np.argmax(policy.preferences(obs[None, :], mask[None, :])[0]))

    while env.deciding_edge >= 0:
        m = env.decisions_left
        rand = agent.rng.random((m, int(env.action_space.n) + 1))
        decisions, (_, _, _, _, info) = env.collect_round(rule, greedy, rand, np.full(m, eps))
        out = credit.decide_round(*decisions)
        if out is not None:
            buf.add(*out)
        actions += decisions.actions.tolist()
        credit.pay(info["edge_rewards"])
    out = credit.end_episode()
    if out is not None:
        buf.add(*out)
    return buf, actions


def _same(a: ReplayBuffer, b: ReplayBuffer) -> None:
    assert a.size == b.size > 0
    for name in COLUMNS:
        assert np.array_equal(getattr(a, name)[: a.size], getattr(b, name)[: b.size]), name


@pytest.mark.skipif(not head_kernel.available(), reason="the compiled loop needs numba")
@pytest.mark.parametrize(("n_step", "net"), [(1, {}), (3, {}), (2, {"dueling": True, "mask_actions": False})])
def test_collect_round_stores_the_per_decision_transitions(n_step, net):
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    for seed in (0, 1):
        # exploration off, a fixed network: the greedy decisions and their transitions, row for row
        slow, slow_actions = _per_decision(env, _agent(env, 3, **net), seed, 0.0, n_step)
        fast, fast_actions = _by_round(env, _agent(env, 3, **net), seed, 0.0, n_step)
        assert slow_actions == fast_actions and len(set(slow_actions)) > 2
        _same(slow, fast)
        assert (slow.discount[: slow.size] < 1.0).any() and not slow.next_mask[: slow.size].all()
        # exploring: the same draws make the same decisions on both paths
        slow, slow_actions = _per_decision(env, _agent(env, 4, **net), seed, 0.5, n_step)
        fast, fast_actions = _by_round(env, _agent(env, 4, **net), seed, 0.5, n_step)
        assert slow_actions == fast_actions
        _same(slow, fast)
    # and a different seed explores differently
    other, other_actions = _by_round(env, _agent(env, 5, **net), 0, 0.5, n_step)
    assert other_actions != fast_actions


SPARSE = {**CLUSTER, "arrival_rate": 0.002}
"""Few tasks: some episodes' ``reset`` runs rounds without decisions (counted at the first decision)."""


def _run(tmp_path: Path, name: str, hp: dict, cluster: dict) -> tuple[ReplayBuffer, dict]:
    run = train("crl_idqn", "none", cluster, 60, 2, tmp_path / name, "cpu", hparams=hp, progress=False)
    agent = IDQN.load(run / "checkpoint", "cpu")
    return agent.buffer, {k: v.clone() for k, v in agent.q.state_dict().items()}


@pytest.mark.skipif(not head_kernel.available(), reason="the compiled loop needs numba")
@pytest.mark.parametrize("cluster", [CLUSTER, SPARSE])
def test_training_is_the_same_run_on_both_paths(tmp_path: Path, monkeypatch, cluster):
    hp = {"learning_starts": 20, "batch_size": 16, "hidden": [16, 16], "n_step": 2, "eps_decay_rounds": 40}
    calls = []
    collect = srole_env.CentralizedSchedulingEnv.collect_round
    monkeypatch.setattr(srole_env.CentralizedSchedulingEnv, "collect_round",
                        lambda self, *a, **k: calls.append(1) or collect(self, *a, **k))
    fast_a, weights_a = _run(tmp_path, "a", hp, cluster)
    assert calls  # the compiled loop collected
    fast_b, weights_b = _run(tmp_path, "b", hp, cluster)
    _same(fast_a, fast_b)  # run to run
    monkeypatch.setattr(head_kernel, "available", lambda: False)  # HeadLearner then steps once per decision
    slow, weights_slow = _run(tmp_path, "slow", hp, cluster)
    _same(fast_a, slow)
    for key, value in weights_slow.items():
        assert np.array_equal(value.numpy(), weights_a[key].numpy()), key


def test_collect_round_refuses_bad_draws():
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    env.reset(seed=0)
    rule = head_rule(HeadQPolicy(_agent(env, 0).q, True, "cpu"))
    m, a = env.decisions_left, int(env.action_space.n)
    with pytest.raises(ValueError, match="rand must have shape"):
        env.collect_round(rule, lambda o, k: 0, np.zeros((m, a)), np.zeros(m))
    with pytest.raises(ValueError, match="count must be in"):
        env.collect_round(rule, lambda o, k: 0, np.zeros((m + 1, a + 1)), np.zeros(m + 1), count=m + 1)
