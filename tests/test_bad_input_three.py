"""Bad input, round three: results that a rebuild cannot delete or change (``--cached-only``, cache entries checked
against their key and schema, traces checked against their content), score cards as evidence (a policy cannot write
the mask it is checked against, centralized policies are checked, a policy's ``sys.exit`` is a failure), run folders
that can be restarted, and an error at every door naming what it refused."""

from __future__ import annotations

import dataclasses
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


def io_bytes(data: bytes):
    import io

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

    from study.experiments.runs import LOCK_FILE, folder_use

    live = run_copy / ".methods.csv.tmp-live"
    live.write_text("being written")
    with open(run_copy / LOCK_FILE, "a") as other:  # another invocation writing this folder
        fcntl.flock(other, fcntl.LOCK_SH)
        with folder_use(run_copy) as swept:
            assert swept == []
    assert live.exists()


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
