"""Equal tuning: ``srole tune`` / ``study.experiments.tuning`` (Optuna), its YAML, and seeds disjoint from
evaluation."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from agents.harness.registry import LEARNERS as REGISTRY
from srole_cli.main import main
from study.experiments.tuning import (
    CRL_LEARNERS,
    LEARNERS,
    METHODS,
    TUNE_SEED_BASE,
    _suggest,
    load_tuned,
    search_space,
    tune,
    tuning_seeds,
)

TINY = {"horizon": 10}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_two_trials_write_a_yaml_that_load_tuned_reads(tmp_path: Path):
    path = tune("SROLE-central-noprefs", "small", trials=2, rounds=12, overrides=TINY, episodes=1, train_seeds=2,
                out_root=tmp_path, progress=False)
    assert path == tmp_path / "small" / "SROLE-central-noprefs.yaml"
    tuned = load_tuned("SROLE-central-noprefs", "small", tmp_path)
    assert tuned["algo"] in LEARNERS and tuned["shield"] == "central"
    assert tuned["hparams"]["shield_preferences"] is False  # the ablation withholds preferences
    assert tuned["trials"] == 2 and tuned["rounds"] == 12 and tuned["overrides"] == TINY
    values = [h["value"] for h in tuned["history"]]
    assert len(values) == 2 and None not in values  # both trials trained and scored
    assert tuned["best_value"] == min(values)
    best = tuned["history"][tuned["best_trial"]]
    assert (best["algo"], best["hparams"]) == (tuned["algo"], tuned["hparams"])
    assert set(tuned["search_space"]) >= {"algo", "lr", "gamma"} and tuned["search_dimensions"] == 4
    assert tuned["eval_seeds"] == [TUNE_SEED_BASE + 1]
    assert tuned["train_seeds"] == [TUNE_SEED_BASE, TUNE_SEED_BASE + 1000]
    for h in tuned["history"]:  # each trial is scored by the mean over its training seeds
        assert len(h["per_seed"]) == 2 and h["value"] == pytest.approx(sum(h["per_seed"]) / 2)
    # the tuned hyperparameters train as they are
    from agents.harness.train import train

    run = train(tuned["algo"], tuned["shield"], {"scenario": "small", **TINY}, 5, 0, tmp_path / "run", "cpu",
                hparams=tuned["hparams"], progress=False)
    assert (run / "checkpoint" / "state.json").is_file()


def test_load_tuned_is_none_when_untuned_and_rejects_a_bad_file(tmp_path: Path):
    assert load_tuned("MARL", "paper", tmp_path) is None
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "MARL.yaml").write_text(yaml.safe_dump({"algo": "idqn"}))
    with pytest.raises(ValueError, match="hparams"):
        load_tuned("MARL", "paper", tmp_path)
    with pytest.raises(ValueError, match="method"):
        load_tuned("SROLE", "paper", tmp_path)


def test_tuning_seeds_are_disjoint_from_the_evaluation_seeds():
    from study.experiments.plan import EVAL_SEED_OFFSET

    train_seeds, eval_seeds = tuning_seeds(TUNE_SEED_BASE, 100)
    evaluation = {EVAL_SEED_OFFSET + 100 * seed + e for seed in range(100) for e in range(100)}
    assert not ({*train_seeds, *eval_seeds} & evaluation)
    assert eval_seeds == list(range(TUNE_SEED_BASE + 1, TUNE_SEED_BASE + 101))
    assert train_seeds == [TUNE_SEED_BASE, TUNE_SEED_BASE + 1000, TUNE_SEED_BASE + 2000]  # 3 by default
    assert not set(train_seeds) & set(tuning_seeds(TUNE_SEED_BASE, 999, 5)[1])
    with pytest.raises(ValueError, match="episodes"):
        tuning_seeds(TUNE_SEED_BASE, 1000)
    with pytest.raises(ValueError, match="disjoint"):
        tuning_seeds(EVAL_SEED_OFFSET, 3)


def _sampled(method: str, trials: int, seed: int):
    """``(trial, algo, hparams)`` of ``trials`` random points of ``method``'s search space."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(trials):
        trial = study.ask()
        yield (trial, *_suggest(trial, method))
        study.tell(trial, 1.0)


def test_every_method_samples_the_same_number_of_dimensions():
    """Equal search-space size: each trial of each method samples 4 parameters (the learner counts as one)."""
    for method in METHODS:
        for trial, algo, hparams in _sampled(method, 12, seed=0):
            assert len(trial.params) == 4, (method, trial.params)
            assert algo in METHODS[method].algos
            assert hparams.get("shield_preferences", True) is METHODS[method].shield_preferences
        assert len([k for k in search_space(method) if k in ("lr", "gamma")]) == 2
    assert {m.algos for name, m in METHODS.items() if name != "CRL"} == {LEARNERS}  # MARL = SROLE's procedure
    assert METHODS["CRL"].algos == CRL_LEARNERS and len(CRL_LEARNERS) == len(LEARNERS)  # CRL chooses the same way


def test_tuned_hparams_are_valid_for_each_algo():
    """Every sampled point is accepted by the algo's own hyperparameter check."""
    for method in METHODS:
        for _, algo, hparams in _sampled(method, 6, seed=1):
            REGISTRY[algo].hparams({k: v for k, v in hparams.items() if k != "shield_preferences"})


def test_crl_chooses_its_learner_at_the_head(tmp_path: Path):
    tune("CRL", "small", trials=2, rounds=12, overrides=TINY, episodes=1, train_seeds=1, out_root=tmp_path,
         progress=False)
    tuned = load_tuned("CRL", "small", tmp_path)
    assert tuned["algo"] in CRL_LEARNERS and tuned["shield"] == "none" and tuned["search_dimensions"] == 4
    assert tuned["search_space"]["algo"]["choices"] == list(CRL_LEARNERS)


def test_srole_tune_cli(capsys, tmp_path: Path):
    status = main(["tune", "--method", "MARL", "--scenario", "small", "--set", "horizon=10", "--trials", "2",
                   "--rounds", "10", "--episodes", "1", "--train-seeds", "1", "--out", str(tmp_path),
                   "--no-progress", "--device", "cpu"])
    out = capsys.readouterr().out
    assert status == 0 and "MARL on small: best" in out and str(tmp_path / "small" / "MARL.yaml") in out
    assert load_tuned("MARL", "small", tmp_path)["trials"] == 2


@pytest.mark.parametrize("argv, needle", [
    (["tune", "--method", "SROLE"], "--method"),
    (["tune", "--method", "MARL", "--trials", "0"], "--trials"),
    (["tune", "--method", "MARL", "--seed-base", "10000", "--out", "{tmp}"], "seed_base"),
    (["tune", "--method", "MARL", "--set", "n_edges=0", "--out", "{tmp}"], "n_edges"),
])
def test_srole_tune_rejects_bad_input_in_one_line(capsys, tmp_path: Path, argv: list[str], needle: str):
    status = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("srole: error: ") and needle in err[0]


def test_srole_tune_all_refuses_before_training_when_an_algo_is_missing(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.delitem(REGISTRY, "crl_maskable_ppo")  # as on an install whose registry lacks CRL's learner
    status = main(["tune", "--method", "all", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "crl_maskable_ppo" in err and not any(tmp_path.iterdir())
