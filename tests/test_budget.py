"""One budget unit (simulated rounds), learning curves on fixed seeds, and a trained learner that beats random."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.common.run_dir import read_episodes, read_json
from agents.harness.convergence import CURVE_COLUMNS, flatness, has_flattened, read_curve
from agents.harness.evaluate import evaluate
from agents.harness.registry import LEARNERS
from agents.harness.train import resume_run, train
from srole_env.core.simulator import ClusterSimulator

TINY = {"scenario": "small", "horizon": 10}
"""10 edges, 10 rounds per episode."""
FAST = {
    "ppo": {"n_steps": 7, "batch_size": 35, "n_epochs": 1},
    "maskable_ppo": {"n_steps": 7, "batch_size": 35, "n_epochs": 1},
    "dqn": {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32},
    "idqn": {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "hidden": [32, 32]},
    "ippo": {"rollout_rounds": 8, "n_epochs": 1, "minibatch_size": 40, "hidden": [32, 32]},
    "crl_ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
    "crl_dqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16},
    "crl_idqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16, "hidden": [32, 32]},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def count_rounds(monkeypatch) -> list[int]:
    """Counts the simulator's rounds (``ClusterSimulator.step`` calls), whoever drives it."""
    calls = [0]
    original = ClusterSimulator.step

    def counting(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ClusterSimulator, "step", counting)
    return calls


# ---------------------------------------------------------------------- the budget
@pytest.mark.parametrize("algo", sorted(FAST))
def test_every_algo_stops_at_exactly_the_budget_in_simulated_rounds(algo: str, tmp_path: Path, count_rounds):
    """27 rounds: not a multiple of the horizon (10), of PPO's rollout (7 rounds) or IPPO's (8)."""
    run = train(algo, "none", TINY, 27, 0, tmp_path / algo, "cpu", hparams=FAST[algo], progress=False)
    assert count_rounds[0] == 27  # the simulator itself ran 27 rounds, whatever the learner's view
    assert read_json(run / "checkpoint" / "state.json")["rounds"] == 27
    rows = read_episodes(run / "episodes.csv")
    assert [r["total_rounds"] for r in rows] == [10, 20]  # the cut episode is not logged as finished
    assert [r["rounds"] for r in rows] == [10, 10]
    if LEARNERS[algo].env_kind == "centralized":  # a head decision is not a round: fewer or more per round
        state = read_json(run / "checkpoint" / "state.json")
        assert state["decisions"] == state.get("sb3_timesteps", state["decisions"]) != 27


def test_crl_exploration_schedule_is_relative_to_the_round_budget(tmp_path: Path):
    """SB3 DQN decays epsilon over ``exploration_fraction`` of its training progress, which is rounds / budget:
    at the end of the budget epsilon is the final value, although the head made far fewer than N decisions
    per round (with SB3's own timestep count the schedule would stop part-way)."""
    from stable_baselines3 import DQN

    hp = {**FAST["crl_dqn"], "exploration_fraction": 0.9, "exploration_initial_eps": 1.0,
          "exploration_final_eps": 0.2}
    run = train("crl_dqn", "none", TINY, 30, 0, tmp_path / "crl", "cpu", hparams=hp, progress=False)
    state = read_json(run / "checkpoint" / "state.json")
    assert state["decisions"] < 30 * 10 * 0.9  # an upper bound of N decisions per round would be off
    model = DQN.load(run / "checkpoint" / "model.zip", device="cpu")
    assert model.exploration_rate == pytest.approx(0.2, abs=0.02)


def test_idqn_epsilon_decays_over_a_fraction_of_the_budget(tmp_path: Path):
    run = train("idqn", "none", TINY, 40, 0, tmp_path / "i", "cpu", progress=False,
                hparams={**FAST["idqn"], "eps_decay_fraction": 0.25})
    saved = read_json(run / "checkpoint" / "idqn.json")["hparams"]
    assert saved["eps_decay_rounds"] == 10  # 0.25 x 40 rounds, fixed for a resumed run
    from agents.learners.idqn import IDQN

    agent = IDQN.load(run / "checkpoint", "cpu", with_buffer=False)
    assert agent.epsilon(0) == 1.0 and agent.epsilon(5) == pytest.approx(0.525)
    assert agent.epsilon(10) == pytest.approx(0.05) and agent.epsilon(30) == pytest.approx(0.05)


