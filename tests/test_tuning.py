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


class _Killed(KeyboardInterrupt):
    """Stands for a kill: ``run_cells`` lets a KeyboardInterrupt through."""


def _fake_trial(calls: list[int], kill_after: int | None = None):
    """A ``run_trial`` stand-in scoring a trial from its hyperparameters (no training); raises after ``kill_after``."""
    def run(cell):
        if kill_after is not None and len(calls) >= kill_after:
            raise _Killed
        calls.append(cell.number)
        value = 100 * cell.hparams.get("lr", cell.hparams.get("learning_rate")) + cell.hparams["gamma"]
        if cell.number == 2:
            raise RuntimeError("this trial fails")  # a failed trial is journaled and replayed as failed
        return {"mean_jct_all": value, "per_seed": [value], "wall_s": 0.0}
    return run


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_study_resumes_with_the_trials_an_uninterrupted_run_samples(tmp_path: Path, monkeypatch, workers):
    import study.experiments.tuning as tuning

    monkeypatch.setattr("study.experiments.cells.run_cells", lambda fn, cells, **kw: [_call(fn, c) for c in cells])
    kwargs = dict(trials=9, rounds=10, overrides=TINY, episodes=1, train_seeds=1, workers=workers, progress=False)
    calls: list[int] = []
    monkeypatch.setattr(tuning, "run_trial", _fake_trial(calls))
    whole = yaml.safe_load(tune("MARL", "small", out_root=tmp_path / "whole", **kwargs).read_text())
    assert calls == list(range(9)) and whole["resume"]["replay"] == "none"

    calls = []
    monkeypatch.setattr(tuning, "run_trial", _fake_trial(calls, kill_after=5))
    with pytest.raises(_Killed):
        tune("MARL", "small", out_root=tmp_path / "cut", **kwargs)
    journal = tmp_path / "cut" / "small" / "MARL.journal.jsonl"
    done = 4 if workers == 2 else 5  # the batch running at the kill is lost, finished batches are kept
    assert len(journal.read_text().splitlines()) == 1 + done and not (tmp_path / "cut" / "small" / "MARL.yaml").exists()
    with open(journal, "a") as f:
        f.write('{"kind": "trial", "numb')  # a line cut short by the kill is dropped
    calls = []
    monkeypatch.setattr(tuning, "run_trial", _fake_trial(calls))
    resumed = yaml.safe_load(tune("MARL", "small", out_root=tmp_path / "cut", **kwargs).read_text())
    assert calls == list(range(done, 9))  # only the trials not finished before the kill run
    assert resumed["resume"] == {"journal": journal.name, "resumed_trials": done, "replay": "exact"}
    assert resumed["history"] == whole["history"]  # the same trials as the uninterrupted run, the same scores
    assert [h["value"] for h in resumed["history"]].count(None) == 1
    assert (resumed["algo"], resumed["hparams"], resumed["best_value"]) == \
        (whole["algo"], whole["hparams"], whole["best_value"])

    calls = []  # a finished study resumed again trains nothing
    tune("MARL", "small", out_root=tmp_path / "cut", **kwargs)
    assert calls == []


def _call(fn, cell):
    from study.experiments.cells import CellFailure

    try:
        return fn(cell)
    except RuntimeError as err:
        return CellFailure(str(err), "")


def test_resuming_with_other_settings_is_refused_and_another_trial_count_keeps_the_trials(tmp_path: Path, monkeypatch):
    import study.experiments.tuning as tuning

    monkeypatch.setattr("study.experiments.cells.run_cells", lambda fn, cells, **kw: [_call(fn, c) for c in cells])
    calls: list[int] = []
    monkeypatch.setattr(tuning, "run_trial", _fake_trial(calls))
    kwargs = dict(overrides=TINY, episodes=1, train_seeds=1, out_root=tmp_path, progress=False)
    first = yaml.safe_load(tune("MARL", "small", trials=6, rounds=10, **kwargs).read_text())
    with pytest.raises(ValueError, match="MARL.journal.jsonl is for another study .*rounds"):
        tune("MARL", "small", trials=6, rounds=11, **kwargs)
    calls.clear()  # more trials: 6 -> 12 changes the start-up trials (2 -> 4), so trials 2-5 are added as recorded
    more = yaml.safe_load(tune("MARL", "small", trials=12, rounds=10, **kwargs).read_text())
    assert calls == list(range(6, 12)) and more["resume"]["replay"] == "history"
    assert more["history"][:6] == first["history"]
    journal = tmp_path / "small" / "MARL.journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0], "not json", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        tune("MARL", "small", trials=12, rounds=10, **kwargs)


def test_srole_tune_cli_resumes_from_its_journal(capsys, tmp_path: Path):
    argv = ["tune", "--method", "MARL", "--scenario", "small", "--set", "horizon=10", "--trials", "2", "--rounds",
            "10", "--episodes", "1", "--train-seeds", "1", "--out", str(tmp_path), "--device", "cpu",
            "--journal", str(tmp_path / "j.jsonl")]
    assert main([*argv, "--no-progress"]) == 0
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == 3 and not (tmp_path / "small" / "MARL.journal.jsonl").exists()
    capsys.readouterr()
    assert main(argv) == 0  # run again: both trials come from the journal, none is trained again
    out = capsys.readouterr().out
    assert "resumed 2 finished trial(s)" in out and "(exact replay)" in out
    assert (tmp_path / "j.jsonl").read_text().splitlines() == lines
    assert load_tuned("MARL", "small", tmp_path)["resume"]["resumed_trials"] == 2
