"""One cost model for every request a host serves (srole_env.core.host_cost): the head's decisions and the shields'
checks are charged alike, scaled to the serving host's device class and CPU share.

Expected values by hand from data/devices.csv: calibrated_host 381.84 GFLOP/s x 0.548 / 2 cores = 104.62 GFLOP/s a
core; jetson_xavier_nx 844.8 x 0.25 / 6 = 35.2; raspberry_pi4 48 x 0.15 / 4 = 1.8.
"""

from __future__ import annotations

import numpy as np
import pytest

from shields.latency import LatencyModel
from srole_env import CentralizedSchedulingEnv, make_config
from srole_env.core import host_cost
from srole_env.core.head_queue import decision_service_s
from srole_env.core.topology import build_topology

REF = 381.84e9 * 0.548 / 2
XAVIER = 844.8e9 * 0.25 / 6
PI = 48e9 * 0.15 / 4
TABLE = {"decision": (np.array([10.0, 1000.0]), np.array([3e-4, 1e-4])),
         "check": (np.array([10.0, 1000.0]), np.array([2e-4, 0.0]))}


@pytest.fixture
def table(monkeypatch):
    """A known measured-compute table (the shipped one is a measurement of this host)."""
    monkeypatch.setattr(host_cost, "measured_compute", lambda: TABLE)


def _cluster(mix: dict[str, float], **overrides):
    cfg = make_config("small", n_edges=10, n_regions=2, device_mix=mix, head_device="jetson_xavier_nx",
                      link_latency_per_m=0.0, round_s=10.0, **overrides)
    return cfg, build_topology(cfg, np.random.default_rng(0))


def _resolution(n: int, checks: list[int]):
    from shields.protocol import Resolution

    return Resolution(actions=np.zeros(n, np.int64), answered=np.zeros(n, np.int64), via_boundary=np.zeros(n, bool),
                      boundary_requests=np.zeros(n, np.int64), local_checks=np.array(checks),
                      conflicts=np.zeros(n, bool))


def test_the_same_request_costs_the_same_at_the_head_and_at_any_shield_host_of_its_class(table):
    cfg, topo = _cluster({"jetson_xavier_nx": 1.0}, request_s=0.002, request_compute=False)
    ratio = REF / XAVIER
    head = decision_service_s(cfg, topo, 0.0, 1e12)  # the policy FLOPs are not counted in this model
    assert head == pytest.approx(0.002 * ratio)
    central = LatencyModel(topo, cfg, np.zeros(10, dtype=np.int64), np.array([topo.head]))
    assert central.idle_request_s == pytest.approx([head]) and central.idle_check_s == pytest.approx([0.0])
    labels = np.r_[np.zeros(5), np.ones(5)].astype(np.int64)
    regions = LatencyModel(topo, cfg, labels, np.array([0, 5]))
    assert regions.idle_request_s == pytest.approx([head, head])  # region hosts of the head's class: the same
    # one request checked once at the central shield on the head: the head's decision time plus the message's
    # reception (the head receives reports too, in its collect phase)
    one = np.zeros(10, dtype=bool)
    one[3] = True
    latency = central.per_agent(one, _resolution(10, [1]))
    receive = 2048 * 8 / 1e9
    assert latency[3] == pytest.approx(2 * central.to_host[3] + receive + head)
    # the host's training workers slow both alike: 11 workers on 6 cores leave the scheduler half a core
    assert decision_service_s(cfg, topo, 11.0, 0.0) == pytest.approx(2 * head)
    central.per_agent(np.ones(10, dtype=bool), _resolution(10, [10]), np.array([11.0]))
    assert central.request_s == pytest.approx([2 * head])


