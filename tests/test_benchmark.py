"""The benchmark (study.benchmark): frozen tasks, score cards equal to evaluate's, --compare, bad input, regression."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.harness.evaluate import evaluate
from srole_cli.main import main
from srole_common.persist import write_json
from srole_env.config import ClusterConfig
from study.benchmark.policy_spec import PolicyError
from study.benchmark.regression import first_episode_hash
from study.benchmark.score import compare, read_card, score
from study.benchmark.tasks import ADDED_FIELDS, all_tasks, data_hash, load_task

ROOT = Path(__file__).resolve().parents[1]
HASHES = ROOT / "tests" / "data" / "benchmark_hashes.json"
SMALL = "edge_cluster_v1/small_poisson"


@pytest.fixture(autouse=True)
def _trace_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SROLE_TRACE_CACHE", str(tmp_path / "traces"))


def _short(task_id: str, episodes: int = 2):
    task = load_task(task_id)
    workload = dict(task.workload)
    if "windows" in workload:
        workload["windows"] = workload["windows"][:episodes]
    return dataclasses.replace(task, episodes=episodes, workload=workload)


def test_suite_covers_the_issue():
    tasks = all_tasks()
    assert len(tasks) >= 6
    sizes = {t.cluster().n_edges for t in tasks}
    kinds = {t.workload["kind"] for t in tasks}
    assert min(sizes) <= 20 and 50 in sizes and max(sizes) >= 1000
    assert kinds == {"poisson", "poisson_window", "onoff", "pod_trace"}
    assert any(t.bounds.get("optimum") for t in tasks) and any(t.bounds.get("fluid_bound") for t in tasks)
    fields = {f.name for f in dataclasses.fields(ClusterConfig)}
    for t in tasks:
        assert set(t.config) | set(ADDED_FIELDS) == fields, f"{t.id}: the frozen config must hold every field"
        if t.workload["kind"] == "poisson":  # episodes run with every field, the added ones at their frozen values
            assert set(t.episode_config(0)) == fields and t.cluster().request_s is None
        assert t.description and t.episodes >= 1 and t.id.startswith("edge_cluster_v1/")


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown task; known: .*small_poisson"):
        load_task("edge_cluster_v1/nope")
    with pytest.raises(ValueError, match="unknown suite 'edge_cluster_v9'"):
        load_task("edge_cluster_v9/small_poisson")


@pytest.mark.parametrize("task_id", [SMALL, "edge_cluster_v1/paper20_alibaba"])
def test_card_equals_evaluate_for_a_heuristic(task_id):
    task = _short(task_id)
    card = score("least_loaded", task)
    for e, seed in enumerate(task.seeds()):
        row = evaluate("least_loaded", task.shield, task.episode_config(e), 1, seed)["rows"][0]
        mine = card["episodes"][e]
        assert mine["seed"] == seed
        for key in ("mean_jct_all", "mean_jct", "p95_jct", "collisions", "overloads", "median_utilization",
                    "scheduling_overhead_s"):
            assert mine[key] == pytest.approx(row[key], rel=1e-12), key
        assert mine["unfinished_fraction"] == pytest.approx(row["jobs_unfinished"] / row["jobs_arrived"])
    means = [r["mean_jct_all"] for r in card["episodes"]]
    assert card["metrics"]["mean_jct_all"]["mean"] == pytest.approx(np.mean(means))


def test_card_equals_evaluate_for_a_learned_policy(tmp_path):
    from agents.harness.train import train
    from study.experiments.profiles import TINY_IDQN

    task = _short(SMALL, 3)
    run = train("idqn", "none", task.cluster().to_dict(), rounds=40, seed=0, out_dir=tmp_path / "run",
                device="cpu", hparams=dict(TINY_IDQN), progress=False)
    card = score(str(run), task, shield="central", out=tmp_path / "card.json")
    result = evaluate(str(run), "central", task.episode_config(0), task.episodes, task.seed)
    assert [r["mean_jct_all"] for r in card["episodes"]] == pytest.approx([r["mean_jct_all"] for r in result["rows"]])
    assert card["metrics"]["collisions"]["mean"] == pytest.approx(result["collisions"])
    assert card["policy"]["kind"] == "run_dir" and len(card["policy"]["sha256"]) == 64
    assert card["shield"] == "central"
    assert (tmp_path / "card.json").is_file() and (tmp_path / "card.csv").is_file()


def test_card_has_references_rank_and_gaps():
    card = score("least_loaded", SMALL)
    committed = ROOT / "docs" / "results" / "benchmark" / "edge_cluster_v1" / "small_poisson"
    assert committed.is_dir(), "reference results are committed"
    assert "least_loaded" in card["paired"] and card["paired"]["least_loaded"]["difference"] == pytest.approx(0.0)
    assert "lower-bound" in card["gaps"] and card["gaps"]["lower-bound"]["gap"] > 0
    assert 1 <= card["rank"]["rank"] <= card["rank"]["of"] == len(card["paired"]) + 1
    assert card["suite"] == "edge_cluster_v1" and card["task_hash"] == load_task(SMALL).content_hash


def test_optimum_gap_where_the_task_has_it():
    card = score("least_loaded", "edge_cluster_v1/tiny6_optimum")
    assert {"optimum", "fluid-bound", "lower-bound"} <= set(card["gaps"])
    assert card["gaps"]["optimum"]["gap"] > 0  # least_loaded is no better than the schedule class's optimum here


def _card(tmp_path, name, policy="least_loaded"):
    path = tmp_path / f"{name}.json"
    score(policy, _short(SMALL, 3), out=path)
    return path


def test_compare_pairs_cards_and_refuses_other_versions_and_edits(tmp_path):
    a, b = _card(tmp_path, "a"), _card(tmp_path, "b", "random")
    text = compare([a, b])
    assert "mean_jct_all" in text and "random" in text and "diff" in text
    other = json.loads(a.read_text())
    other.pop("content_hash")
    other["suite"], other["task"] = "edge_cluster_v2", "edge_cluster_v2/small_poisson"
    other["task_hash"] = "0" * 64
    other["content_hash"] = data_hash(other)
    write_json(tmp_path / "v2.json", other)
    with pytest.raises(ValueError, match="refused: .*different task versions"):
        compare([a, tmp_path / "v2.json"])
    edited = json.loads(b.read_text())
    edited["episodes"][0]["mean_jct_all"] = 1.0
    write_json(tmp_path / "edited.json", edited)
    with pytest.raises(ValueError, match="was edited: its content hash does not match"):
        compare([a, tmp_path / "edited.json"])
    assert main(["score", "--compare", str(a), str(tmp_path / "edited.json")]) == 2
    assert read_card(a)["content_hash"]


BAD_POLICIES = {
    "raises": ("def make_policy():\n    raise RuntimeError('no GPU here')\n", "the factory raised RuntimeError"),
    "shape": ("import numpy as np\nclass P:\n    name = 'p'\n    def preferences(self, obs, mask):\n"
              "        return np.zeros((2, 2))\n    def act(self, obs, mask):\n        return None\n"
              "    def reset(self):\n        pass\ndef make_policy():\n    return P()\n",
              r"preferences\(\) returned shape \(2, 2\)"),
    "type": ("def make_policy():\n    return lambda obs: {a: 1.5 for a in obs}\n",
             "agent edge_0: action 1.5 of type float"),
    "range": ("def make_policy():\n    return lambda obs: {a: 99 for a in obs}\n", "agent edge_0: action 99 outside"),
    "missing": ("def make_policy():\n    return lambda obs: {a: 0 for a in list(obs)[1:]}\n",
                "agent edge_0: no action returned"),
    "masked": ("import numpy as np\ndef make_policy():\n    def p(obs):\n        out = {}\n"
               "        for a, o in obs.items():\n            bad = np.flatnonzero(o['action_mask'] == 0)\n"
               "            out[a] = int(bad[0]) if len(bad) else 0\n        return out\n    return p\n",
               "chose masked action"),
    "notpolicy": ("def make_policy():\n    return 42\n", "neither a Policy"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_bad_policies_name_task_policy_agent_and_leave_no_card(tmp_path, monkeypatch, case):
    source, message = BAD_POLICIES[case]
    (tmp_path / f"bad_{case}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "card.json"
    with pytest.raises(PolicyError, match=message) as err:
        score(f"bad_{case}:make_policy", _short(SMALL, 1), out=out)
    assert SMALL in str(err.value) and f"bad_{case}:make_policy" in str(err.value)
    assert not out.exists() and not out.with_suffix(".csv").exists()


def test_policy_path_that_does_not_import(tmp_path):
    with pytest.raises(PolicyError, match=r"task edge_cluster_v1/small_poisson: policy 'no_such_mod:f': module "
                                          "'no_such_mod' does not import"):
        score("no_such_mod:f", SMALL, out=tmp_path / "c.json")
    with pytest.raises(PolicyError, match="has no attribute 'nope'"):
        score("examples.custom_scheduler:nope", SMALL)
    assert main(["score", "no_such_mod:f", "--task", SMALL, "--out", str(tmp_path / "c.json")]) == 2
    assert main(["score", "least_loaded", "--task", "edge_cluster_v1/nope"]) == 2
    assert not (tmp_path / "c.json").exists()


def test_example_scored_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    out = tmp_path / "card.json"
    assert main(["score", "examples.custom_scheduler:make_policy", "--task", SMALL, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean_jct_all" in printed and "rank" in printed
    card = read_card(out)
    assert card["policy"]["kind"] == "import" and len(card["episodes"]) == load_task(SMALL).episodes
    assert all(math.isfinite(r["mean_jct_all"]) for r in card["episodes"])
    assert main(["tasks"]) == 0
    listed = capsys.readouterr().out
    assert all(t.id in listed for t in all_tasks())


def test_regression_hashes():
    """least_loaded on each task's first episode. A failure means the simulator moved the suite's results: bump the
    suite version (edge_cluster_v2), regenerate its references and hashes (study.benchmark.regression)."""
    committed = json.loads(HASHES.read_text())
    tasks = all_tasks()
    assert sorted(committed) == sorted(t.id for t in tasks)
    moved = [t.id for t in tasks if first_episode_hash(t) != committed[t.id]]
    assert not moved, f"results moved for {moved}: bump the suite version (see study.benchmark.regression)"


def test_leaderboard_is_generated_from_the_committed_references():
    from study.benchmark.leaderboard import render
    from study.benchmark.references import methods_for

    assert (ROOT / "docs" / "leaderboard.md").read_text() == render()
    root = ROOT / "docs" / "results" / "benchmark" / "edge_cluster_v1"
    for task in all_tasks():
        for method in methods_for(task):
            record = json.loads((root / task.name / f"{method}.json").read_text())
            assert record["task_hash"] == task.content_hash, f"{task.id} {method}: stale reference"
            assert len(record["rows"]) == task.episodes


@pytest.mark.parametrize("algo", ["ppo", "crl_maskable_ppo"])
def test_sb3_zip_scores_as_its_run_directory(tmp_path, algo):
    from agents.harness.train import train

    task = _short(SMALL, 2)
    run = train(algo, "none", task.cluster().to_dict(), rounds=30, seed=0, out_dir=tmp_path / "run", device="cpu",
                progress=False)
    card = score(str(run / "checkpoint" / "model.zip"), task)
    rows = evaluate(str(run), "none", task.episode_config(0), task.episodes, task.seed)["rows"]
    assert card["policy"]["kind"] == "sb3_zip"
    assert [r["mean_jct_all"] for r in card["episodes"]] == pytest.approx([r["mean_jct_all"] for r in rows])


def test_card_equals_the_srole_evaluate_command(tmp_path):
    import yaml

    task = _short("edge_cluster_v1/paper20_bursty", 2)
    card = score("least_loaded", task)
    for e, seed in enumerate(task.seeds()):
        cfg = tmp_path / f"episode{e}.yaml"
        cfg.write_text(yaml.safe_dump(task.episode_config(e), sort_keys=False))  # device_mix order draws the layout
        out = tmp_path / f"eval{e}.json"
        assert main(["evaluate", "--policy", "least_loaded", "--scenario", str(cfg), "--episodes", "1",
                     "--seed", str(seed), "--json", str(out)]) == 0
        row = json.loads(out.read_text())[0]["rows"][0]
        assert card["episodes"][e]["mean_jct_all"] == pytest.approx(row["mean_jct_all"], rel=1e-12)
        assert card["episodes"][e]["collisions"] == row["collisions"]


def test_reference_generation_resumes_per_task_and_method(tmp_path):
    from study.benchmark.references import generate

    logs: list[str] = []
    args = dict(suite="edge_cluster_v1", out=tmp_path / "refs", work=tmp_path / "work", tasks=["tiny6_optimum"],
                methods=["least_loaded", "lower-bound"], log=logs.append)
    generate(**args)
    record = json.loads((tmp_path / "refs" / "edge_cluster_v1" / "tiny6_optimum" / "least_loaded.json").read_text())
    committed = json.loads((ROOT / "docs" / "results" / "benchmark" / "edge_cluster_v1" / "tiny6_optimum"
                            / "least_loaded.json").read_text())
    assert [r["mean_jct_all"] for r in record["rows"]] == pytest.approx([r["mean_jct_all"] for r in committed["rows"]])
    logs.clear()
    generate(**args)
    assert logs == ["2 of 2 (task, method) references already done"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(2, 6), st.data())
def test_checked_policy_turns_valid_actions_into_their_argmax(n, a, data):
    from study.benchmark.policy_spec import CheckedPolicy, agent_names

    mask = np.array(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=a, max_size=a), min_size=n, max_size=n)),
                    dtype=np.int8)
    mask[:, -1] = 1  # hold is always allowed
    chosen = [data.draw(st.sampled_from(np.flatnonzero(row).tolist())) for row in mask]
    policy = CheckedPolicy(lambda obs: dict(zip(agent_names(n), chosen)), "fixed")
    assert policy.act(np.zeros((n, 3), np.float32), mask).tolist() == chosen
    masked = [(i, j) for i in range(n) for j in range(a) if mask[i, j] == 0]
    if masked:
        i, j = masked[0]
        bad = list(chosen)
        bad[i] = j
        with pytest.raises(PolicyError, match=f"agent edge_{i}: chose masked action {j}"):
            CheckedPolicy(lambda obs: dict(zip(agent_names(n), bad)), "bad").act(np.zeros((n, 3)), mask)
