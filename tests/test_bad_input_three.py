"""Bad input, round three: results that a rebuild cannot delete or change (``--cached-only``, cache entries checked
against their key and schema, traces checked against their content), score cards as evidence (a policy cannot write
the mask it is checked against, centralized policies are checked, a policy's ``sys.exit`` is a failure), run folders
that can be restarted, and an error at every door naming what it refused."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from study import reproduce as rep
from study.experiments.profiles import PROFILES, TINY_BASE, Experiment

FAST = dataclasses.replace(PROFILES["tiny"], experiments=(
    Experiment("methods", TINY_BASE, methods=("least_loaded", "local")),
    Experiment("shield_overhead", TINY_BASE, sweep="n_edges", values=(6,), kind="shield_overhead", regions=(2,)),
))
"""A finished run in a second: two heuristics and the shield-overhead measurement."""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    rep.reproduce(FAST, out, device="cpu", progress=False)
    return out


@pytest.fixture
def run_copy(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    return out


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.suffix in (".csv", ".png")}


# ---------------------------------------------------------------------- a rebuild from cache deletes nothing
def test_cached_only_keeps_every_table_including_the_shield_overhead(run_copy: Path):
    before = _files(run_copy)
    assert "shield_overhead.csv" in before and "shield_overhead_latency.png" in before
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    after = _files(run_copy)
    assert sorted(after) == sorted(before)
    for name in ("shield_overhead.csv", "shield_overhead_summary.csv", "methods.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(run_copy / name), pd.read_csv(io_bytes(before[name])))
    assert "shield_overhead_latency.png" in (run_copy / "summary.md").read_text()


def io_bytes(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


# ---------------------------------------------------------------------- cache entries: key, content, schema
def _entries(out: Path, method: str) -> list[Path]:
    return sorted(p for p in (out / "cache" / "evals").glob("*.json") if json.loads(p.read_text())["method"] == method)


@pytest.mark.parametrize("edit, word", [
    (lambda e: {**e, "mean_jct_all": float("nan")}, "mean_jct_all"),
    (lambda e: {k: v for k, v in e.items() if k != "mean_jct_all"}, "mean_jct_all"),
    (lambda e: {**e, "seed": e["seed"] + 1}, "seed"),
    (lambda e: {**e, "collisions": "fast"}, "collisions"),
])
def test_an_edited_cache_entry_is_refused_naming_file_and_field(run_copy: Path, capsys, edit, word):
    path = _entries(run_copy, "least_loaded")[0]
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(edit(entry)))
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    err = capsys.readouterr().err
    assert path.name in err and word in err and "left out" in err
    methods = pd.read_csv(run_copy / "methods.csv")
    assert len(methods[methods["method"] == "least_loaded"]) == len(FAST.seeds) - 1
    # a full run recomputes it, and the table is whole again
    rep.reproduce(FAST, run_copy, device="cpu", progress=False)
    assert path.name in capsys.readouterr().err
    assert json.loads(path.read_text())["seed"] == entry["seed"]
    assert len(pd.read_csv(run_copy / "methods.csv").query("method == 'least_loaded'")) == len(FAST.seeds)


def test_an_edit_that_keeps_the_schema_is_caught_by_the_content_hash(run_copy: Path, capsys):
    path = _entries(run_copy, "least_loaded")[0]
    entry = json.loads(path.read_text())
    entry["mean_jct_all"] = entry["mean_jct_all"] / 2
    path.write_text(json.dumps(entry))
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    err = capsys.readouterr().err
    assert path.name in err and "does not match its sha256" in err


def test_two_swapped_cache_entries_are_refused(run_copy: Path, capsys):
    a, b = _entries(run_copy, "least_loaded")[:2]
    ta, tb = a.read_text(), b.read_text()
    a.write_text(tb)
    b.write_text(ta)
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    err = capsys.readouterr().err
    assert "swapped" in err and a.name in err and b.name in err
    assert "least_loaded" not in set(pd.read_csv(run_copy / "methods.csv")["method"])


def test_an_unstamped_entry_of_an_earlier_version_is_still_read(run_copy: Path, capsys):
    path = _entries(run_copy, "local")[0]
    entry = json.loads(path.read_text())
    entry.pop("_cache")
    path.write_text(json.dumps(entry))
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    assert path.name not in capsys.readouterr().err
    assert len(pd.read_csv(run_copy / "methods.csv").query("method == 'local'")) == len(FAST.seeds)


# ---------------------------------------------------------------------- run folders: history, temporary files
def test_a_killed_runs_temporary_files_are_swept_by_the_next(run_copy: Path):
    stray = [run_copy / ".methods.csv.tmp-abc123", run_copy / "cache" / "evals" / ".0123.json.tmp-xyz"]
    for path in stray:
        path.write_text("half")
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, cached_only=True)
    assert not any(p.exists() for p in stray)


def test_a_live_runs_temporary_files_are_left_alone(run_copy: Path):
    import fcntl
    import os

    from study.experiments.runs import folder_use

    live = run_copy / ".methods.csv.tmp-live"
    live.write_text("being written")
    other = os.open(run_copy, os.O_RDONLY)  # another invocation writing this folder
    try:
        fcntl.flock(other, fcntl.LOCK_SH)
        with folder_use(run_copy) as swept:
            assert swept == []
    finally:
        os.close(other)
    assert live.exists()
    with folder_use(run_copy) as swept:  # alone now: swept
        assert swept == [live] and not live.exists()
    assert not [p.name for p in run_copy.iterdir() if p.name.startswith(".")]  # no lock file left behind


def _record(out: str, start, done) -> None:
    from study.experiments.runs import record_run

    start.wait()
    record_run(Path(out), 1.0, 1, 1, 1)
    done.put(1)


def test_concurrent_invocations_both_reach_runs_json(tmp_path: Path):
    import multiprocessing as mp

    from study.experiments.runs import record_run

    ctx = mp.get_context("fork")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_record, args=(str(tmp_path), start, done)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert len(record_run(tmp_path, 1.0, 0, 1, 1)) == 6


# ---------------------------------------------------------------------- benchmark traces: content and generator
@pytest.fixture
def trace_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SROLE_TRACE_CACHE", str(tmp_path / "traces"))
    return tmp_path / "traces"


def test_a_cut_cached_trace_is_regenerated_naming_it(trace_cache: Path):
    from study.benchmark.tasks import load_task

    task = load_task("edge_cluster_v1/paper20_bursty")
    path = Path(task.episode_config(0)["trace_path"])
    whole = path.read_text()
    lines = whole.splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 4]))
    with pytest.warns(UserWarning, match=rf"{path.name}.*does not match its content hash.*regenerated"):
        again = Path(task.episode_config(0)["trace_path"])
    assert again == path and path.read_text() == whole


def test_a_trace_left_by_another_generator_is_not_reused(trace_cache: Path, monkeypatch):
    from study.benchmark import tasks

    task = tasks.load_task("edge_cluster_v1/tiny6_optimum")
    first = Path(task.episode_config(0)["trace_path"])
    tasks.generator_version.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setattr(tasks, "GENERATOR_MODULES", ("srole_env.traces",))  # a changed generator
            second = Path(task.episode_config(0)["trace_path"])
    finally:
        tasks.generator_version.cache_clear()
    assert second != first  # another key: the older file is not read
    body = first.read_text().split("\n", 1)
    first.write_text(body[1])  # an unstamped file (an older version's)
    with pytest.warns(UserWarning, match="lacks its content hash line"):
        task.episode_config(0)


# ---------------------------------------------------------------------- score cards as evidence
class MaskWriter:
    """Writes ones into the mask it is given, then plays an action the env masked."""

    name = "mask-writer"
    env_kind = "parallel"

    def preferences(self, obs, mask):
        import numpy as np

        prefs = np.where(mask == 0, 2.0, 1.0)
        mask[:] = 1
        return prefs

    def act(self, obs, mask):
        return self.preferences(obs, mask).argmax(axis=1)

    def reset(self):
        pass


class MaskedHead(MaskWriter):
    """A centralized policy choosing the head action the env masked."""

    name = "masked-head"
    env_kind = "centralized"


def _short_task(name: str = "edge_cluster_v1/small_poisson", episodes: int = 1):
    from study.benchmark.tasks import load_task

    return dataclasses.replace(load_task(name), episodes=episodes)


@pytest.mark.parametrize("policy", [MaskWriter(), MaskedHead()], ids=["writes-mask", "centralized"])
def test_a_policy_cannot_play_masked_actions(policy, tmp_path: Path):
    from study.benchmark.policy_spec import PolicyError
    from study.benchmark.score import score

    with pytest.raises(PolicyError, match="chose masked action"):
        score(policy, _short_task(), out=tmp_path / "card.json")
    assert not (tmp_path / "card.json").exists()


@pytest.mark.parametrize("call", ["sys.exit(0)", "raise KeyboardInterrupt"])
def test_a_policy_that_exits_is_a_failure_with_a_message(call, tmp_path: Path, monkeypatch, capsys):
    from srole_cli.main import main

    (tmp_path / "quitter.py").write_text(
        "import sys\ndef make_policy():\n    def p(obs):\n"
        f"        {call}\n    return p\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "card.json"
    status = main(["score", "quitter:make_policy", "--task", "edge_cluster_v1/small_poisson", "--out", str(out)])
    err = capsys.readouterr().err
    assert status != 0 and not out.exists()
    assert "quitter:make_policy" in err and ("SystemExit" in err or "KeyboardInterrupt" in err)


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    from study.benchmark.score import score

    path = tmp_path_factory.mktemp("card") / "a.json"
    score("least_loaded", _short_task(episodes=2), out=path)
    return path


def _rehashed(card: dict, path: Path) -> Path:
    from study.benchmark.tasks import data_hash

    card.pop("content_hash", None)
    card["content_hash"] = data_hash(card)
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("edit, field", [
    (lambda c: c.update(card_format=99), "card_format 99"),
    (lambda c: c["episodes"][0].pop("p95_jct"), "episodes[0] lacks metric 'p95_jct'"),
    (lambda c: c.update(episodes="x"), "field 'episodes' must be a non-empty list"),
    (lambda c: c.update(policy="x"), "field 'policy' must be an object"),
    (lambda c: c["episodes"][1].update(mean_jct_all="fast"), "episodes[1].mean_jct_all must be a number"),
])
def test_compare_names_the_malformed_card_and_field(card: Path, tmp_path: Path, capsys, edit, field):
    from srole_cli.main import main

    data = json.loads(card.read_text())
    edit(data)
    bad = _rehashed(data, tmp_path / "bad.json")
    assert main(["score", "--compare", str(card), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and field in err


def test_score_out_without_json_suffix_prints_what_it_wrote(tmp_path: Path, capsys, monkeypatch):
    from srole_cli.main import main
    from study.benchmark import score as score_mod

    monkeypatch.setattr(score_mod, "load_task", lambda t: _short_task())
    out = tmp_path / "card.txt"
    assert main(["score", "least_loaded", "--task", "edge_cluster_v1/small_poisson", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{out}.json" in printed and f"{out}.csv" in printed
    assert Path(f"{out}.json").is_file() and Path(f"{out}.csv").is_file()


def test_score_references_mistyped_folder_is_refused_before_the_episodes(tmp_path: Path, capsys):
    from srole_cli.main import main

    missing = tmp_path / "refrences"
    assert main(["score", "least_loaded", "--task", "edge_cluster_v1/small_poisson", "--references", str(missing),
                 "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert "--references" in err and "refrences" in err and not (tmp_path / "c.json").exists()
    (tmp_path / "empty").mkdir()
    assert main(["score", "least_loaded", "--task", "edge_cluster_v1/small_poisson", "--references",
                 str(tmp_path / "empty")]) == 2
    assert "holds no reference results of task edge_cluster_v1/small_poisson" in capsys.readouterr().err


# ---------------------------------------------------------------------- pod lists and traces at the door
POD_HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time"


def _pods(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "pods.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_pod_list_with_a_byte_order_mark_reads_like_one_without(tmp_path: Path):
    from srole_env.traces import read_pod_trace

    body = f"{POD_HEADER}\np0,1,1,1,1000,,LS,Succeeded,0,100\np1,1,1,0,0,,LS,Running,5,50\n"
    plain = read_pod_trace(_pods(tmp_path, body))
    marked = read_pod_trace(_pods(tmp_path, body, "utf-8-sig"))
    assert len(marked) == 2 and (marked.lifetime == plain.lifetime).all()


def test_a_pod_name_holding_a_line_separator_stays_one_pod(tmp_path: Path):
    from srole_env.traces import read_pod_trace

    trace = read_pod_trace(_pods(tmp_path, f"{POD_HEADER}\np\u20280,1,1,1,1000,,LS,Succeeded,0,100\n"
                                            "p1,1,1,2,500,,LS,Failed,10,40\n"))
    assert len(trace) == 2 and sorted(trace.num_gpu.tolist()) == [1, 2]


@pytest.mark.parametrize("kwargs, word", [
    ({"duration_s": float("nan")}, "duration_s must be a finite number > 0, got nan"),
    ({"n_edges": 0}, "n_edges must be an int in 1"),
    ({"n_edges": 2.5}, "n_edges must be an int"),
    ({"arrival_rate": -1.0}, "arrival_rate must be a finite number > 0"),
    ({"window": "0"}, "window must be an int"),
])
def test_convert_pod_trace_names_a_bad_size_before_reading(tmp_path: Path, kwargs, word):
    from srole_env.traces import convert_pod_trace

    args = {"n_edges": 4, "arrival_rate": 0.01, "duration_s": 100.0, **kwargs}
    with pytest.raises(ValueError, match=word):
        convert_pod_trace(tmp_path / "no-such-file.csv", tmp_path / "out.csv", **args)  # the sizes come first


@pytest.mark.parametrize("kwargs, word", [
    ({"samples_range": (5,)}, "samples_range must be a pair of ints"),
    ({"samples_range": "ab"}, "samples_range must be a pair of ints"),
    ({"samples_per_gpu_s": True}, "samples_per_gpu_s must be None or a finite number > 0 \\(not a bool\\)"),
    ({"time_scale": True}, "time_scale must be None"),
    ({"model": "no_such_model"}, "model: unknown model 'no_such_model'; known: .*resnet18"),
    ({"running": ["drop"]}, "running must be one of"),
    ({"origin_seed": -1}, "origin_seed must be an int >= 0"),
])
def test_a_bad_pod_mapping_is_refused_naming_the_field(kwargs, word):
    from srole_env.traces import PodTraceMapping

    with pytest.raises(ValueError, match=word):
        PodTraceMapping(**kwargs)


def test_a_streamed_trace_names_the_bad_line_in_a_later_chunk(tmp_path: Path, monkeypatch):
    from srole_env.core import workload
    from srole_env.core.workload import TraceWorkload

    monkeypatch.setattr(workload, "TRACE_CHUNK_ROWS", 4)
    rows = [f"{t}.0,0,resnet18,100,1,32,1" for t in range(9)]
    rows[6] = "6.0,0,resnet18,100,1,32,0"  # tasks 0, in the second chunk
    path = tmp_path / "t.csv"
    path.write_text("# a comment\narrival_time_s,origin,model,samples,epochs,batch_size,tasks\n" + "\n".join(rows))
    with pytest.raises(ValueError, match=r"t\.csv:9: samples, epochs, batch_size and tasks must be in"):
        TraceWorkload(path, 2, ("resnet18",))
    path.write_text("arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n" + "\n".join(rows))
    with pytest.raises(ValueError, match=r"t\.csv:8: samples"):  # the fast reader's refusal, named by the exact one
        TraceWorkload(path, 2, ("resnet18",))


# ---------------------------------------------------------------------- the command line's doors
@pytest.mark.parametrize("argv, words", [
    (["evaluate", "--policy", "least_loaded", "--seed", "-1"], ["--seed", ">= 0"]),
    (["train", "--algo", "idqn", "--rounds", "5", "--seed", "-1"], ["--seed", ">= 0"]),
    (["evaluate", "--policy", "least_loaded", "--episodes", "1", "--set", "trace_path="], ["trace_path is empty"]),
    (["evaluate", "--policy", "least_loaded", "--episodes", "1", "--set", "model_mix={resnet18: 1}"],
     ["model_mix", """--set 'model_mix={"resnet18": 1.0}'"""]),
    (["evaluate", "--policy", "least_loaded", "--episodes", "1", "--record", "/proc/nope/x.gif"],
     ["--record", "/proc/nope/x.gif"]),
])
def test_the_command_line_names_the_flag_it_refused(argv, words, capsys, tmp_path):
    from srole_cli.main import main

    assert main(argv + (["--out", str(tmp_path / "run")] if argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize("flag", ["--json", "--csv", "--record"])
def test_an_output_path_that_is_a_folder_is_refused_before_the_episode(flag, tmp_path: Path, capsys, monkeypatch):
    import agents.harness.evaluate as ev
    from srole_cli.main import main

    ran = []
    monkeypatch.setattr(ev, "_parallel_episode", lambda *a, **k: ran.append(1))
    assert main(["evaluate", "--policy", "least_loaded", "--episodes", "1", flag, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert flag in err and "is a folder" in err and not ran


def test_a_folder_given_as_policy_is_refused_without_reading_it(tmp_path: Path, monkeypatch):
    from study.benchmark import policy_spec
    from study.benchmark.policy_spec import PolicyError, resolve

    (tmp_path / "big.bin").write_bytes(b"x" * 1024)
    read = []
    monkeypatch.setattr(policy_spec, "_update", lambda h, p, block=0: read.append(p))
    with pytest.raises(PolicyError, match="not a run directory \\(no config.json or run_config.json\\)"):
        resolve(str(tmp_path))
    assert read == []


# ---------------------------------------------------------------------- a run killed before its first checkpoint
def test_a_run_killed_before_its_first_checkpoint_restarts_in_the_same_folder(tmp_path: Path, monkeypatch):
    from agents.common.run_dir import load_run
    from agents.harness import train as train_mod
    from agents.harness.registry import LEARNERS

    out = tmp_path / "run"
    learner = LEARNERS["idqn"]

    def killed(ctx):
        raise KeyboardInterrupt  # as kill -9 leaves it: the cleanup below never runs

    with monkeypatch.context() as m:
        m.setattr(learner, "run", staticmethod(killed))
        m.setattr(train_mod, "_remove_partial_run", lambda root, created: None)
        with pytest.raises(KeyboardInterrupt):
            train_mod.train("idqn", "none", "small", rounds=3, out_dir=out, progress=False)
    assert (out / "config.json").is_file() and not (out / "checkpoint" / "state.json").exists()
    with pytest.raises(FileNotFoundError, match="without --resume and it starts again in this folder"):
        load_run(out)
    with pytest.warns(UserWarning, match="stopped before its first checkpoint"):
        train_mod.train("idqn", "none", {"scenario": "small", "horizon": 3}, rounds=3, out_dir=out, progress=False)
    assert load_run(out)[2]["rounds"] == 3 and not (out / ".train.lock").exists()


def test_a_folder_with_other_files_is_still_refused(tmp_path: Path):
    from agents.harness.train import train

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty"):
        train("idqn", "none", "small", rounds=3, out_dir=out, progress=False)
    assert (out / "thesis.tex").read_text() == "mine"


def test_a_partial_run_keeps_the_tables_of_the_methods_it_did_not_run(run_copy: Path):
    before = _files(run_copy)
    rep.reproduce(FAST, run_copy, device="cpu", progress=False, methods=("local",))
    assert sorted(_files(run_copy)) == sorted(before)
    assert set(pd.read_csv(run_copy / "methods.csv")["method"]) == {"least_loaded", "local"}
    overhead = pd.read_csv(io_bytes(before["shield_overhead.csv"]))
    pd.testing.assert_frame_equal(pd.read_csv(run_copy / "shield_overhead.csv"), overhead)
