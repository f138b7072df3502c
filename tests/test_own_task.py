"""Scoring a scheduler on a user's own workload: an unofficial task, references run on the same episodes (so the
paired part and the rank are real), and a loud warning where a frozen task's card has no references."""

from __future__ import annotations

import warnings

import pytest

from srole_cli.main import main
from study.benchmark.own_task import OWN_REFERENCES, UNOFFICIAL, own_task, score_own
from study.benchmark.score import NoReferencesWarning, make_card, read_card
from study.benchmark.tasks import load_task

SMALL = {"n_edges": 6, "horizon": 12, "arrival_rate": 0.02}


def test_own_workload_is_scored_against_references_on_the_same_episodes(tmp_path):
    task = own_task("small", episodes=3, seed=5, overrides=SMALL)
    assert task.suite == UNOFFICIAL and task.seeds() == [5, 6, 7] and task.config["n_edges"] == 6
    card = score_own("random", task, out=tmp_path / "card.json", progress=False)
    assert card["unofficial"] is True and card["suite"] == UNOFFICIAL
    ranked = [m for m in OWN_REFERENCES if m != "lower-bound"]
    assert sorted(card["paired"]) == sorted(ranked) and card["rank"]["of"] == len(ranked) + 1
    assert all(p["n"] == 3 for p in card["paired"].values())  # paired over the task's three episodes
    assert "lower-bound" in card["gaps"]
    assert read_card(tmp_path / "card.json")["content_hash"] == card["content_hash"]  # the hash covers the note
    ref = tmp_path / "references" / UNOFFICIAL / task.name / "least_loaded.json"
    before = ref.stat().st_mtime_ns
    again = score_own("random", task, out=tmp_path / "card2.json", progress=False)
    assert ref.stat().st_mtime_ns == before  # the references of this task version are reused
    assert again["paired"]["least_loaded"]["reference_mean"] == card["paired"]["least_loaded"]["reference_mean"]


def test_own_trace_changes_the_task(tmp_path):
    trace = tmp_path / "jobs.csv"
    trace.write_text("arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n0.0,1,resnet18,500,1,32,2\n")
    task = own_task("small", trace=trace, episodes=2, overrides=SMALL)
    assert task.config["trace_path"] == str(trace.resolve()) and task.name == "small-jobs"
    assert task.content_hash != own_task("small", episodes=2, overrides=SMALL).content_hash
    with pytest.raises(ValueError, match="does not exist"):
        own_task("small", trace=tmp_path / "nope.csv")


def test_a_card_without_references_warns_and_has_no_rank(tmp_path):
    task = load_task("edge_cluster_v1/small_poisson")
    from study.benchmark.runner import METRICS

    rows = [{"episode": e, "seed": s, **dict.fromkeys(METRICS, 1.0), "mean_jct_all": 10.0 + e}
            for e, s in enumerate(task.seeds())]
    with pytest.warns(NoReferencesWarning, match="no paired differences and no rank"):
        card = make_card(task, {"spec": "x"}, "none", rows, references=tmp_path)
    assert card["rank"]["rank"] is None and card["paired"] == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoReferencesWarning)
        make_card(task, {"spec": "x"}, "none", rows)  # the package's own references are found


def test_cli_scores_your_own_trace(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rt.csv").write_text("runtime_s\n" + "\n".join(str(5 * i + 5) for i in range(20)) + "\n")
    assert main(["trace", "runtimes", "rt.csv", "jobs.csv", "--n-edges", "6", "--arrival-rate", "0.02",
                 "--duration-s", "60"]) == 0
    assert main(["score", "least_loaded", "--trace", "jobs.csv", "--scenario", "small", "--set", "n_edges=6",
                 "--set", "horizon=12", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "unofficial/small-jobs" in out and "rank " in out
    assert (tmp_path / "scores" / "score-small-jobs-least_loaded.json").is_file()  # a folder of its own
    assert main(["score", "least_loaded", "--task", "small_poisson", "--trace", "jobs.csv"]) == 2