# ---------------------------------------------------------------------- learning curves
def test_curves_rows_at_the_interval_and_equal_to_a_separate_evaluation(tmp_path: Path):
    run = train("idqn", "none", TINY, 25, 1, tmp_path / "c", "cpu", hparams=FAST["idqn"], progress=False,
                eval_every=10, eval_seeds=(100, 200), eval_episodes=1)
    with (run / "curves.csv").open() as f:
        assert tuple(next(csv.reader(f))) == CURVE_COLUMNS
    rows = read_curve(run / "curves.csv")
    assert [r["round"] for r in rows] == [0, 10, 20, 25]
    assert all(r["episodes"] == 2 for r in rows)
    final = [evaluate(run, "none", TINY, 1, seed, "cpu") for seed in (100, 200)]
    assert rows[-1]["mean_jct_all"] == pytest.approx(np.mean([r["mean_jct_all"] for r in final]))
    assert rows[-1]["collisions"] == pytest.approx(np.mean([r["collisions"] for r in final]))
    assert rows[-1]["mean_reward"] == pytest.approx(np.mean([r["episode_return"] for r in final]))
    # periodic evaluation does not perturb training
    quiet = train("idqn", "none", TINY, 25, 1, tmp_path / "q", "cpu", hparams=FAST["idqn"], progress=False)
    np.testing.assert_equal(read_episodes(run / "episodes.csv"), read_episodes(quiet / "episodes.csv"))


@pytest.mark.parametrize("algo", ["ippo", "maskable_ppo", "crl_ppo"])
def test_curves_for_rollout_learners_and_the_head(algo: str, tmp_path: Path):
    run = train(algo, "none", TINY, 30, 0, tmp_path / algo, "cpu", hparams=FAST[algo], progress=False,
                eval_every=15, eval_seeds=(7,))
    rounds = [r["round"] for r in read_curve(run / "curves.csv")]
    assert rounds[0] == 0 and rounds[-1] == 30 and len(rounds) == 3
    assert 15 <= rounds[1] < 20  # CRL: the first head decision at or after round 15


def test_curves_continue_on_resume(tmp_path: Path):
    run = train("idqn", "none", TINY, 15, 0, tmp_path / "r", "cpu", hparams=FAST["idqn"], progress=False,
                eval_every=10, eval_seeds=(3,))
    assert [r["round"] for r in read_curve(run / "curves.csv")] == [0, 10, 15]
    resume_run(run, 30, device="cpu", progress=False)
    assert [r["round"] for r in read_curve(run / "curves.csv")] == [0, 10, 15, 20, 30]


# ---------------------------------------------------------------------- a trained learner beats random
def test_a_trained_learner_beats_random_on_fixed_seeds(tmp_path: Path):
    """IDQN without action masking (so safe play must be learned, not read from the mask), 400 rounds of
    ``small`` in 30-round episodes, no shield. On 6 fixed evaluation episodes, for each of 2 training seeds,
    it has a lower mean JCT (all jobs) than the random policy and far fewer overloads than random and than
    itself before training (its curve's round-0 row, the same episodes). Measured: random 110.9 s and 34.3
    overloads; IDQN 94-100 s and 0.7-17 overloads, from 36-50 untrained."""
    cfg = {"scenario": "small", "horizon": 30}
    rand = evaluate("random", "none", cfg, 6, 50_000)
    for seed in (0, 1):
        run = train("idqn", "none", cfg, 400, seed, tmp_path / f"s{seed}", "cpu", progress=False,
                    hparams={"hidden": [64, 64], "learning_starts": 500, "mask_actions": False},
                    eval_every=400, eval_seeds=(50_000,), eval_episodes=6)
        untrained, trained = read_curve(run / "curves.csv")
        assert (untrained["round"], trained["round"]) == (0, 400)
        assert trained["mean_jct_all"] < 0.95 * rand["mean_jct_all"], (seed, trained, rand["mean_jct_all"])
        assert trained["overloads"] < 0.6 * min(rand["overloads"], untrained["overloads"]), (seed, trained, untrained)


