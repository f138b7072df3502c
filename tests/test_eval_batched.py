"""``evaluate``'s batched path (``ArrayEnv``: arrays in and out, one policy call for all agents of a round) gives
the per-episode figures of the PettingZoo dict API driven agent by agent, for a heuristic and a learned policy,
without a shield and behind each shield."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import srole_env
from agents.baselines.heuristics import make_heuristic
from agents.common.array_env import make_parallel_env
from agents.harness.evaluate import evaluate
from agents.learners.idqn import QNetPolicy
from agents.learners.networks import mlp

CFG = {"scenario": "paper", "n_edges": 30, "horizon": 20}


def _learned() -> QNetPolicy:
    torch.manual_seed(0)
    cfg = srole_env.make_config(**CFG)
    return QNetPolicy(mlp(cfg.n_candidates * 6 + 6, (32, 32), cfg.n_actions), True, "cpu")


def _dict_episode(policy, shield: str, seed: int) -> dict[str, float]:
    """One episode through ``reset``/``step`` with per-agent dicts (and per-agent preference dicts to a shield)."""
    env = make_parallel_env(srole_env.make_config(**CFG), shield)
    obs, _ = env.reset(seed=seed)
    policy.reset()
    total = 0.0
    while env.agents:
        agents = list(env.agents)
        o = np.stack([obs[a]["observation"] for a in agents])
        m = np.stack([obs[a]["action_mask"] for a in agents])
        prefs = policy.preferences(o, m)
        actions = {a: int(x) for a, x in zip(agents, np.argmax(prefs, axis=1))}
        if shield == "none":
            obs, rewards, _, _, _ = env.step(actions)
        else:
            obs, rewards, _, _, _ = env.step(actions, {a: prefs[i] for i, a in enumerate(agents)})
        total += float(np.mean([rewards[a] for a in agents]))
    return {"episode_return": total, **env.unwrapped.metrics()}


@pytest.mark.parametrize("shield", ["none", "central", "decentralized"])
@pytest.mark.parametrize("which", ["least_loaded", "learned"])
def test_batched_evaluation_matches_the_dict_api(shield, which):
    policy = make_heuristic("least_loaded", 0) if which == "least_loaded" else _learned()
    rows = evaluate(policy, shield, CFG, episodes=2, seed=11)["rows"]
    for row in rows:
        expected = _dict_episode(policy, shield, row["seed"])
        assert row["episode_return"] == pytest.approx(expected["episode_return"], rel=1e-12, abs=1e-12)
        for key, value in expected.items():
            if key == "episode_return":
                continue
            assert row[key] == value or (math.isnan(value) and math.isnan(row[key])), key
        assert row["tasks_placed"] > 0


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("hidden, activation", [((64, 64), torch.nn.ReLU), ((128, 128), torch.nn.ReLU),
                                                ((96,), torch.nn.Tanh)])
def test_a_large_rounds_forward_in_blocks_is_the_one_call_forward_bit_for_bit(hidden, activation):
    from agents.learners.networks import FORWARD_BLOCK_ROWS, DuelingQ, forward_rows

    torch.manual_seed(2)
    net = mlp(37, hidden, 21, activation=activation)
    rng = np.random.default_rng(3)
    for n in (2 * FORWARD_BLOCK_ROWS + 1, 3 * FORWARD_BLOCK_ROWS - 7, 10_000, int(rng.integers(12_000, 30_000))):
        x = torch.as_tensor(rng.random((n, 37), dtype=np.float32) * 4)
        with torch.no_grad():
            assert torch.equal(forward_rows(net, x), net(x)), n
    dueling = DuelingQ(37, hidden, 21)  # a row-wise reduction: never split
    calls = []
    dueling.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        forward_rows(dueling, torch.zeros(10_000, 37))
    assert calls == [1]
