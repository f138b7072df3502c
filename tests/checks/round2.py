"""The second round of bad inputs (issue 28), by class: a profile, a tuned YAML and a scenario checked whole at the
door; ``--cached-only`` on a folder with nothing to report; the episode log's torn and damaged rows; a run's own
files (an edited ``config.json``, ``runs.json``, ``curves.csv``); errors that name the file (a full disk, a byte-order
mark). Each case uses the public API only, so ``tests/checks/sweep.py`` measures any checkout with it."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from checks.base import Case, Wrong

GOOD_PROFILE = ("rounds: 10\nseeds: [0]\neval_episodes: 1\nexperiments:\n"
                "  - {name: methods, base: {scenario: small, horizon: 5}, methods: [MARL, least_loaded]}\n")
CACHED_PROFILE = ("rounds: 10\nseeds: [0]\neval_episodes: 1\nexperiments:\n"
                  "  - {name: methods, base: {scenario: small, horizon: 4}, methods: [least_loaded, lower-bound]}\n"
                  "  - {name: second, base: {scenario: small, horizon: 4}, methods: [local]}\n")
GOOD_TUNED = {"method": "MARL", "scenario": "small", "algo": "idqn", "shield": "none", "hparams": {"lr": 0.001}}
BOM = b"\xef\xbb\xbf"
TRACE = "arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n1,0,lenet5,100,1,32,1\n"
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def _file(sweep: Any, name: str, text: str | bytes) -> Path:
    path = sweep.fresh("r2") / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ---------------------------------------------------------------------- profiles, tuned files, scenarios
def profile(sweep: Any, text: str) -> Any:
    from study.experiments.profiles import load_profile

    return load_profile(str(_file(sweep, "prof.yaml", text)))


def reproduce_cli(sweep: Any, text: str) -> None:
    """``srole reproduce --profile FILE``: a bad profile must exit non-zero before any cell runs."""
    from srole_cli.main import main

    path = _file(sweep, "prof.yaml", text)
    out = path.parent / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["reproduce", "--profile", str(path), "--out", str(out), "--workers", "1", "--no-progress",
                       "--device", "cpu"])
    if status == 0:
        raise Wrong("exit status 0 for a bad profile")
    if (out / "cache").exists():
        raise Wrong("cells ran before the profile was refused")
    raise ValueError(err.getvalue().strip())


def tuned(sweep: Any, data: Any) -> Any:
    import yaml

    from study.experiments.tuning import load_tuned

    root = sweep.fresh("tuned")
    (root / "small").mkdir()
    (root / "small" / "MARL.yaml").write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return load_tuned("MARL", "small", root)


def scenario(sweep: Any, text: str | bytes, name: str = "scen.yaml") -> Any:
    from srole_env import make_config

    return make_config(str(_file(sweep, name, text)))


def env_kwargs(**kw: Any) -> Any:
    from srole_env import EdgeClusterEnv

    env = EdgeClusterEnv("small", **kw)
    env.reset(seed=0)
    return env


def profile_cases(s: Any) -> list[Case]:
    g = GOOD_PROFILE
    exp = "  - {name: methods, base: {scenario: small, horizon: 5}, methods: [MARL, least_loaded]}\n"

    def with_exp(body: str) -> str:
        return g.replace(exp, f"  - {{{body}}}\n")

    table = [
        ("seeds as a string '01'", g.replace("seeds: [0]", "seeds: '01'"), "seeds"),
        ("seeds a number", g.replace("seeds: [0]", "seeds: 3"), "seeds"),
        ("seeds repeated", g.replace("seeds: [0]", "seeds: [0, 0]"), "seeds"),
        ("seed negative", g.replace("seeds: [0]", "seeds: [-1]"), "seeds[0]"),
        ("seeds empty", g.replace("seeds: [0]", "seeds: []"), "seeds"),
        ("rounds a string", g.replace("rounds: 10", "rounds: '10'"), "rounds"),
        ("rounds 0", g.replace("rounds: 10", "rounds: 0"), "rounds"),
        ("rounds 1.5", g.replace("rounds: 10", "rounds: 1.5"), "rounds"),
        ("eval_every negative", g + "eval_every: -5\n", "eval_every"),
        ("eval_episodes true", g.replace("eval_episodes: 1", "eval_episodes: true"), "eval_episodes"),
        ("curve_seeds a string", g + "curve_seeds: abc\n", "curve_seeds"),
        ("unknown top-level key", g + "roundz: 3\n", "roundz"),
        ("unknown hyperparameter", g + "hparams: {idqn: {learnign_rate: 0.1}}\n", "learnign_rate"),
        ("hyperparameter of the wrong type", g + "learner_hparams: {idqn: {hidden: 5}}\n", "hidden"),
        ("hyperparameters of an unknown algo", g + "hparams: {idqm: {lr: 0.1}}\n", "idqm"),
        ("shield_preferences not a bool", g + "learner_hparams: {idqn: {shield_preferences: 'no'}}\n",
         "shield_preferences"),
        ("marl_algo unknown", g + "marl_algo: sarsa\n", "marl_algo"),
        ("unknown base field", g.replace("horizon: 5}", "horizon: 5, n_edgez: 3}"), "n_edgez"),
        ("impossible n_edges", g.replace("horizon: 5}", "horizon: 5, n_edges: 0}"), "n_edges"),
        ("n_edges a string", g.replace("horizon: 5}", "horizon: 5, n_edges: '10'}"), "n_edges"),
        ("horizon a list", g.replace("horizon: 5}", "horizon: [1, 2]}"), "horizon"),
        ("sweep over an unknown field", with_exp("name: s, base: {scenario: small}, sweep: n_edgez, values: [4]"),
         "sweep"),
        ("a sweep value impossible", with_exp("name: s, base: {scenario: small, horizon: 5}, sweep: n_edges, "
                                             "values: [4, 0], methods: [least_loaded]"), "values[1]"),
        ("unknown method", with_exp("name: m, base: {scenario: small}, methods: [oracle]"), "oracle"),
        ("methods a string", with_exp("name: m, base: {scenario: small}, methods: MARL"), "methods"),
        ("unknown kind", with_exp("name: m, base: {scenario: small}, kind: magic, methods: [local]"), "kind"),
        ("experiments empty", g[: g.index("experiments:")] + "experiments: []\n", "experiments"),
        ("experiments missing", g[: g.index("experiments:")], "experiments"),
        ("experiment without base", with_exp("name: m, methods: [local]"), "base"),
        ("unknown experiment key", with_exp("name: m, base: {scenario: small}, methods: [local], sweeep: n_edges"),
         "sweeep"),
        ("experiment name twice", g + exp, "methods"),
        ("paired 'yes'", g + "paired: 'yes'\n", "paired"),
        ("report module outside the package", g + "report: ../../evil\n", "report"),
        ("unknown assumption field", with_exp("name: m, base: {scenario: small}, kind: sensitivity, methods: [local], "
                                             "assumptions: {magic: [1, 2]}"), "magic"),
        ("grid point of unknown fields", with_exp("name: m, base: {scenario: small}, kind: grid, methods: [local], "
                                                 "grid: [{n_edgez: 4}]"), "n_edgez"),
        ("episodes 0", with_exp("name: m, base: {scenario: small}, methods: [local], episodes: 0"), "episodes"),
    ]
    out = [Case(f"profile: {label}", lambda t=text: profile(s, t), needle=("prof.yaml", needle), group="profile")
           for label, text, needle in table]
    out += [
        Case("profile: valid (control)", lambda: profile(s, g), "accept", group="profile"),
        Case("srole reproduce: bad profile exits non-zero before any cell", lambda: reproduce_cli(
            s, g.replace("seeds: [0]", "seeds: '01'")), needle=("prof.yaml", "seeds"), group="profile"),
    ]
    return out


def tuned_cases(s: Any) -> list[Case]:
    t = GOOD_TUNED
    table = [
        ("unknown hyperparameter", {**t, "hparams": {"lr": 0.1, "learnign_rate": 0.1}}, "learnign_rate"),
        ("hyperparameter of the wrong type", {**t, "hparams": {"hidden": "big"}}, "hidden"),
        ("unknown algo", {**t, "algo": "sarsa"}, "algo"),
        ("hparams a list", {**t, "hparams": [1, 2]}, "hparams"),
        ("unknown top-level key", {**t, "hparamz": {}}, "hparamz"),
        ("for another method", {**t, "method": "CRL"}, "method"),
        ("overrides of unknown fields", {**t, "overrides": {"n_edgez": 3}}, "n_edgez"),
        ("unknown shield", {**t, "shield": "magic"}, "shield"),
    ]
    out = [Case(f"tuned: {label}", lambda d=data: tuned(s, d), needle=("MARL.yaml", needle), group="tuned")
           for label, data, needle in table]
    return [*out, Case("tuned: valid (control)", lambda: tuned(s, t), "accept", group="tuned")]


def scenario_cases(s: Any) -> list[Case]:
    table = [
        ("horizon a list", "horizon: [1, 2]\n", "horizon"),
        ("horizon a string", "horizon: '10'\n", "horizon"),
        ("n_edges null", "n_edges: null\n", "n_edges"),
        ("n_neighbors a string", "n_neighbors: '4'\n", "n_neighbors"),
        ("n_regions a string", "n_regions: '2'\n", "n_regions"),
        ("unknown key", "n_edgez: 4\n", "n_edgez"),
        ("arrival_rate a string", "arrival_rate: fast\n", "arrival_rate"),
    ]
    out = [Case(f"scenario: {label}", lambda t=text: scenario(s, t), needle=("scen.yaml", needle), group="scenario")
           for label, text, needle in table]
    out += [
        Case("env: max_cycles='10'", lambda: env_kwargs(max_cycles="10"), needle="horizon", group="scenario"),
        Case("env: max_cycles=None", lambda: env_kwargs(max_cycles=None), needle="horizon", group="scenario"),
        Case("scenario: JSON with a byte-order mark (accepted)", lambda: scenario(
            s, BOM + b'{"n_edges": 4}', "scen.json"), "accept", group="scenario"),
        Case("scenario: YAML with a byte-order mark (accepted)", lambda: scenario(s, BOM + b"n_edges: 4\n"), "accept",
             group="scenario"),
    ]
    return out


# ---------------------------------------------------------------------- --cached-only
def cached_base(sweep: Any) -> Path:
    """A finished heuristic-only reproduction (seconds), copied by the cases."""
    base = sweep.work / "cached_base"
    if not (base / "summary.md").is_file():
        from study.experiments.profiles import load_profile
        from study.reproduce import reproduce

        spec = sweep.work / "cached.yaml"
        spec.write_text(CACHED_PROFILE)
        with contextlib.redirect_stdout(io.StringIO()):
            reproduce(load_profile(str(spec)), base, device="cpu", progress=False, workers=1)
    return base


def cached_only(sweep: Any, damage: Callable[[Path], None]) -> Path:
    from study.experiments.profiles import load_profile
    from study.reproduce import reproduce

    base = cached_base(sweep)
    out = sweep.fresh("cached") / "out"
    shutil.copytree(base, out)
    damage(out)
    before = (out / "summary.md").read_bytes() if (out / "summary.md").is_file() else None
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return reproduce(load_profile(str(sweep.work / "cached.yaml")), out, device="cpu", progress=False,
                             workers=1, cached_only=True)
    except BaseException:
        if out.is_dir() and (out / "summary.md").is_file() and (out / "summary.md").read_bytes() != before:
            raise Wrong("refused, but a new summary.md was written beside the old tables") from None
        raise


def _evals(out: Path, method: str | None = None) -> list[Path]:
    found = sorted((out / "cache" / "evals").glob("*.json"))
    return [p for p in found if method is None or json.loads(p.read_text()).get("method") == method]


def _partial(sweep: Any) -> None:
    def drop(out: Path) -> None:
        _evals(out, "lower-bound")[0].unlink()
    out = cached_only(sweep, drop)
    not_run = (out / "not_run.csv").read_text() if (out / "not_run.csv").is_file() else ""
    if "lower-bound" not in not_run or "not in the cache" not in not_run:
        raise Wrong(f"the missing cell is not named in not_run.csv: {not_run!r}")
    if (out / "failures.csv").is_file():
        raise Wrong("a cell the cache lacks is listed as a failure (nothing failed: it was not run)")


def _one_experiment_gone(sweep: Any) -> None:
    def drop(out: Path) -> None:
        for p in _evals(out, "local"):
            p.unlink()
    out = cached_only(sweep, drop)
    if (out / "second.csv").exists():
        raise Wrong("second.csv from the earlier run left beside a summary that says it has no results")


def _garbled(sweep: Any) -> None:
    def garble(out: Path) -> None:
        for p in _evals(out):
            p.write_text('{"method": "LL", "se')
    cached_only(sweep, garble)


def cached_cases(s: Any) -> list[Case]:
    def gone(out: Path) -> None:
        shutil.rmtree(out)

    def empty(out: Path) -> None:
        shutil.rmtree(out)
        out.mkdir()

    def cache_file(out: Path) -> None:
        shutil.rmtree(out / "cache")
        (out / "cache").write_text("not a folder")

    def no_evals(out: Path) -> None:
        for p in _evals(out):
            p.unlink()

    return [
        Case("cached-only: missing folder", lambda: cached_only(s, gone), needle="out", group="cached-only"),
        Case("cached-only: empty folder", lambda: cached_only(s, empty), needle="cache", group="cached-only"),
        Case("cached-only: cache is a file", lambda: cached_only(s, cache_file), needle="cache", group="cached-only"),
        Case("cached-only: cache without evaluations", lambda: cached_only(s, no_evals), needle="cache",
             group="cached-only"),
        Case("cached-only: every entry garbled", lambda: _garbled(s), needle="cache", group="cached-only"),
        Case("cached-only: one cell missing, named in not_run.csv", lambda: _partial(s), "accept",
             group="cached-only"),
        Case("cached-only: an experiment gone, its old table removed", lambda: _one_experiment_gone(s), "accept",
             group="cached-only"),
    ]


# ---------------------------------------------------------------------- the episode log
def _log(sweep: Any, n: int = 3) -> Path:
    from agents.common.run_dir import EpisodeLog

    path = sweep.fresh("log") / "episodes.csv"
    log = EpisodeLog(path)
    for e in range(n):
        log({"episode": e, "total_rounds": 10 * (e + 1), "episode_return": -1.5 * e, "mean_jct": 50.0 + e})
    return path


def _episodes(path: Path) -> list[int]:
    import warnings

    from agents.common.run_dir import read_episodes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [int(r["episode"]) for r in read_episodes(path)]


def _tear(path: Path) -> None:
    """Cut the last line in half, as a crash in the middle of appending it would."""
    raw = path.read_bytes()
    start = raw.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(raw[: start + (len(raw) - start) // 2])


def _expect(got: list[int], want: list[int], what: str) -> None:
    if got != want:
        raise Wrong(f"{what}: episodes {got}, expected {want}")


def torn_then_resume(sweep: Any) -> None:
    from agents.common.run_dir import EpisodeLog

    path = _log(sweep)
    _tear(path)  # episode 2's row torn; the checkpoint holds 3 episodes, so episode 2 is never replayed
    EpisodeLog(path).keep_before(3)
    _expect(_episodes(path), [0, 1, 2], "torn last row, resumed")


def torn_then_append(sweep: Any) -> None:
    from agents.common.run_dir import EpisodeLog

    path = _log(sweep)
    _tear(path)
    EpisodeLog(path)({"episode": 3, "total_rounds": 40, "episode_return": 0.0, "mean_jct": 53.0})
    got = _episodes(path)
    if 3 not in got:
        raise Wrong(f"the row appended after a torn one was lost (glued to it): episodes {got}")


def torn_first_write(sweep: Any) -> None:
    from agents.common.run_dir import EpisodeLog

    path = _log(sweep, 1)
    path.write_bytes(path.read_bytes()[:20])  # the header and the first row go in one write: cut in the header
    EpisodeLog(path)({"episode": 1, "total_rounds": 20, "episode_return": 0.0, "mean_jct": 51.0})
    _expect(_episodes(path), [0, 1], "torn first write, then appended")


def damaged_middle_read(sweep: Any) -> None:
    import warnings

    from agents.common.run_dir import read_episodes

    path = _log(sweep, 4)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '1,"20,-1.5,51.0\n'  # an unbalanced quote in episode 1's row
    path.write_text("".join(lines))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [int(r["episode"]) for r in read_episodes(path)]
    _expect(got, [0, 2, 3], "damaged middle row")
    if not any("episodes.csv" in str(w.message) and "3" in str(w.message) for w in caught):
        raise Wrong("the damaged row was skipped without a warning naming the file and the line")


def damaged_middle_resume(sweep: Any) -> None:
    import warnings

    from agents.common.run_dir import EpisodeLog

    path = _log(sweep, 4)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '1,"20,-1.5,51.0\n'
    path.write_text("".join(lines))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        EpisodeLog(path).keep_before(4)
    _expect(_episodes(path), [0, 2, 3], "damaged middle row, resumed")
    quarantine = path.with_name("episodes.csv.damaged")
    if not quarantine.is_file() or ":3:" not in quarantine.read_text():
        raise Wrong("the damaged row was dropped, not kept aside with its line number")


def old_csv_log(sweep: Any) -> None:
    import csv

    from agents.common.run_dir import EpisodeLog

    path = sweep.fresh("log") / "episodes.csv"
    with path.open("w", newline="") as f:  # as older versions wrote it (csv.DictWriter, no side file)
        w = csv.DictWriter(f, fieldnames=["episode", "total_rounds", "episode_return"])
        w.writeheader()
        w.writerows({"episode": e, "total_rounds": 10 * e, "episode_return": 1.0} for e in range(2))
    EpisodeLog(path)({"episode": 2, "total_rounds": 20, "episode_return": 1.0})
    _expect(_episodes(path), [0, 1, 2], "an older CSV log, appended")


def newline_in_value(sweep: Any) -> None:
    from agents.common.run_dir import EpisodeLog

    path = sweep.fresh("log") / "episodes.csv"
    log = EpisodeLog(path)
    for e in range(3):
        log({"episode": e, "total_rounds": 10, "episode_return": 1.0, "note": "two\nlines" if e == 1 else "x"})
    import csv

    if len(path.read_text().splitlines()) != 4:
        raise Wrong("a value with a line break spans lines of the log")
    with path.open(newline="") as f:
        _expect([int(r["episode"]) for r in csv.DictReader(f)], [0, 1, 2], "a value with a line break")


def garbage_number(sweep: Any) -> None:
    from agents.common.run_dir import read_episodes

    path = _log(sweep)
    path.write_text(path.read_text().replace("51.0", "abc"))
    read_episodes(path)


def episode_cases(s: Any) -> list[Case]:
    return [
        Case("episode log: torn last row, resumed (episode kept)", lambda: torn_then_resume(s), "accept",
             group="episode log"),
        Case("episode log: torn last row, then appended", lambda: torn_then_append(s), "accept", group="episode log"),
        Case("episode log: torn first write (the header), then appended", lambda: torn_first_write(s), "accept",
             group="episode log"),
        Case("episode log: unbalanced quote mid-file, read", lambda: damaged_middle_read(s), "accept",
             group="episode log"),
        Case("episode log: unbalanced quote mid-file, resumed", lambda: damaged_middle_resume(s), "accept",
             group="episode log"),
        Case("episode log: older CSV log read and appended", lambda: old_csv_log(s), "accept", group="episode log"),
        Case("episode log: a value with a line break", lambda: newline_in_value(s), "accept", group="episode log"),
        Case("episode log: a value that is no number", lambda: garbage_number(s), needle="episodes.csv:",
             group="episode log"),
    ]


# ---------------------------------------------------------------------- a run's own files
def edited_config(sweep: Any, edit: Callable[[dict], None], also_checkpoint: bool = False) -> Any:
    from checks.sweep import evaluate_run

    run = sweep.copy("idqn")
    targets = [run / "config.json"] + ([run / "checkpoint" / "config.json"] if also_checkpoint else [])
    for path in targets:
        cfg = json.loads(path.read_text())
        edit(cfg)
        path.write_text(json.dumps(cfg))
    return evaluate_run(run)


def runs_json(sweep: Any, text: str) -> None:
    from study.experiments.runs import record_run

    out = sweep.fresh("runs")
    (out / "runs.json").write_text(text)
    record_run(out, 1.0, 1, 1, 1)


def curves_file(sweep: Any, text: str) -> Any:
    from agents.harness.convergence import read_curve

    path = sweep.fresh("curves") / "curves.csv"
    path.write_bytes(text.encode())
    rows = read_curve(path)
    if not all(isinstance(r.get("round"), float) for r in rows):
        raise Wrong(f"garbage read back as a curve: {rows[:2]}")
    return rows


def cluster_printed(sweep: Any) -> None:
    from srole_cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["evaluate", "--policy", str(sweep.base_run("idqn")), "--episodes", "1", "--device", "cpu"])
    if status != 0 or "N=10" not in err.getvalue():
        raise Wrong(f"srole evaluate does not say which cluster ran (status {status}): {err.getvalue()[:200]!r}")


def run_file_cases(s: Any) -> list[Case]:
    def neighbours(c: dict) -> None:
        c["cluster"]["n_neighbors"] = 2

    return [
        Case("run: config.json edited to another n_edges -> evaluate", lambda: edited_config(
            s, lambda c: c["cluster"].update(n_edges=12)), needle=("config.json", "n_edges"), group="run files"),
        Case("run: config.json edited hparams -> evaluate", lambda: edited_config(
            s, lambda c: c["hparams"].update(gamma=0.5)), needle=("config.json", "hparams"), group="run files"),
        Case("run: config.json cluster a list -> evaluate", lambda: edited_config(
            s, lambda c: c.update(cluster=[1, 2])), needle="config.json", group="run files"),
        Case("run: both configs edited, checkpoint's sizes differ -> evaluate", lambda: edited_config(
            s, neighbours, also_checkpoint=True), needle=("config.json", "actions"), group="run files"),
        Case("run: srole evaluate prints the cluster that ran", lambda: cluster_printed(s), "accept",
             group="run files"),
        Case("runs.json: a list of numbers", lambda: runs_json(s, "[1, 2]"), needle="runs.json", group="run files"),
        Case("runs.json: wall_s a string", lambda: runs_json(s, '[{"wall_s": "long"}]'), needle="runs.json",
             group="run files"),
        Case("curves.csv: binary garbage", lambda: curves_file(s, "\x00\x01garbage\n1,2,3\n"), needle="curves.csv",
             group="run files"),
        Case("curves.csv: text in a number", lambda: curves_file(s, "round,mean_jct_all\n10,fast\n"),
             needle="curves.csv", group="run files"),
    ]


# ---------------------------------------------------------------------- errors that name the file
def full_disk(sweep: Any, target: str) -> None:
    from srole_common import persist

    path = sweep.fresh("disk") / "table.json"
    with mock.patch(target, side_effect=OSError(errno.ENOSPC, "No space left on device")):
        persist.write_json(path, {"a": 1})


def full_disk_log(sweep: Any) -> None:
    from agents.common.run_dir import EpisodeLog

    path = sweep.fresh("disk") / "episodes.csv"
    if not Path("/dev/full").exists():
        raise OSError(errno.ENOSPC, f"no /dev/full here; {path}")
    path.symlink_to("/dev/full")
    EpisodeLog(path)({"episode": 0, "total_rounds": 10, "episode_return": 1.0})


def trace(sweep: Any, body: bytes) -> Any:
    from checks.sweep import trace_env

    return trace_env(sweep, body)


def named_cases(s: Any) -> list[Case]:
    disk = (OSError,)
    return [
        Case("full disk: fsync of an atomic write", lambda: full_disk(s, "os.fsync"), needle="table.json",
             errors=disk, group="file named"),
        Case("full disk: the temporary file", lambda: full_disk(s, "tempfile.mkstemp"), needle="table.json",
             errors=disk, group="file named"),
        Case("full disk: the episode log's append", lambda: full_disk_log(s), needle="episodes.csv", errors=disk,
             group="file named"),
        Case("trace: UTF-8 byte-order mark (accepted)", lambda: trace(s, BOM + TRACE.encode()), "accept",
             group="file named"),
        Case("trace: byte-order mark and CRLF (accepted)", lambda: trace(s, BOM + TRACE.replace("\n", "\r\n").encode()),
             "accept", group="file named"),
    ]


def cases(sweep: Any) -> list[Case]:
    """Every round-2 case."""
    return [*profile_cases(sweep), *tuned_cases(sweep), *scenario_cases(sweep), *cached_cases(sweep),
            *episode_cases(sweep), *run_file_cases(sweep), *named_cases(sweep)]
