"""The learners' K-episode driver: K = 1 is the plain driver, sub-episodes are the run's seeded episodes, and
IDQN/IPPO train and resume exactly with ``n_envs`` > 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.common.array_env import ArrayEnv, EpisodeDriver, make_parallel_env
from agents.common.batched_driver import BatchedDriver
from agents.common.run_dir import read_episodes, read_json
from agents.harness.train import resume_run, train
from srole_env import make_config

CONFIG = make_config("small", horizon=4)
HPARAMS = {
    "idqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16, "hidden": [16], "eps_decay_rounds": 10},
    "ippo": {"rollout_rounds": 6, "n_epochs": 1, "minibatch_size": 40, "hidden": [16]},
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _env() -> ArrayEnv:
    return ArrayEnv(make_parallel_env(CONFIG))


def _run(driver, steps: int, rng: np.random.Generator, rows: list) -> list:
    outs = []
    for _ in range(steps):
        actions = rng.integers(driver.env.n_actions, size=driver.env.n_agents)
        out = driver.step(actions)
        outs.append((actions, out.obs.copy(), out.rewards.copy(), driver.obs.copy(), out.done))
    return outs


def test_one_env_batched_driver_is_the_plain_driver():
    rows_a, rows_b = [], []
    plain = EpisodeDriver(_env(), 5, rows_a.append)
    batched = BatchedDriver([_env()], 5, rows_b.append)
    np.testing.assert_array_equal(plain.obs, batched.obs)
    a = _run(plain, 9, np.random.default_rng(1), rows_a)
    b = _run(batched, 9, np.random.default_rng(1), rows_b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert rows_a == rows_b and len(rows_a) == 2
    assert (plain.rounds, plain.episode, plain.samples) == (batched.rounds, batched.episode, batched.samples)


def test_sub_episodes_are_the_runs_seeded_episodes():
    rows: list = []
    batched = BatchedDriver([_env(), _env()], 9, rows.append)
    n = CONFIG.n_edges
    steps = _run(batched, 2 * CONFIG.horizon, np.random.default_rng(2), rows)
    assert [r["episode"] for r in rows] == [0, 1, 2, 3]
    assert [r["total_rounds"] for r in rows] == [8, 8, 16, 16] and batched.rounds == 16 and batched.episode == 4
    single_rows: list = []
    single = EpisodeDriver(_env(), 9, single_rows.append)
    for episode in range(4):  # episode e ran on sub-env e % 2, in batch e // 2
        k, batch = episode % 2, episode // 2
        for t in range(CONFIG.horizon):
            actions, obs, rewards, _, _ = steps[batch * CONFIG.horizon + t]
            out = single.step(actions[k * n:(k + 1) * n])
            np.testing.assert_array_equal(out.obs, obs[k * n:(k + 1) * n])
            np.testing.assert_array_equal(out.rewards, rewards[k * n:(k + 1) * n])
    for got, want in zip(rows, single_rows):
        assert {**got, "total_rounds": 0} == pytest.approx({**want, "total_rounds": 0}, nan_ok=True)


def test_batched_driver_checkpoint_round_trip(tmp_path: Path):
    batched = BatchedDriver([_env(), _env()], 4)
    _run(batched, 6, np.random.default_rng(3), [])
    batched.save_state(tmp_path / "env.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.0.npz", "env.1.npz"]
    again = BatchedDriver([_env(), _env()], 4, episode=batched.episode, rounds=batched.rounds)
    again.load_state(tmp_path / "env.npz")
    np.testing.assert_array_equal(again.obs, batched.obs)
    with pytest.raises(ValueError, match="multiples of 2"):
        BatchedDriver([_env(), _env()], 4, episode=1)


@pytest.mark.parametrize("algo", ["idqn", "ippo"])
def test_learners_train_on_k_episodes_and_resume_exactly(algo: str, tmp_path: Path):
    """n_envs = 2: twice the episodes per step, the budget in rounds; 12 + resume to 24 == 24 in one go."""
    hp = {**HPARAMS[algo], "n_envs": 2}
    straight = train(algo, "none", CONFIG, 24, 3, tmp_path / "straight", "cpu", hparams=hp, progress=False)
    split = train(algo, "none", CONFIG, 12, 3, tmp_path / "split", "cpu", hparams=hp, progress=False)
    resume_run(split, 24, device="cpu", progress=False)
    episodes = read_episodes(straight / "episodes.csv")
    assert [int(row["episode"]) for row in episodes] == list(range(6))
    np.testing.assert_equal(episodes, read_episodes(split / "episodes.csv"))
    state = read_json(straight / "checkpoint" / "state.json")
    assert state["rounds"] == 24 and state["samples"] == 24 * CONFIG.n_edges
    a = torch.load(straight / "checkpoint" / f"{algo}.pt", weights_only=True)
    b = torch.load(split / "checkpoint" / f"{algo}.pt", weights_only=True)
    key = "q" if algo == "idqn" else "model"
    for name, tensor in a[key].items():
        torch.testing.assert_close(tensor, b[key][name], rtol=0, atol=0)
    one = train(algo, "none", CONFIG, 24, 3, tmp_path / "one", "cpu", hparams=HPARAMS[algo], progress=False)
    c = torch.load(one / "checkpoint" / f"{algo}.pt", weights_only=True)
    assert any(not torch.equal(c[key][name], a[key][name]) for name in a[key])  # K = 2 saw other episodes


K1_HPARAMS = {
    "idqn": {"learning_starts": 50, "buffer_size": 2000, "batch_size": 32, "hidden": [32, 32], "eps_decay_rounds": 30,
             "train_every_rounds": 2},
    "ippo": {"rollout_rounds": 7, "n_epochs": 2, "minibatch_size": 50, "hidden": [32, 32]},
}


@pytest.mark.parametrize("algo", ["idqn", "ippo"])
def test_one_env_trains_as_without_the_option(algo: str, tmp_path: Path):
    """``n_envs=1`` trains exactly as the default (no option): the same episodes, updates and weights. The default
    itself was checked against runs recorded before the option existed (``tests/data/k1_training.json``, written
    on one machine: learned runs are not bitwise across CPUs, so the suite compares within this process)."""
    runs = {}
    for label, extra in (("default", {}), ("one", {"n_envs": 1})):
        runs[label] = train(algo, "none", make_config("small", horizon=10), 60, 4, tmp_path / label, "cpu",
                            hparams={**K1_HPARAMS[algo], **extra}, progress=False)
    a, b = (read_episodes(runs[k] / "episodes.csv") for k in ("default", "one"))
    assert [r["episode_return"] for r in a] == [r["episode_return"] for r in b]
    assert [r["mean_jct"] for r in a] == [r["mean_jct"] for r in b]
    updates = [read_json(runs[k] / "checkpoint" / "state.json")["gradient_updates"] for k in ("default", "one")]
    assert updates[0] == updates[1] > 0
    key = "q" if algo == "idqn" else "model"
    wa, wb = (torch.load(runs[k] / "checkpoint" / f"{algo}.pt", weights_only=True)[key] for k in ("default", "one"))
    for name, tensor in wa.items():
        torch.testing.assert_close(tensor, wb[name], rtol=0, atol=0)


@pytest.mark.parametrize("algo", ["idqn", "ippo"])
def test_n_envs_must_divide_the_budget(algo: str, tmp_path: Path):
    with pytest.raises(ValueError, match="n_envs.*does not divide the budget of 25 rounds"):
        train(algo, "none", CONFIG, 25, 0, tmp_path / "r", "cpu", hparams={**HPARAMS[algo], "n_envs": 2},
              progress=False)
    assert not (tmp_path / "r" / "checkpoint").exists()


def test_shielded_learner_collects_from_k_episodes(tmp_path: Path):
    """Each sub-env sits behind its own shield; the learner's preferences reach every one."""
    pytest.importorskip("shields")
    run = train("idqn", "central", CONFIG, 16, 1, tmp_path / "s", "cpu", hparams={**HPARAMS["idqn"], "n_envs": 2},
                progress=False)
    rows = read_episodes(run / "episodes.csv")
    assert [int(r["episode"]) for r in rows] == [0, 1, 2, 3] and all(float(r["collisions"]) == 0 for r in rows)


