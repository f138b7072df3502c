"""The cluster head as a queue (srole_env.core.head_queue) and the centralized env built on it.

Expected values are computed by hand from data/devices.csv: jetson_xavier_nx has 6 cores, 844.8 GFLOP/s FP32
peak at training efficiency 0.25 (211.2 GFLOP/s sustained, 35.2 GFLOP/s per core) and a 1000 Mbit/s NIC.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import srole_env
from shields.latency import LatencyModel
from srole_env import make_config
from srole_env.core.head_queue import HeadQueue, decision_service_s, default_policy_flops
from srole_env.core.host_cost import scheduler_share
from srole_env.core.topology import build_topology

XAVIER = {"jetson_xavier_nx": 1.0}
PER_CORE_FLOPS = 844.8e9 * 0.25 / 6  # 35.2e9 FLOP/s
REPORT_S = 2048 * 8 / 1e9  # one 2048-byte report through a 1 Gbit/s NIC


def _xavier_cluster(**overrides):
    cfg = make_config("small", n_edges=10, device_mix=XAVIER, link_latency_per_m=0.0, round_s=10.0, **overrides)
    return cfg, build_topology(cfg, np.random.default_rng(0))


def test_service_time_from_the_device_table():
    # 17.6 GFLOP at one Xavier core's 35.2 GFLOP/s = 0.5 s, plus 1 s bookkeeping, on an idle head
    cfg, topo = _xavier_cluster(head_bookkeeping_s=1.0)
    assert decision_service_s(cfg, topo, 0.0, 17.6e9) == pytest.approx(1.5)
    # 11 training workers on 6 cores: the scheduler gets 6 / 12 of a core, so twice as long
    assert decision_service_s(cfg, topo, 11.0, 17.6e9) == pytest.approx(3.0)
    assert scheduler_share(6.0, 5.0) == 1.0 and scheduler_share(4.0, 7.0) == pytest.approx(0.5)


def test_backlog_carries_across_rounds_and_latency_grows():
    cfg, topo = _xavier_cluster(head_bookkeeping_s=1.0)
    assert topo.head == 0  # all edges equal: the first is the most capable
    q = HeadQueue(topo, cfg, 17.6e9)  # 1.5 s per decision
    collect = 0.002 + 10 * REPORT_S  # farthest report's one-way latency + 10 reports through the NIC
    assert q.collect_s == pytest.approx(collect)
    # capacity per round: floor((10 - collect) / 1.5) = 6 decisions
    first = np.zeros(10, dtype=bool)
    first[:8] = True
    r0 = q.plan(0, first, 0.0)
    np.testing.assert_array_equal(r0.served, [0, 1, 2, 3, 4, 5])
    assert r0.backlog == 2 and r0.demand == 8
    assert r0.start_delay[5] == pytest.approx(collect + 6 * 1.5 + 0.002)
    assert r0.start_delay[0] == pytest.approx(collect + 1.5)  # the head answers itself: no reply hop
    assert np.all(r0.start_delay[6:] == 0.0)  # not served: not placed this round
    assert r0.utilization == pytest.approx((10 * REPORT_S + 6 * 1.5) / 10.0)

    everyone = np.ones(10, dtype=bool)
    r1 = q.plan(1, everyone, 0.0)  # backlog [6, 7] first, then the 8 new requests rotated by one
    np.testing.assert_array_equal(r1.served, [6, 7, 1, 2, 3, 4])
    assert r1.backlog == 4  # grows: 10 requests, 6 served
    assert r1.decision_latency[0] == pytest.approx(10.0 + collect + 1.5 + 0.002)  # waited one round
    assert r1.start_delay[6] == pytest.approx(collect + 1.5 + 0.002)  # only the in-round part is charged

    r2 = q.plan(2, everyone, 0.0)  # backlog [5, 8, 9, 0] first
    np.testing.assert_array_equal(r2.served[:4], [5, 8, 9, 0])
    assert r2.backlog == 4
    assert r2.decision_latency[3] == pytest.approx(10.0 + collect + 4 * 1.5)  # edge 0 is the head
    maxima = [r.decision_latency.max() for r in (r0, r1, r2)]
    assert maxima[0] < maxima[1] < maxima[2]
    assert r2.utilization == pytest.approx((10 * REPORT_S + 6 * 1.5) / 10.0)


def test_head_load_slows_the_queue():
    cfg, topo = _xavier_cluster(head_bookkeeping_s=1.0)
    busy = HeadQueue(topo, cfg, 17.6e9).plan(0, np.ones(10, dtype=bool), 11.0)
    assert len(busy.served) == 3  # 3 s per decision: floor((10 - collect) / 3)


def test_default_policy_flops_counts_the_sb3_actor():
    from gymnasium import spaces
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    from srole_env.core.head_queue import count_flops

    env = srole_env.CentralizedSchedulingEnv(horizon=2)
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    # 2 FLOPs per multiply-add: obs -> 64 -> 64 -> logits
    expected = 2 * (obs_dim * 64 + 64 * 64 + 64 * n_actions)
    assert default_policy_flops(obs_dim, n_actions) == expected == env.policy_flops
    policy = MaskableActorCriticPolicy(spaces.Box(0, 10, (obs_dim,), np.float32), spaces.Discrete(n_actions),
                                       lambda _: 3e-4, net_arch=[64, 64])
    import torch

    assert count_flops(policy.get_distribution, torch.zeros(1, obs_dim)) == expected


def test_observation_size_does_not_depend_on_n():
    dims = {srole_env.CentralizedSchedulingEnv(n_edges=n, horizon=2).observation_space.shape for n in (10, 60)}
    assert len(dims) == 1


def _saturated_env(**overrides):
    # 0.5 s per decision: at most floor((10 - collect) / 0.5) = 19 decisions per round for 60 edges
    return srole_env.CentralizedSchedulingEnv("small", n_edges=60, arrival_rate=0.05, horizon=8,
                                              head_bookkeeping_s=0.5, **overrides)


def test_env_keeps_backlogged_tasks_pending_and_reports_the_head():
    env = _saturated_env()
    env.reset(seed=3)
    seen_backlog, latencies = [], []
    done = False
    while not done:
        round_before = env.sim.round
        order = env._order.copy()
        assert len(order) <= 19
        queued = env.head._edges.copy()  # requests carried over: must not be decided this round
        assert not np.isin(queued, order).any()
        pending_before = env.sim.pending_heads()[queued].copy()
        for _ in order:
            _, _, _, done, info = env.step(int(np.flatnonzero(env.action_masks())[0]))
        assert set(info) >= {"head_backlog", "head_utilization", "head_decision_latency_s", "rounds_completed"}
        assert info["rounds_completed"] >= 1 and env.sim.round > round_before or done
        # backlogged edges placed nothing: their head task is still the same pending task
        np.testing.assert_array_equal(env.sim.pending_heads()[queued][pending_before >= 0] >= 0, True)
        seen_backlog.append(info["head_backlog"])
        latencies.append(info["head_decision_latency_max_s"])
    assert min(seen_backlog[:4]) > 0  # demand above capacity: the backlog carries round after round
    assert latencies[0] < latencies[1] < latencies[2]
    m = env.metrics()
    assert m["head_backlog_max"] == max(seen_backlog) and m["head_utilization_mean"] > 0.9
    assert m["head_decision_latency_max_s"] > 2 * env.config.round_s


def test_crl_greedy_places_tasks_and_pays_head_latency():
    from agents.harness.evaluate import evaluate

    cfg = make_config("small", horizon=15, arrival_rate=0.02)
    fast = evaluate("crl_greedy", "none", cfg, 1, 0)
    slow = evaluate("crl_greedy", "none", cfg.replace(head_bookkeeping_s=0.1), 1, 0)
    assert fast["policy"] == "crl_greedy" and fast["shield"] == "none"
    assert fast["tasks_placed"] > 0 and fast["jobs_completed"] > 0
    env = srole_env.CentralizedSchedulingEnv(cfg)
    env.reset(seed=0)
    # every placed task waits at least for the reports and one decision
    floor = env.head.collect_s + cfg.head_bookkeeping_s
    assert fast["mean_decision_latency_s"] >= floor
    assert slow["mean_decision_latency_s"] > fast["mean_decision_latency_s"] + 0.1
    assert fast["head_decisions"] >= fast["tasks_placed"]


def test_crl_greedy_from_the_cli(capsys):
    from srole_cli.main import main

    assert main(["evaluate", "--policy", "crl_greedy", "--scenario", "small", "--episodes", "1",
                 "--set", "horizon=5"]) == 0
    assert "crl_greedy" in capsys.readouterr().out


def test_head_device_picks_the_head_class():
    cfg = make_config("small", head_device="raspberry_pi4")
    topo = build_topology(cfg, np.random.default_rng(0))
    assert topo.device_names[topo.device_index[topo.head]] == "raspberry_pi4"
    absent = make_config("small", device_mix={"nuc_i7": 1.0}, head_device="jetson_nano")
    topo = build_topology(absent, np.random.default_rng(0))
    assert topo.head == 0 and topo.device_names[topo.device_index[0]] == "jetson_nano"
    assert topo.cores[0] == 4 and topo.nic_bps[0] == 1e9
    with pytest.raises(ValueError, match="head_device"):
        build_topology(make_config("small", head_device="cray"), np.random.default_rng(0))
    with pytest.raises(TypeError, match="head_device"):
        make_config("small", head_device=3)
    with pytest.raises(ValueError, match="head_bookkeeping_s"):
        make_config("small", head_bookkeeping_s=-1.0)


def test_shield_host_checks_at_its_share_and_carry_a_backlog():
    cfg, topo = _xavier_cluster(shield_check_s=3.0)
    labels = np.zeros(10, dtype=np.int64)
    model = LatencyModel(topo, cfg, labels, np.array([0]))
    requests = np.zeros(10, dtype=bool)
    requests[[1, 2]] = True
    res = SimpleNamespace(local_checks=np.array([4]), traffic=[], answered=np.zeros(10, dtype=np.int64),
                          via_boundary=np.zeros(10, dtype=np.int64))
    work = 2 * REPORT_S + 4 * 3.0  # 12 s of receiving and checking on an idle host: 2 s past the round
    lat = model.per_agent(requests, res, np.array([0.0]))
    assert lat[1] == pytest.approx(0.002 + work + 0.002)
    assert model.backlog_s[0] == pytest.approx(work - 10.0)
    # next round: 11 workers on the 6-core host halve the checker's share; last round's 2 s come first
    lat = model.per_agent(requests, res, np.array([11.0]))
    work2 = 2 * REPORT_S + 4 * 6.0
    assert lat[2] == pytest.approx((work - 10.0) + 0.002 + work2 + 0.002)
    assert model.backlog_s[0] == pytest.approx(work - 10.0 + work2 - 10.0)
    assert math.isclose(lat[0], 0.0)
