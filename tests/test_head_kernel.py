"""The head's compiled decision loop (``CentralizedSchedulingEnv.decide_round``) makes the decisions of the
per-decision Gymnasium API: the same joint actions and start delays handed to the simulator every round, the
same episode return and the same metrics, for the greedy head and for trained ``crl_idqn`` heads (plain and
dueling Q-networks) and SB3 heads (MaskablePPO's actor, DQN's Q-network), at N = 20 and N = 2,000 on 3 seeds; and
the Python form of the loop (no numba) agrees."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import srole_env
from agents.baselines.crl_greedy import EarliestFinishHead
from agents.common.export import head_rule
from agents.harness.evaluate import evaluate
from agents.harness.policies import load_policy
from agents.harness.train import train
from srole_env.core import head_kernel
from srole_env.core.head_kernel import HeadRule

TRAIN = {"scenario": "paper", "n_edges": 20, "horizon": 30}
HP = {"learning_starts": 50, "batch_size": 32, "lr": 1e-3}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> dict[str, object]:
    """The greedy head and two crl_idqn heads trained for 60 rounds at N = 20 (a plain and a dueling Q-network)."""
    root = tmp_path_factory.mktemp("heads")
    out: dict[str, object] = {"crl_greedy": EarliestFinishHead()}
    nets = {"crl_idqn": {"hidden": [64, 64]}, "crl_idqn_dueling": {"hidden": [32, 32], "dueling": True}}
    for name, extra in nets.items():
        run = train("crl_idqn", "none", TRAIN, 60, 0, Path(root) / name, "cpu", hparams={**HP, **extra},
                    progress=False)
        out[name] = load_policy(run)[0]
    sb3 = {"crl_maskable_ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 1},
           "crl_dqn": {"learning_starts": 50, "batch_size": 32}}
    for algo, hp in sb3.items():
        run = train(algo, "none", TRAIN, 60, 0, Path(root) / algo, "cpu", hparams=hp, progress=False)
        out[algo] = load_policy(run)[0]
    return out


def _episode(env: srole_env.CentralizedSchedulingEnv, policy, seed: int, fast: bool) -> dict[str, object]:
    """Run one episode; record what the head hands the simulator each round (joint actions, start delays)."""
    sent: list[tuple[np.ndarray, np.ndarray]] = []
    run_round = type(env.sim).step

    def recording_step(actions, decision_latency=None):
        sent.append((np.array(actions, copy=True), np.array(decision_latency, dtype=float, copy=True)))
        return run_round(env.sim, actions, decision_latency)

    env.sim.step = recording_step
    handed_back = []

    def act(obs: np.ndarray, mask: np.ndarray) -> int:
        handed_back.append(1)
        return int(policy.act(obs[None, :], mask[None, :].astype(np.int8))[0])

    try:
        obs, info = env.reset(seed=seed)
        total = float(info["reward_before_first_decision"])
        rule = head_rule(policy) if fast else None
        done = env.deciding_edge < 0
        while not done:
            if fast:
                obs, reward, terminated, truncated, info = env.decide_round(rule, act)
            else:
                obs, reward, terminated, truncated, info = env.step(act(obs, env.action_masks()))
            total += reward
            done = terminated or truncated
    finally:
        del env.sim.step
    return {"return": total, "metrics": env.metrics(), "sent": sent, "handed_back": len(handed_back),
            "last_info": info}


def _same(a: dict, b: dict) -> None:
    assert a["return"] == b["return"]
    assert a["metrics"].keys() == b["metrics"].keys()
    for key, value in a["metrics"].items():
        other = b["metrics"][key]
        assert value == other or (math.isnan(value) and math.isnan(other)), key
    assert len(a["sent"]) == len(b["sent"])
    for i, ((act_a, lat_a), (act_b, lat_b)) in enumerate(zip(a["sent"], b["sent"])):
        assert np.array_equal(act_a, act_b), f"round {i}: joint actions differ"
        assert np.array_equal(lat_a, lat_b), f"round {i}: start delays differ"
    assert a["last_info"].keys() == b["last_info"].keys()


@pytest.mark.parametrize("name", ["crl_greedy", "crl_idqn", "crl_idqn_dueling", "crl_maskable_ppo", "crl_dqn"])
@pytest.mark.parametrize(("n_edges", "horizon"), [(20, 30), (2000, 3)])
def test_compiled_loop_makes_the_per_decision_envs_decisions(heads, name, n_edges, horizon):
    policy = heads[name]
    assert head_rule(policy) is not None  # the policy takes the compiled loop
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config("paper", n_edges=n_edges, horizon=horizon))
    decisions = 0
    for seed in SEEDS:
        slow, fast = _episode(env, policy, seed, fast=False), _episode(env, policy, seed, fast=True)
        _same(fast, slow)
        decisions += slow["handed_back"]
        # the learned rule hands back only near ties; the greedy rule is exact
        assert fast["handed_back"] == 0 if name == "crl_greedy" else fast["handed_back"] < 0.05 * slow["handed_back"]
    assert decisions > (50 if n_edges == 20 else 1000)  # the episodes did decide


def test_python_form_of_the_loop_agrees(heads, monkeypatch):
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**TRAIN))
    compiled = [_episode(env, heads[name], 3, fast=True) for name in ("crl_greedy", "crl_idqn")]
    monkeypatch.setenv("SROLE_NUMBA", "0")
    assert not head_kernel.available()
    for name, other in zip(("crl_greedy", "crl_idqn"), compiled):
        _same(_episode(env, heads[name], 3, fast=True), other)


def test_evaluate_uses_the_loop_and_matches_the_step_api(heads):
    cfg = srole_env.make_config("paper", n_edges=200, horizon=10)
    for name in ("crl_greedy", "crl_idqn"):
        fast = evaluate(heads[name], None, cfg, episodes=2, seed=7)
        slow = evaluate(heads[name], None, cfg, episodes=2, seed=7, fast_head=False)
        for a, b in zip(fast["rows"], slow["rows"]):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key] == b[key] or (isinstance(a[key], float) and math.isnan(a[key]) and math.isnan(b[key]))


def test_export_reads_only_networks_it_can_reproduce():
    class Holder:
        name, env_kind, mask_actions = "h", "centralized", True

        def __init__(self, net):
            self.net = net

    lin = torch.nn.Linear(58, 6)
    assert head_rule(Holder(torch.nn.Sequential(lin, torch.nn.LayerNorm(6)))) is None
    assert head_rule(Holder(torch.nn.Sequential(torch.nn.Linear(58, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6),
                                                torch.nn.Tanh(), torch.nn.Linear(6, 6)))) is None  # mixed activations
    rule = head_rule(Holder(torch.nn.Sequential(torch.nn.Linear(58, 8), torch.nn.Tanh(), torch.nn.Linear(8, 6))))
    assert rule is not None and rule.activation == "tanh" and not rule.dueling
    assert head_rule(object()) is None
    with pytest.raises(ValueError, match="inputs"):
        rule.check_fits(60, 6)
    with pytest.raises(ValueError, match="kind"):
        HeadRule("nearest")


def test_decide_round_needs_a_policy_for_near_ties_and_a_live_episode():
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**TRAIN))
    env.reset(seed=0)
    net = torch.nn.Sequential(torch.nn.Linear(58, 6))
    rule = HeadRule("mlp", (net[0].weight.detach().numpy(),), (net[0].bias.detach().numpy(),))
    with pytest.raises(ValueError, match="act"):
        env.decide_round(rule)
    while env.deciding_edge >= 0:
        env.decide_round(HeadRule("earliest_finish"))
    with pytest.raises(RuntimeError, match="finished"):
        env.decide_round(HeadRule("earliest_finish"))


def test_compiled_loop_with_a_fixed_oversubscription_efficiency(heads):
    """The ``oversubscription_efficiency`` override replaces the measured curve in the compute estimate."""
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**TRAIN, oversubscription_efficiency=0.6))
    for name in ("crl_greedy", "crl_idqn"):
        _same(_episode(env, heads[name], 4, fast=True), _episode(env, heads[name], 4, fast=False))