# ---------------------------------------------------------------------- withheld preferences
def test_shield_preferences_false_withholds_them_in_training_and_evaluation(tmp_path: Path, monkeypatch):
    pytest.importorskip("shields")
    from shields.wrappers import ShieldWrapper

    seen: list[bool] = []
    original = ShieldWrapper.step_arrays

    def spy(self, actions, preferences=None):
        seen.append(preferences is not None)
        return original(self, actions, preferences)

    monkeypatch.setattr(ShieldWrapper, "step_arrays", spy)
    for share in (True, False):
        seen.clear()
        run = train("idqn", "central", TINY, 10, 0, tmp_path / str(share), "cpu", progress=False,
                    hparams={**FAST["idqn"], "shield_preferences": share})
        assert seen and set(seen) == {share}
        assert read_json(run / "config.json")["shield_preferences"] is share
        assert "shield_preferences" not in read_json(run / "config.json")["hparams"]
        seen.clear()
        evaluate(run, episodes=1, seed=9, device="cpu")
        assert seen and set(seen) == {share}


# ---------------------------------------------------------------------- the convergence criterion
def _curve(values, step=500):
    return [{"round": step * i, "mean_jct_all": v} for i, v in enumerate(values)]


def test_has_flattened_on_hand_made_curves():
    flat = _curve([200, 150, 120, 100, 100.5, 99.5, 100, 100, 100.5, 99.5, 100, 100, 100.5, 99.5, 100])
    assert has_flattened(flat)
    # last third = 4 points falling 1 per 500 rounds on a mean of 76.5: 2 per 1,000 rounds = 2.6%
    still_falling = _curve([100, 95, 90, 86, 83, 81, 80, 79, 78, 77, 76, 75])
    f = flatness(still_falling)
    assert f.points == 4 and f.mean == pytest.approx(76.5) and f.improvement == pytest.approx(2 / 76.5)
    assert not f.flattened and "still improve" in f.reason
    assert not has_flattened(still_falling)
    # frozen: a policy that stopped updating reads the same value at every point
    frozen = _curve([120, 100, 88, 88, 88, 88, 88, 88, 88, 88, 88, 88])
    assert flatness(frozen).frozen and not has_flattened(frozen)
    assert not has_flattened(_curve([100, 100, 100]))  # too few evaluations to tell
    assert not has_flattened(_curve([np.nan] * 6))
    # too few evaluation episodes behind each point
    few = [{**row, "episodes": 2} for row in flat]
    assert not has_flattened(few) and "episode" in flatness(few).reason
    assert has_flattened([{**row, "episodes": 5} for row in flat])
    # two seeds per round are averaged first (and their episodes summed): 90/110 average to a flat 100
    two_seeds = [{"round": r, "mean_jct_all": v + (r % 7), "episodes": 3} for r in range(0, 600, 50)
                 for v in (90, 110)]
    assert has_flattened(two_seeds)
    # noise too large for 4 points to pin the trend down: the interval leaves room for improvement
    noisy = _curve([100, 100, 100, 100, 100, 100, 100, 100, 60, 140, 60, 140])
    assert not has_flattened(noisy)
    with pytest.raises(ValueError, match="round"):
        has_flattened([{"step": 1, "mean_jct_all": 3}])
    with pytest.raises(ValueError, match="window"):
        has_flattened(_curve([1, 2, 3]), window=0)


def test_has_flattened_reads_a_dataframe():
    import pandas as pd

    df = pd.DataFrame(_curve([300, 200, 150, 140, 140.5, 139.5, 140, 140, 140.5, 140, 139.5, 140]))
    assert has_flattened(df) and not has_flattened(df.iloc[:6])


@settings(max_examples=60, deadline=None)
@given(slope=st.floats(-0.01, 0.01), base=st.floats(200.0, 1_000.0), wiggle=st.floats(0.05, 0.5))
def test_has_flattened_judges_the_trend_and_its_interval(slope: float, base: float, wiggle: float):
    """A line through 12 evaluations every 500 rounds, plus a small alternating wiggle on the last 4 (the
    window): a line improving by clearly more than 2% per 1,000 rounds fails; one improving by clearly less
    (or rising) passes, whatever the small noise; near the limit the interval decides."""
    rounds = np.arange(12) * 500.0
    values = base + slope * rounds
    values[-4:] += wiggle * np.array([1.0, -1.0, -1.0, 1.0])  # no linear trend over the window
    mean = values[-4:].mean()
    improvement = -slope * 1000 / mean
    f = flatness(_curve(values))
    assert f.improvement == pytest.approx(improvement, abs=1e-9)
    if improvement > 0.02:
        assert not f.flattened
    elif improvement < 0.02 - 0.015:
        assert f.flattened, f.reason