def test_engine_driver_is_the_batched_driver_over_single_envs(tmp_path: Path):
    """Unshielded n_envs runs step one batched env (K blocks of one simulator): the same episodes, outputs, rows
    and checkpoint files as K single envs; either driver resumes the other's checkpoint."""
    from agents.common.batched_driver import EngineDriver
    from srole_env.vector import BatchedEdgeClusterEnv

    def engine(**kw):
        return EngineDriver(BatchedEdgeClusterEnv(3, CONFIG, autoreset_mode="Disabled"), 9, **kw)

    rows_a, rows_b = [], []
    singles = BatchedDriver([_env(), _env(), _env()], 9, rows_a.append)
    batched = engine(on_episode=rows_b.append)
    np.testing.assert_array_equal(singles.obs, batched.obs)
    a = _run(singles, 2 * CONFIG.horizon + 1, np.random.default_rng(6), rows_a)
    b = _run(batched, 2 * CONFIG.horizon + 1, np.random.default_rng(6), rows_b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert rows_a == rows_b and [r["episode"] for r in rows_b] == list(range(6))
    assert (singles.rounds, singles.episode, singles.samples) == (batched.rounds, batched.episode, batched.samples)
    singles.save_state(tmp_path / "a.npz")
    batched.save_state(tmp_path / "b.npz")
    for i in range(3):
        np.testing.assert_equal(dict(np.load(tmp_path / f"a.{i}.npz")), dict(np.load(tmp_path / f"b.{i}.npz")))
    again = engine(episode=batched.episode, rounds=batched.rounds)
    again.load_state(tmp_path / "a.npz")  # the single envs' checkpoint
    np.testing.assert_array_equal(again.obs, batched.obs)
    np.testing.assert_array_equal(again.returns, batched.returns)
    from srole_common.persist import CorruptFile

    with pytest.raises(CorruptFile, match="does not match the checkpoint"):
        engine(episode=batched.episode + 3, rounds=batched.rounds).load_state(tmp_path / "a.npz")