def test_a_slower_host_pays_the_device_ratio_and_the_measured_compute_is_added(table):
    cfg, topo = _cluster({"raspberry_pi4": 1.0}, request_s=0.001)
    pi_host = next(i for i in range(10) if topo.device_names[topo.device_index[i]] == "raspberry_pi4")
    # n = 100 served: halfway in log n between 10 and 1000, so the compute is the mean of the two measured sizes
    assert host_cost.compute_s("decision", 100) == pytest.approx(2e-4)
    assert host_cost.compute_s("check", [1, 100, 10**6]) == pytest.approx([2e-4, 1e-4, 0.0])  # held at the ends
    got = host_cost.idle_request_s(cfg, topo, [topo.head, pi_host], "check", 100)
    assert got == pytest.approx([(0.001 + 1e-4) * REF / XAVIER, (0.001 + 1e-4) * REF / PI])
    # a decision and a once-checked request on one host differ by their measured compute only, scaled alike
    decision = host_cost.idle_request_s(cfg, topo, [topo.head], "decision", 100)
    assert decision - got[0] == pytest.approx((2e-4 - 1e-4) * REF / XAVIER)
    # a region shield is charged at its region's size: 5 agents each, the table's n = 10 end
    labels = np.r_[np.zeros(5), np.ones(5)].astype(np.int64)
    model = LatencyModel(topo, cfg, labels, np.array([topo.head, pi_host]))
    assert model.idle_check_s == pytest.approx([2e-4 * REF / XAVIER, 2e-4 * REF / PI])
    assert model.idle_request_s == pytest.approx([0.001 * REF / XAVIER, 0.001 * REF / PI])
    # a request whose original did not fit pays request_s once and a check per proposal: 3 requests, 5 checks
    asked = np.zeros(10, dtype=bool)
    asked[:3] = True
    latency = model.per_agent(asked, _resolution(10, [5, 0]))
    assert model.backlog_s[0] == pytest.approx(0.0)  # well inside the round
    work = 3 * (2048 * 8 / 1e9 + 0.001 * REF / XAVIER) + 5 * 2e-4 * REF / XAVIER
    assert latency[0] == pytest.approx(model.to_host[:3].max() + work + model.to_host[0])


def test_without_request_s_the_older_separate_charges_stay():
    cfg, topo = _cluster({"jetson_xavier_nx": 1.0}, head_bookkeeping_s=1.0, shield_check_s=0.25)
    assert cfg.request_s is None
    assert decision_service_s(cfg, topo, 0.0, 17.6e9) == pytest.approx(1.5)  # 0.5 s of FLOPs + 1 s bookkeeping
    model = LatencyModel(topo, cfg, np.zeros(10, dtype=np.int64), np.array([topo.head]))
    assert model.idle_check_s == pytest.approx([0.25]) and model.idle_request_s == pytest.approx([0.0])
    with pytest.raises(ValueError, match="request_s is None"):
        host_cost.idle_request_s(cfg, topo, [0], "check", 10)


def test_the_head_env_reports_the_model_s_service_time():
    cfg = dict(scenario="small", n_edges=12, request_s=0.003, horizon=5)
    env = CentralizedSchedulingEnv(**cfg)
    env.reset(seed=0)
    topo = env.sim.topology
    want = host_cost.request_service_s(env.config, topo, [topo.head], "decision", 12, [0.0])[0]
    assert env.head.config.request_s == 0.003
    assert decision_service_s(env.config, topo, 0.0, env.policy_flops) == pytest.approx(want)
    assert want > 0.003 * host_cost.host_ratio(topo, [topo.head])[0]  # the measured compute is added


def test_the_shipped_measurement_is_read_and_the_fields_are_checked():
    table = host_cost.measured_compute()
    for kind in host_cost.KINDS:
        n, s = table[kind]
        assert len(n) >= 2 and np.all(np.diff(n) > 0) and np.all(s > 0) and np.all(s < 0.01)
    with pytest.raises(ValueError, match="request_s"):
        make_config("small", request_s=-0.001)
    with pytest.raises(TypeError, match="request_compute"):
        make_config("small", request_s=0.001, request_compute="yes")
    with pytest.raises(ValueError, match="kind"):
        host_cost.compute_s("reply", 10)
