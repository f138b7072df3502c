"""Bad input, round two (issue 28), one class at a time: what is checked at the door (a profile, a tuned YAML, a
scenario: whole, types before sizes), ``--cached-only`` with nothing to report, an episode log that survives torn and
damaged rows, a run's own files checked against each other, and errors that name the file. The sweep
(``tests/test_bad_input_sweep.py``) holds many more cases of each class; these assert the outcomes in detail."""

from __future__ import annotations

import errno
import json
import warnings
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.common.run_dir import EpisodeLog, read_episodes
from srole_cli.main import main
from srole_common import persist
from srole_env import make_config
from study.experiments.profiles import PROFILES, load_profile
from study.experiments.tuning import TUNED_DIR, load_tuned

GOOD = ("rounds: 10\nseeds: [0]\neval_episodes: 1\nexperiments:\n"
        "  - {name: methods, base: {scenario: small, horizon: 4}, methods: [least_loaded, lower-bound]}\n"
        "  - {name: second, base: {scenario: small, horizon: 4}, methods: [local]}\n")


# ---------------------------------------------------------------------- profiles, tuned files, scenarios at the door
@pytest.mark.parametrize("edit, key", [
    (lambda t: t.replace("seeds: [0]", "seeds: '01'"), "seeds"),
    (lambda t: t + "hparams: {idqn: {learnign_rate: 0.1}}\n", "learnign_rate"),
    (lambda t: t.replace("horizon: 4}", "horizon: 4, n_edgez: 3}", 1), "n_edgez"),
    (lambda t: t.replace("horizon: 4}", "horizon: 4, n_edges: 0}", 1), "n_edges"),
    (lambda t: t + "eval_every: -5\n", "eval_every"),
])
def test_a_bad_profile_is_refused_whole_before_any_cell(tmp_path: Path, capsys, edit, key):
    spec = tmp_path / "mine.yaml"
    spec.write_text(edit(GOOD))
    with pytest.raises(ValueError, match=key) as err:
        load_profile(str(spec))
    assert str(spec) in str(err.value)
    out = tmp_path / "out"
    assert main(["reproduce", "--profile", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and key in message[0] and "mine.yaml" in message[0]
    assert not (out / "cache").exists()  # nothing ran


def test_every_builtin_profile_and_committed_tuned_file_passes_the_door():
    from study.experiments.validate import check_profile

    for name, profile in PROFILES.items():
        check_profile(profile, name)
    committed = sorted(Path(TUNED_DIR).glob("*/*.yaml"))
    assert committed
    for path in committed:
        assert load_tuned(path.stem, path.parent.name) is not None


def test_a_tuned_file_with_an_unknown_hyperparameter_is_refused_naming_it(tmp_path: Path):
    from study.experiments.validate import check_tuned

    (tmp_path / "small").mkdir()
    data = {"method": "MARL", "algo": "idqn", "hparams": {"lr": 0.001, "learnign_rate": 0.1}}
    (tmp_path / "small" / "MARL.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"MARL\.yaml: hparams: for idqn: unknown hyperparameter.*learnign_rate"):
        load_tuned("MARL", "small", tmp_path)
    with pytest.raises(ValueError, match=r"x\.yaml: unknown key\(s\) \['extra'\]"):
        check_tuned({**data, "hparams": {"lr": 0.1}, "extra": 1}, "x.yaml")


NOT_INTS = st.one_of(st.text(max_size=4), st.none(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=3),
                     st.booleans())


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(["n_edges", "n_regions", "n_neighbors", "horizon"]), value=NOT_INTS)
def test_config_types_are_checked_before_sizes(field: str, value: object):
    """Whatever non-int a size field holds, the error is a TypeError naming the field, never a failed comparison."""
    with pytest.raises(TypeError, match=field):
        make_config("small", **{field: value})


def test_a_scenario_file_error_names_the_file_and_the_key(tmp_path: Path):
    path = tmp_path / "scen.yaml"
    path.write_text("horizon: [1, 2]\n")
    with pytest.raises(TypeError, match=r"scen\.yaml: horizon must be an int"):
        make_config(str(path))
    path.write_bytes(b"\xef\xbb\xbf" + b'{"n_edges": 4}')  # a byte-order mark: accepted
    assert make_config(str(path.rename(tmp_path / "scen.json"))).n_edges == 4


# ---------------------------------------------------------------------- --cached-only
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """A finished heuristic-only reproduction (seconds) and its profile."""
    from study.reproduce import reproduce

    root = tmp_path_factory.mktemp("cached")
    spec = root / "cached.yaml"
    spec.write_text(GOOD)
    profile = load_profile(str(spec))
    return profile, reproduce(profile, root / "out", device="cpu", progress=False, workers=1)


def _copy(finished: tuple[object, Path], tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(finished[1], tmp_path / "out"))


def test_cached_only_refuses_a_folder_with_nothing_to_report(finished, tmp_path: Path):
    from study.reproduce import reproduce

    profile = finished[0]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        reproduce(profile, tmp_path / "nowhere", progress=False, cached_only=True)
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no cache folder"):
        reproduce(profile, tmp_path / "empty", progress=False, cached_only=True)
    out = _copy(finished, tmp_path)
    summary = (out / "summary.md").read_bytes()
    for entry in (out / "cache" / "evals").glob("*.json"):
        entry.write_text('{"method": "LL", "se')  # garbled
    with pytest.raises(ValueError, match="holds none of the"):
        reproduce(profile, out, progress=False, cached_only=True)
    assert (out / "summary.md").read_bytes() == summary  # the old summary and its tables, untouched


def test_cached_only_names_what_is_missing_and_removes_stale_tables(finished, tmp_path: Path):
    from study.reproduce import reproduce

    out = _copy(finished, tmp_path)
    assert (out / "second.csv").is_file()
    for entry in (out / "cache" / "evals").glob("*.json"):
        if json.loads(entry.read_text())["method"] == "local":
            entry.unlink()
    (out / "failures.csv").write_text("experiment,point,method,seed,error\nx,,local,0,an old failure\n")
    reproduce(finished[0], out, progress=False, cached_only=True)
    assert not (out / "second.csv").exists()
    not_run = (out / "not_run.csv").read_text()
    assert "local" in not_run and "not in the cache" in not_run
    assert not (out / "failures.csv").exists()  # nothing failed: cells not run are not failures, the old file goes
    summary = (out / "summary.md").read_text()
    assert "## second" in summary and "## Not run" in summary and "## Failures" not in summary
    assert "0 failed, " in summary and " not run (not in the cache)" in summary


# ---------------------------------------------------------------------- the episode log
def _log(path: Path, n: int) -> EpisodeLog:
    log = EpisodeLog(path)
    for e in range(n):
        log({"episode": e, "total_rounds": 10 * (e + 1), "episode_return": -0.5 * e})
    return log


def _episodes(path: Path) -> list[int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [int(r["episode"]) for r in read_episodes(path)]


def test_a_torn_last_row_is_restored_not_dropped(tmp_path: Path):
    path = tmp_path / "episodes.csv"
    _log(path, 3)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 6])  # a crash in the middle of appending episode 2's row
    with pytest.warns(UserWarning, match=r"episodes\.csv:4: torn last row"):
        EpisodeLog(path).keep_before(3)  # the checkpoint holds 3 episodes: episode 2 is never replayed
    assert path.read_bytes() == raw
    assert _episodes(path) == [0, 1, 2]


def test_a_damaged_middle_row_is_quarantined_and_hides_no_other_row(tmp_path: Path):
    path = tmp_path / "episodes.csv"
    _log(path, 4)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '1,"20,-0.5\n'  # an unbalanced quote: a whole-file CSV reader swallows the rows after it
    path.write_text("".join(lines))
    with pytest.warns(UserWarning, match=r"episodes\.csv: skipped damaged or torn row\(s\) on line\(s\) 3"):
        assert [int(r["episode"]) for r in read_episodes(path)] == [0, 2, 3]
    with pytest.warns(UserWarning, match="line.s. 3 moved to"):
        EpisodeLog(path).keep_before(4)
    assert _episodes(path) == [0, 2, 3]
    assert (tmp_path / "episodes.csv.damaged").read_text() == 'episodes.csv:3: 1,"20,-0.5\n'


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damaged=st.sets(st.integers(0, 7)), junk=st.sampled_from(['"', '1,"2', "x,y", ",,,,,", "\x00"]))
def test_damaged_rows_never_hide_good_ones(tmp_path: Path, damaged: set[int], junk: str):
    path = tmp_path / "episodes.csv"
    path.unlink(missing_ok=True)
    _log(path, 8)
    lines = path.read_text().splitlines(keepends=True)
    for k in damaged:
        lines[k + 1] = junk + "\n"
    path.write_text("".join(lines))
    assert _episodes(path) == [e for e in range(8) if e not in damaged]


