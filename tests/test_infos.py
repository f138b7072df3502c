"""Per-agent infos that RL libraries can carry: the same keys after reset() and step(), scalar values only."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from shields import make_shield
from shields.wrappers import SHIELD_INFO_DEFAULTS, TIMING_INFO_DEFAULTS

SHIELDS = ("none", "central", "decentralized")


def _env(shield: str, **overrides):
    env = srole_env.parallel_env("small", **{"horizon": 4, "arrival_rate": 0.03, **overrides})
    return env if shield == "none" else make_shield(env, shield)


def _scalar_types(info: dict) -> dict[str, type]:
    return {k: type(v) for k, v in info.items()}


@pytest.mark.parametrize("shield", SHIELDS)
def test_reset_and_step_infos_have_the_same_scalar_keys(shield):
    env = _env(shield)
    _, reset_infos = env.reset(seed=3)
    assert set(reset_infos) == set(env.agents)
    types = _scalar_types(reset_infos["edge_0"])
    assert all(t in (bool, int, float) for t in types.values()), types
    rng = np.random.default_rng(0)
    while env.agents:
        actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        *_, infos = env.step(actions)
        for agent, info in infos.items():
            assert _scalar_types(info) == types, agent  # same keys, same Python types: fixed shapes
    if shield != "none":
        assert {"shield_original", "shield_rewritten", "shield_action"} <= set(types)
        assert reset_infos["edge_0"]["shield_original"] == -1 and reset_infos["edge_0"]["shield_rewritten"] is False


@pytest.mark.parametrize("shield", SHIELDS)
def test_pettingzoo_seed_tests_pass_bare_and_behind_both_shields(shield):
    """Equal seeds, equal observations, rewards and infos: nothing measured in wall time in the infos."""
    from pettingzoo.test import parallel_seed_test, seed_test
    from pettingzoo.utils.conversions import parallel_to_aec

    parallel_seed_test(lambda: _env(shield, horizon=30))
    seed_test(lambda: parallel_to_aec(_env(shield, horizon=30)), num_cycles=20)


@pytest.mark.parametrize("shield", ("central", "decentralized"))
def test_measured_decision_time_is_in_the_infos_only_when_asked(shield):
    plain = _env(shield)
    timed = make_shield(srole_env.parallel_env("small", horizon=4, arrival_rate=0.03), shield, timing=True)
    for env, want in ((plain, set()), (timed, set(TIMING_INFO_DEFAULTS))):
        _, reset_infos = env.reset(seed=0)
        *_, infos = env.step({a: 0 for a in env.agents})
        for info in (reset_infos["edge_1"], infos["edge_1"]):
            assert {k for k in info if k.startswith("shield_")} == set(SHIELD_INFO_DEFAULTS) | want
        assert env.last_report["decision_time_s"] >= 0.0  # the timing record is kept either way
    assert infos["edge_1"]["shield_decision_time_s"] == timed.last_report["decision_time_s"]


def test_round_figures_and_last_round_agree_with_metrics():
    env = _env("none")
    env.reset(seed=1)
    assert env.last_round is None
    done_jobs, jcts, collisions = 0, [], 0
    while env.agents:
        *_, infos = env.step({a: 0 for a in env.agents})
        last = env.last_round
        assert len(last["jcts"]) == last["jobs_completed"] == infos["edge_0"]["round_jobs_completed"]
        assert len({info["round_collisions"] for info in infos.values()}) == 1  # the cluster's figure, for all
        done_jobs += last["jobs_completed"]
        jcts += last["jcts"]
        collisions += infos["edge_3"]["round_collisions"]
    metrics = env.metrics()
    assert metrics["jobs_completed"] == done_jobs and metrics["collisions"] == collisions
    if jcts:
        assert metrics["mean_jct"] == pytest.approx(np.mean(jcts))


def test_shield_infos_match_the_report():
    env = _env("central")
    env.reset(seed=2)
    everyone_to_edge_0 = {a: 0 for a in env.agents}  # all run on themselves: settled by the shield
    *_, infos = env.step(everyone_to_edge_0)
    rep = env.last_report
    for i, agent in enumerate(env.possible_agents):
        assert infos[agent]["shield_original"] == 0
        assert infos[agent]["shield_action"] == int(rep["action"][i])
        assert infos[agent]["shield_rewritten"] == (int(rep["action"][i]) != 0)
    assert infos["edge_0"]["shield_interventions"] == sum(infos[a]["shield_rewritten"] for a in env.possible_agents)


@pytest.mark.torchrl  # the nox session torchrl, not the main suite
@pytest.mark.parametrize("shield", ["none", "decentralized"])
def test_torchrl_pettingzoo_wrapper_carries_step_infos(shield):
    pytest.importorskip("torchrl")
    import warnings

    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    penv = _env(shield)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TorchRL's "tested with PettingZoo 1.24" notice
        env = PettingZooWrapper(env=penv, return_state=False, use_mask=True)
    td = env.reset(seed=0)
    assert ("edge", "info", "placed") in td.keys(include_nested=True)
    for _ in range(3):
        td = env.rand_step(td)
        info = td["next", "edge", "info"]
        result = penv.unwrapped.last_round
        targets = penv.unwrapped._last.targets  # the round's placements, as the simulator recorded them
        assert np.array_equal(info["target"].reshape(-1).numpy().astype(int), targets)
        assert int(info["round_jobs_completed"].reshape(-1)[0]) == result["jobs_completed"]
        if shield != "none":
            assert np.array_equal(info["shield_action"].reshape(-1).numpy().astype(int), penv.last_report["action"])
        td = td["next"]
