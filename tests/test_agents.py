"""Learners, run directories, resume, evaluation: every algo trains for a tiny budget and reloads."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.common.array_env import ArrayEnv, EpisodeDriver, episode_seed, make_parallel_env
from agents.common.run_dir import read_episodes, read_json
from agents.common.vec_env import EdgeVecEnv
from agents.harness.evaluate import evaluate, format_table, write_csv, write_json
from agents.harness.policies import load_policy
from agents.harness.registry import LEARNERS
from agents.harness.train import resume_run, train
from srole_common.names import ALGO_NAMES
from srole_env import CentralizedSchedulingEnv, make_config

TINY = {"scenario": "small", "horizon": 10}
"""10 edges, 10 rounds per episode."""
TINY_HPARAMS = {
    "ppo": {"n_steps": 10, "batch_size": 50, "n_epochs": 2},
    "maskable_ppo": {"n_steps": 10, "batch_size": 50, "n_epochs": 2},
    "dqn": {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "target_update_interval": 100},
    "idqn": {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "hidden": [32, 32], "eps_decay_rounds": 30},
    "ippo": {"rollout_rounds": 10, "n_epochs": 2, "minibatch_size": 50, "hidden": [32, 32]},
    "crl_ppo": {"n_steps": 32, "batch_size": 16, "n_epochs": 2},
    "crl_dqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16, "target_update_interval": 50},
    "crl_maskable_ppo": {"n_steps": 32, "batch_size": 16, "n_epochs": 2},
    "crl_idqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16, "hidden": [32, 32]},
}
METRIC_KEYS = {"collisions", "overloads", "mean_jct", "mean_jct_all", "p95_jct", "interventions",
               "scheduling_overhead_s"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_train(algo: str, out: Path, rounds: int, seed: int = 0, shield: str = "none", **hparams) -> Path:
    return train(algo, shield, TINY, rounds, seed, out, "cpu", hparams={**TINY_HPARAMS[algo], **hparams},
                 progress=False)


# ---------------------------------------------------------------------- every algo
@pytest.mark.parametrize("algo", ALGO_NAMES)
def test_every_algo_trains_reloads_and_evaluates(algo: str, tmp_path: Path):
    run = tiny_train(algo, tmp_path / algo, 20)
    config = read_json(run / "config.json")
    assert config["algo"] == algo and config["cluster"]["horizon"] == 10 and config["hparams"]
    assert config["rounds"] == 20 and config["budget_unit"] == "simulated decision rounds"
    state = read_json(run / "checkpoint" / "state.json")
    assert state["rounds"] == 20
    assert state["samples"] > 0 and state["gradient_updates"] > 0  # reported beside rounds (METHODS rule 9)
    assert any((run / "tb").iterdir())
    rows = read_episodes(run / "episodes.csv")
    assert rows and METRIC_KEYS <= set(rows[0]) and {"episode", "total_rounds", "episode_return"} <= set(rows[0])
    assert [r["episode"] for r in rows] == list(range(len(rows)))

    policy, meta = load_policy(run)
    assert meta["env_kind"] == LEARNERS[algo].env_kind
    env = ArrayEnv(make_parallel_env(make_config(**TINY)))
    obs, mask = env.reset(seed=1)
    if meta["env_kind"] == "centralized":
        head_dim = CentralizedSchedulingEnv(make_config(**TINY)).observation_space.shape[0]
        obs, mask = np.concatenate([obs[:1], np.zeros((1, head_dim - obs.shape[1]), np.float32)], axis=1), mask[:1]
    prefs = policy.preferences(obs, mask)
    assert prefs.shape == mask.shape and np.isfinite(prefs).all()
    np.testing.assert_array_equal(policy.act(obs, mask), prefs.argmax(axis=1))

    result = evaluate(run, episodes=1, seed=5, device="cpu")
    assert METRIC_KEYS <= set(result) and len(result["rows"]) == 1 and result["episodes"] == 1


# ---------------------------------------------------------------------- resume and determinism
@pytest.mark.parametrize("algo", ["idqn", "ippo", "dqn", "maskable_ppo", "crl_ppo"])
def test_resume_continues_step_counter_and_learning_curve(algo: str, tmp_path: Path):
    first, total = 20, 40
    run = tiny_train(algo, tmp_path / algo, first)
    before = read_episodes(run / "episodes.csv")
    resume_run(run, total, device="cpu", progress=False)
    state = read_json(run / "checkpoint" / "state.json")
    assert state["rounds"] == total
    rows = read_episodes(run / "episodes.csv")
    np.testing.assert_equal(rows[: len(before)], before)
    assert len(rows) > len(before)
    assert [r["episode"] for r in rows] == list(range(len(rows)))
    assert np.all(np.diff([r["total_rounds"] for r in rows]) > 0)
    config = read_json(run / "config.json")
    assert config["resumes"][0]["from_rounds"] == first and config["rounds"] == total
    if algo == "idqn":
        with np.load(run / "checkpoint" / "replay.npz") as replay:
            assert int(replay["size"]) == 10 * state["rounds"]  # nothing dropped from the replay buffer
    if algo == "dqn":
        from stable_baselines3 import DQN

        model = DQN.load(run / "checkpoint" / "model.zip", device="cpu")
        model.load_replay_buffer(run / "checkpoint" / "replay_buffer.pkl")
        assert model.replay_buffer.size() * model.replay_buffer.n_envs == 10 * state["rounds"]


@pytest.mark.parametrize("algo, shield, hparams", [
    ("idqn", "none", {"n_step": 3}),
    ("ippo", "none", {"rollout_rounds": 5}),
    ("idqn", "central", {}),
])
def test_custom_learners_resume_exactly(algo: str, shield: str, hparams: dict, tmp_path: Path):
    """Train 25 + resume to 50 rounds (mid-episode) == train 50 in one go: same curve, same weights."""
    if shield != "none":
        pytest.importorskip("shields")
    straight = tiny_train(algo, tmp_path / "straight", 50, seed=3, shield=shield, **hparams)
    split = tiny_train(algo, tmp_path / "split", 25, seed=3, shield=shield, **hparams)
    resume_run(split, 50, device="cpu", progress=False)
    np.testing.assert_equal(read_episodes(straight / "episodes.csv"), read_episodes(split / "episodes.csv"))
    a = torch.load(straight / "checkpoint" / f"{algo}.pt", weights_only=True)
    b = torch.load(split / "checkpoint" / f"{algo}.pt", weights_only=True)
    key = "q" if algo == "idqn" else "model"
    for name, tensor in a[key].items():
        torch.testing.assert_close(tensor, b[key][name], rtol=0, atol=0)


def test_sb3_training_is_deterministic(tmp_path: Path):
    one = tiny_train("ppo", tmp_path / "one", 20, seed=7)
    two = tiny_train("ppo", tmp_path / "two", 20, seed=7)
    np.testing.assert_equal(read_episodes(one / "episodes.csv"), read_episodes(two / "episodes.csv"))
    a, b = (evaluate(run, episodes=1, seed=3, device="cpu") for run in (one, two))
    np.testing.assert_equal({**a, "policy": None}, {**b, "policy": None})  # (NaN == NaN here)


# ---------------------------------------------------------------------- shields
def test_shielded_learners_hand_preferences_to_the_shield(tmp_path: Path, monkeypatch):
    pytest.importorskip("shields")
    seen: list[bool] = []
    original = ArrayEnv.step

    def spy(self, actions, preferences=None):
        seen.append(self.shielded and preferences is not None and preferences.shape == (10, self.n_actions))
        return original(self, actions, preferences)

    monkeypatch.setattr(ArrayEnv, "step", spy)
    for algo in ("idqn", "ippo", "ppo"):
        seen.clear()
        run = tiny_train(algo, tmp_path / algo, 20, shield="central")
        assert seen and all(seen), algo
        rows = read_episodes(run / "episodes.csv")
        assert sum(r["collisions"] for r in rows) == 0  # SROLE: the shield removes every collision
    result = evaluate(tmp_path / "idqn", episodes=1, device="cpu")
    assert result["shield"] == "central" and result["collisions"] == 0


def test_decentralized_shield_runs_for_maskable_ppo(tmp_path: Path):
    pytest.importorskip("shields")
    run = tiny_train("maskable_ppo", tmp_path / "m", 10, shield="decentralized")
    assert evaluate(run, episodes=1, device="cpu")["collisions"] == 0


# ---------------------------------------------------------------------- adapters
def test_edge_vec_env_is_an_sb3_vec_env_over_the_agents():
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    rows = []
    env = ArrayEnv(make_parallel_env(make_config(**TINY)))
    venv = EdgeVecEnv(env, seed=1, on_episode=rows.append)
    obs = venv.reset()
    assert venv.num_envs == 10 and obs.shape == (10, env.obs_dim)
    assert is_masking_supported(venv) and get_action_masks(venv).shape == (10, env.n_actions)
    hold = np.full(10, env.n_actions - 1)
    for _ in range(10):
        obs, rewards, dones, infos = venv.step(hold)
        assert rewards.shape == (10,) and dones.shape == (10,)
    assert dones.all() and all(i["TimeLimit.truncated"] and "terminal_observation" in i for i in infos)
    assert len(rows) == 1 and rows[0]["total_rounds"] == 10 and rows[0]["episode"] == 0
    assert venv.driver.rounds == 10
    assert venv.driver.episode == 1


def test_episode_driver_seeds_episodes_by_index():
    env = ArrayEnv(make_parallel_env(make_config(**TINY)))
    a = EpisodeDriver(env, seed=4, episode=2).obs
    b = env.reset(seed=episode_seed(4, 2))[0]
    np.testing.assert_array_equal(a, b)
    assert episode_seed(4, 2) == episode_seed(4, 2) != episode_seed(4, 3) != episode_seed(5, 2)


# ---------------------------------------------------------------------- evaluation
def test_evaluate_heuristics_table_csv_json(tmp_path: Path):
    results = [evaluate(name, config=TINY, episodes=2, seed=11) for name in ("random", "local")]
    np.testing.assert_equal(results[0], evaluate("random", config=TINY, episodes=2, seed=11))  # seeded
    assert results[1]["collisions"] == 0 and results[1]["shield"] == "none"
    assert results[0]["mean_jct"] == pytest.approx(np.nanmean([r["mean_jct"] for r in results[0]["rows"]]))
    table = format_table(results)
    assert "mean_jct_all" in table and "random" in table and len(table.splitlines()) == 3
    write_csv(results, tmp_path / "r.csv")
    write_json(results, tmp_path / "r.json")
    with (tmp_path / "r.csv").open() as f:
        assert [r["policy"] for r in csv.DictReader(f)] == ["random", "local"]
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data[0]["rows"]) == 2 and not any(isinstance(v, float) and math.isnan(v) for v in data[0].values())


def test_crl_policies_run_on_the_centralized_env(tmp_path: Path):
    run = tiny_train("crl_dqn", tmp_path / "crl", 20)
    result = evaluate(run, episodes=1, device="cpu")
    assert result["shield"] == "none" and result["rows"][0]["rounds"] == 10
    with pytest.raises(ValueError, match="shield"):
        evaluate(run, shield="central", episodes=1)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"algo": "nope"}, "algo"),
    ({"rounds": -3}, "rounds"),
    ({"rounds": 10.5}, "rounds"),
    ({"eval_every": 0, "eval_seeds": (1,)}, "eval_every"),
    ({"eval_every": 5}, "eval_seeds"),
    ({"eval_seeds": (1,)}, "eval_every"),
    ({"hparams": {"shield_preferences": "no"}}, "shield_preferences"),
    ({"shield": "bogus"}, "shield"),
    ({"algo": "crl_ppo", "shield": "central"}, "shield"),
    ({"hparams": {"not_a_hparam": 1}}, "hyperparameter"),
    ({"hparams": {"lr": "fast"}}, "lr"),
])
def test_train_rejects_bad_input(kwargs: dict, match: str, tmp_path: Path):
    args = {"algo": "idqn", "shield": "none", "config": TINY, "rounds": 10, "seed": 0,
            "out_dir": tmp_path / "x", "device": "cpu", "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        train(**args)


def test_train_refuses_a_used_out_dir_and_resume_needs_a_checkpoint(tmp_path: Path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(FileExistsError):
        tiny_train("idqn", tmp_path / "used", 10)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resume_run(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="run directory"):
        resume_run(tmp_path / "used")
    with pytest.raises(FileNotFoundError, match="neither a heuristic"):
        evaluate(tmp_path / "missing")


def test_n_step_returns_discount_and_flush_at_episode_end():
    from agents.learners.replay import NStepReturns

    acc = NStepReturns(n=3, gamma=0.5)
    obs, act, mask = np.zeros((2, 1)), np.zeros(2, int), np.ones((2, 2))
    assert acc.push(obs, act, np.array([1.0, 0.0]), obs + 1, mask, False, False) == []
    assert acc.push(obs + 1, act, np.array([2.0, 0.0]), obs + 2, mask, False, False) == []
    (first,) = acc.push(obs + 2, act, np.array([4.0, 1.0]), obs + 3, mask, False, False)
    np.testing.assert_allclose(first[2], [1 + 0.5 * 2 + 0.25 * 4, 0.25])
    assert first[0][0, 0] == 0 and first[3][0, 0] == 3 and first[5] == 0.125
    tail = acc.push(obs + 3, act, np.array([8.0, 0.0]), obs + 4, mask, False, True)  # truncation: flush 3 rounds
    np.testing.assert_allclose([t[2][0] for t in tail], [2 + 0.5 * 4 + 0.25 * 8, 4 + 0.5 * 8, 8])
    assert [t[5] for t in tail] == [0.125, 0.25, 0.5] and not acc.pending
    (last,) = acc.push(obs, act, np.array([1.0, 1.0]), obs, mask, True, True)
    assert last[5] == 0.0


def test_checkpoint_schedule_fires_once_per_multiple():
    from agents.common.context import CheckpointSchedule

    schedule = CheckpointSchedule(100, start=150)
    assert [t for t in range(160, 520, 10) if schedule.due(t)] == [200, 300, 400, 500]
    assert not any(CheckpointSchedule(0, start=0).due(t) for t in range(0, 1000, 10))