# ---------------------------------------------------------------------- a run's own files
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    from agents.harness.train import train

    return train("idqn", "none", {"scenario": "small", "horizon": 10}, 15, 0, tmp_path_factory.mktemp("r") / "run",
                 "cpu", hparams={"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "hidden": [16]},
                 progress=False)


def test_an_edited_run_config_is_refused_and_evaluate_says_which_cluster_ran(trained: Path, tmp_path: Path, capsys):
    import shutil

    from agents.harness.evaluate import evaluate

    assert main(["evaluate", "--policy", str(trained), "--episodes", "1", "--device", "cpu"]) == 0
    assert "cluster N=10 edges, 5 candidates per agent (n_neighbors=4), 6 actions, horizon 10" in \
        capsys.readouterr().err
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    cfg = json.loads((run / "config.json").read_text())
    cfg["cluster"]["n_edges"] = 12
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"config\.json.* differs from the config the checkpoint was trained with "
                                         r"\(checkpoint/config\.json\) in \['cluster\.n_edges'\]"):
        evaluate(run, episodes=1, device="cpu")


def test_run_history_and_curves_that_are_garbage_name_their_file(tmp_path: Path):
    from agents.common.curves import read_curve
    from study.experiments.runs import record_run

    (tmp_path / "runs.json").write_text("[1, 2]")
    with pytest.raises(persist.CorruptFile, match=r"runs\.json.*entry 0"):
        record_run(tmp_path, 1.0, 1, 1, 1)
    (tmp_path / "curves.csv").write_text("round,mean_jct_all\n10,fast\n")
    with pytest.raises(persist.CorruptFile, match=r"curves\.csv.* is corrupt"):
        read_curve(tmp_path / "curves.csv")


