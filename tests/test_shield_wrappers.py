"""The shields as PettingZoo wrappers: API, arguments, determinism, the two step paths, the protocol."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from agents.baselines.heuristics import make_heuristic
from shields import SHIELD_KINDS, CentralShield, DecentralizedShield, make_shield
from shields.regions import partition_edges
from srole_env import parallel_env
from srole_env.round_state import round_state

KINDS = ("central", "decentralized")


def _shield(kind: str, scenario: str = "small", shield_kwargs: dict | None = None, **env_kwargs):
    return make_shield(parallel_env(scenario, **env_kwargs), kind, **(shield_kwargs or {}))


@pytest.mark.parametrize("kind", KINDS)
def test_parallel_api_test_passes_through_the_shield(kind):
    env = _shield(kind, horizon=25)
    parallel_api_test(env, num_cycles=40)
    assert env.unwrapped is env.env.unwrapped
    assert env.metadata["name"] == "edge_cluster_v0"  # forwarded
    assert env.possible_agents == env.unwrapped.possible_agents


def test_make_shield_kinds():
    base = parallel_env("small")
    assert make_shield(base, "none") is base
    assert make_shield(base, "none", regions=3) is base  # one call site for every kind
    assert isinstance(make_shield(base, "central"), CentralShield)
    assert isinstance(make_shield(base, "decentralized", regions=2), DecentralizedShield)
    assert SHIELD_KINDS == ("none", "central", "decentralized")
    with pytest.raises(ValueError, match="kind"):
        make_shield(base, "oracle")


def test_bad_arguments_raise_value_error():
    base = parallel_env("small")  # 10 edges
    for regions in (0, -2, 11):
        with pytest.raises(ValueError, match="regions"):
            DecentralizedShield(base, regions=regions)
    with pytest.raises(ValueError, match="regions"):
        DecentralizedShield(base, regions=2.5)
    with pytest.raises(ValueError, match="partition"):
        DecentralizedShield(base, regions=2, partition="hexagons")
    for cls in (CentralShield, DecentralizedShield):
        with pytest.raises(ValueError, match="priority"):
            cls(base, priority="first_come")
    with pytest.raises(ValueError, match="EdgeClusterEnv"):
        CentralShield(make_heuristic("random"))  # not an env at all: no .unwrapped EdgeClusterEnv

    shield = CentralShield(base, seed=0)
    shield.reset(seed=0)
    n, a = base.config.n_edges, base.sim.n_actions
    actions = np.zeros(n, dtype=np.int64)
    for prefs in (np.zeros((n, a + 1)), np.zeros((n - 1, a)), np.zeros(n)):
        with pytest.raises(ValueError, match="preferences"):
            shield.step_arrays(actions, prefs)
    with pytest.raises(ValueError, match="preferences"):
        shield.step({"edge_0": 0}, preferences={"edge_0": np.zeros(a - 1)})
    with pytest.raises(ValueError, match="unknown agent"):
        shield.step({"edge_0": 0}, preferences={"edge_99": np.zeros(a)})
    with pytest.raises(ValueError, match="unknown agent"):
        shield.step({"robot": 0})
    for bad in (np.nan, np.inf):
        prefs = np.zeros((n, a))
        prefs[3, 1] = bad
        with pytest.raises(ValueError, match=r"preferences of edge_3 contain (nan|inf) \(action 1\)"):
            shield.step_arrays(actions, prefs)
        with pytest.raises(ValueError, match="preferences of edge_7 contain"):
            shield.step({"edge_0": 0}, preferences={"edge_0": np.zeros(a), "edge_7": prefs[3]})
    with pytest.raises(ValueError, match="out of range"):
        shield.step_arrays(np.full(n, a))
    assert shield.last_report is None  # nothing was shielded or charged by the failed calls
    masked = np.where(np.arange(a) == 0, 1.0, -np.inf)[None, :].repeat(n, axis=0)  # -inf marks masked actions
    shield.step_arrays(actions, masked)
    assert shield.last_report is not None


def test_default_regions_come_from_the_config():
    shield = DecentralizedShield(parallel_env("paper"))
    shield.reset(seed=0)
    assert shield.regions == 4 and len(shield.hosts) == 4
    assert np.bincount(shield.labels).min() >= 1
    flops = shield.unwrapped.sim.topology.flops
    for r, host in enumerate(shield.hosts):
        assert shield.labels[host] == r and flops[host] == flops[shield.labels == r].max()


def _trajectory(kind: str, seed: int, steps: int = 40, **shield_kwargs):
    env = _shield(kind, "paper", {"priority": "random", **shield_kwargs})
    env.reset(seed=seed)
    policy = make_heuristic("random", seed=seed)
    sim = env.unwrapped.sim
    obs, mask = sim.observe(), sim.action_mask()
    actions_out, rewards_out = [], []
    for _ in range(steps):
        prefs = policy.preferences(obs, mask)
        obs, mask, rewards, *_ = env.step_arrays(np.argmax(prefs, axis=1), prefs)
        actions_out.append(env.last_report["action"].copy())
        rewards_out.append(rewards.copy())
    return np.array(actions_out), np.array(rewards_out), env.unwrapped.metrics()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_trajectory(kind):
    a1, r1, m1 = _trajectory(kind, seed=5)
    a2, r2, m2 = _trajectory(kind, seed=5)
    assert np.array_equal(a1, a2) and np.array_equal(r1, r2) and m1 == m2
    a3, _, _ = _trajectory(kind, seed=6)
    assert not np.array_equal(a1, a3)


def _random_play(env, env_seed: int, steps: int = 15) -> np.ndarray:
    env.reset(seed=env_seed)
    sim = env.unwrapped.sim
    rng = np.random.default_rng(0)
    chosen = []
    for _ in range(steps):
        env.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
        chosen.append(env.last_report["action"].copy())
    return np.array(chosen)


def test_reset_seed_reseeds_the_shield_stream():
    env = _shield("central", "paper", {"priority": "random", "seed": 1})
    assert np.array_equal(_random_play(env, 11), _random_play(env, 11))
    # the shield's own seed is mixed in: another shield seed, other tie-breaks on the same cluster
    other = _shield("central", "paper", {"priority": "random", "seed": 2})
    assert not np.array_equal(_random_play(env, 11, steps=80), _random_play(other, 11, steps=80))


@pytest.mark.parametrize("kind", KINDS)
def test_fast_path_equals_dict_path(kind):
    fast, slow = _shield(kind, "paper", {"seed": 3}), _shield(kind, "paper", {"seed": 3})
    fast.reset(seed=9)
    slow.reset(seed=9)
    agents = fast.possible_agents
    n, a = len(agents), fast.unwrapped.sim.n_actions
    rng = np.random.default_rng(2)
    for t in range(60):
        actions = rng.integers(0, a, n)
        prefs = rng.normal(size=(n, a)) if t % 3 else None
        obs, mask, rewards, term, trunc, _ = fast.step_arrays(actions, prefs)
        dict_actions = {ag: int(actions[i]) for i, ag in enumerate(agents) if actions[i] != a - 1 or t % 2}
        dict_prefs = None if prefs is None else {ag: prefs[i] for i, ag in enumerate(agents)}
        obs_d, rew_d, term_d, trunc_d, infos = slow.step(dict_actions, preferences=dict_prefs)
        rf, rs = fast.last_report, slow.last_report
        for key in ("original", "action", "rewritten", "latency_s", "boundary_requests"):
            assert np.array_equal(rf[key], rs[key]), key
        for key in ("interventions", "messages", "decision_latency_s", "rounds", "conflicts"):
            assert rf[key] == rs[key], key
        assert np.array_equal(obs, np.stack([obs_d[ag]["observation"] for ag in agents]))
        assert np.array_equal(mask, np.stack([obs_d[ag]["action_mask"] for ag in agents]))
        assert np.array_equal(rewards, np.array([rew_d[ag] for ag in agents]))
        assert trunc == trunc_d[agents[0]] and term == term_d[agents[0]]
        for i, ag in enumerate(agents):
            info = infos[ag]
            assert info["shield_original"] == rs["original"][i] and info["shield_action"] == rs["action"][i]
            assert info["shield_rewritten"] == bool(rs["rewritten"][i])
            assert info["shield_messages"] == rs["messages"] and info["shield_interventions"] == rs["interventions"]
            assert info["shield_decision_latency_s"] == rs["decision_latency_s"]
            assert "shield_decision_time_s" not in info and info["shield_latency_s"] == rs["latency_s"][i]
            assert infos[ag]["target"] == (
                fast.unwrapped.sim.topology.candidates[i, rs["action"][i]] if infos[ag]["placed"] else -1
            )
    assert fast.unwrapped.metrics() == slow.unwrapped.metrics()


def test_decentralized_with_one_region_is_the_central_shield():
    central, _, m_central = _trajectory("central", seed=4, steps=60)
    one, _, m_one = _trajectory("decentralized", seed=4, steps=60, regions=1)
    assert np.array_equal(central, one) and m_central == m_one


def test_messages_only_for_boundary_requests():
    env = _shield("decentralized", "paper", {"regions": 4, "seed": 0})
    env.reset(seed=1)
    sim = env.unwrapped.sim
    labels = env.labels
    rng = np.random.default_rng(0)
    total = 0
    for _ in range(40):
        env.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
        rep = env.last_report
        sent = 0
        for batch in rep["transcript"]:  # the request messages of one coordination round
            assert np.all(labels[batch.agents] == batch.src)  # from the agents' own region shield
            assert np.all(labels[batch.targets] != batch.src)  # to another region's owner
            assert len(np.unique(batch.agents)) == len(batch.agents)  # one request per agent and round
            sent += len(batch.agents)
        assert sent == rep["boundary_requests"].sum()
        assert rep["messages"] == 2 * sent  # a request and a reply each
        total += rep["messages"]
    assert total > 0

    one = _shield("decentralized", "paper", {"regions": 1, "seed": 0})
    one.reset(seed=1)
    for _ in range(20):
        one.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
        assert one.last_report["messages"] == 0 and not one.last_report["transcript"]


def test_local_requests_need_no_messages():
    env = _shield("decentralized", "paper", {"regions": 4, "seed": 0})
    env.reset(seed=2)
    n = env.unwrapped.config.n_edges
    env.step_arrays(np.zeros(n, dtype=np.int64))  # every agent onto itself: all local, none in conflict
    assert env.last_report["messages"] == 0 and env.last_report["interventions"] == 0


def test_latency_and_interventions_are_charged_to_the_simulator():
    env = _shield("decentralized", "paper", {"regions": 4, "seed": 0})
    env.reset(seed=3)
    sim = env.unwrapped.sim
    rng = np.random.default_rng(1)
    total_interventions = 0
    for _ in range(30):
        local = sim.local_latency.copy()
        *_, result = env.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
        rep = env.last_report
        total_interventions += rep["interventions"]
        expected = float((local + rep["latency_s"])[result.placed].sum())
        assert result.decision_latency_s == pytest.approx(expected)
    assert sim.metrics()["interventions"] == total_interventions > 0


def test_central_latency_grows_with_requests_decentralized_stays_regional():
    lat = {}
    for kind, kwargs in (("central", {}), ("decentralized", {"regions": 16})):
        env = _shield(kind, "small", {"seed": 0, **kwargs}, n_edges=400, arrival_rate=0.03)
        env.reset(seed=0)
        sim = env.unwrapped.sim
        rng = np.random.default_rng(0)
        for _ in range(10):
            env.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
        lat[kind] = env.last_report["decision_latency_s"]
    assert lat["central"] > 3 * lat["decentralized"]


@pytest.mark.parametrize("kind", KINDS)
def test_safe_action_mask_is_preemptive(kind):
    env = _shield(kind, "paper", {"seed": 0}, arrival_rate=0.03)
    env.reset(seed=4)
    sim = env.unwrapped.sim
    rng = np.random.default_rng(4)
    for _ in range(10):  # build up load so that some candidates are unsafe
        env.unwrapped.step_arrays(rng.integers(0, sim.n_actions, sim.n_edges))
    unsafe_seen = False
    for _ in range(20):
        masks = env.safe_action_masks()
        state = round_state(sim)
        assert masks.shape == (sim.n_edges, sim.n_actions) and masks.dtype == np.int8
        assert np.all(masks[:, -1] == 1)  # hold is always safe
        assert np.all(masks <= sim.action_mask())  # safe together implies safe alone
        assert np.array_equal(env.safe_action_mask("edge_3"), masks[3])
        unsafe_seen |= bool((sim.action_mask() > masks).any())
        # any pick from the safe masks: never rewritten, never overloads
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in masks])
        *_, result = env.step_arrays(actions)
        assert env.last_report["interventions"] == 0
        assert not result.caused_overload.any() and result.collisions == 0
        assert state.has_task.any()
    assert unsafe_seen


def test_step_after_episode_end_raises_and_charges_nothing():
    env = _shield("central", "small", {"seed": 0}, horizon=2)
    env.reset(seed=0)
    n = env.unwrapped.config.n_edges
    env.step_arrays(np.zeros(n, dtype=np.int64))
    env.step({})
    assert not env.agents
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    with pytest.raises(RuntimeError, match="reset"):
        env.step_arrays(np.zeros(n, dtype=np.int64))


def test_inner_reset_behind_the_shield_is_detected():
    env = _shield("decentralized", "paper", {"regions": 4, "seed": 0})
    env.reset(seed=0)
    env.unwrapped.reset(seed=123)  # a new layout, not through the wrapper
    env.step_arrays(np.zeros(env.unwrapped.config.n_edges, dtype=np.int64))
    topology = env.unwrapped.sim.topology
    assert np.array_equal(env.labels, partition_edges(topology.positions, 4))
    assert all(env.labels[h] == r for r, h in enumerate(env.hosts))