# ---------------------------------------------------------------------- errors that name the file
def test_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "results" / "table.csv"
    with mock.patch("os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device")):
        with pytest.raises(OSError, match=r"table\.csv.*No space left on device") as err:
            persist.atomic_write(target, "a,b\n")
    assert err.value.errno == errno.ENOSPC
    assert list(target.parent.iterdir()) == []


def test_a_trace_with_a_byte_order_mark_is_read(tmp_path: Path):
    from srole_env.core.workload import TraceWorkload

    path = tmp_path / "trace.csv"
    path.write_bytes(b"\xef\xbb\xbfarrival_time_s,origin,model,samples,epochs,batch_size,tasks\r\n"
                     b"1,0,lenet5,100,1,32,1\r\n")
    assert len(TraceWorkload(path, 4, ("lenet5",))) == 1


def test_a_cell_not_in_the_cache_names_its_sweep_points():
    from study.experiments.plan import EvalSpec
    from study.reproduce import _points_of

    evals = [EvalSpec("fair", {"n_edges": n, "request_s": r}, {}) for n in (2000, 200, 20) for r in (0.03, 0.001)]
    assert _points_of(evals) == "n_edges=20/200/2000; request_s=0.001/0.03"
    assert _points_of([EvalSpec("methods", {}, {})]) == ""
