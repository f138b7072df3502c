"""Feed SROLE many bad inputs and faults, as a careful user or an attacker would, and count the outcomes.

    python tests/checks/sweep.py [--work DIR] [--verbose] [--only-new]

Each case is one bad input (or one valid input that used to be refused) and says what should happen:

- ``refuse``: a clear error (``ValueError``/``TypeError``/``RuntimeError``/``FileNotFoundError``/
  ``FileExistsError``), whose message names what it should (the file, the line, the field);
- ``accept``: it runs;
- ``no_code``: a crafted file must not run its payload (a pickle that creates a marker folder).

Outcomes: **clear** (as it should), **wrong** (accepted when it should be refused, a payload ran, a valid
input refused, a corrupt cache entry read back as a failure, a lost row, a stale table) and **crash** (another
exception, an error that does not name what it should, a ``MemoryError`` or a timeout). Cases that could exhaust
memory run in a child process under a 3 GiB address-space limit. The first round's cases are here; the second
round's (issue 28: profiles, tuned files, scenarios, ``--cached-only``, the episode log, a run's own files, errors
naming the file) are in ``round2.py``. Works on any checkout with the public API (``agents.harness``,
``agents.common.run_dir``, ``srole_env``, ``shields``, ``study.experiments``, ``study.reproduce``, ``srole_cli``), so
the same script measures a branch before and after a change (copy ``tests/checks/`` into the other checkout). Prints
one line per case with ``--verbose``, then the counts per class and in all. ``tests/test_bad_input_sweep.py`` runs
every case in the test suite.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]  # repo, tests/

from checks.base import Case, Wrong  # noqa: E402 - after the path is set (also when run as a script)

_Wrong = Wrong

TINY = {"scenario": "small", "horizon": 10}
HPARAMS = {
    "idqn": {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "hidden": [16, 16]},
    "ippo": {"rollout_rounds": 10, "n_epochs": 1, "minibatch_size": 50, "hidden": [16, 16]},
    "ppo": {"n_steps": 10, "batch_size": 50, "n_epochs": 1},
    "dqn": {"learning_starts": 20, "buffer_size": 2_000, "batch_size": 16},
}
HEADER = "arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n"
GOOD_ROW = "1,0,lenet5,100,1,32,1\n"


class Payload:
    """Unpickling this creates the folder ``marker`` (stands for any code an attacker would run)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.marker,))


class Sweep:
    """The work folder, the tiny trained runs the cases copy, and the payload marker."""

    def __init__(self, work: Path):
        self.work = work
        self.marker = work / "PAYLOAD_RAN"
        self.runs: dict[str, Path] = {}
        self.n = 0

    def fresh(self, name: str) -> Path:
        self.n += 1
        path = self.work / f"{self.n:03d}_{name}"
        path.mkdir(parents=True)
        return path

    def base_run(self, algo: str) -> Path:
        if algo not in self.runs:
            from agents.harness.train import train

            self.runs[algo] = train(algo, "none", TINY, 15, 0, self.work / "base" / algo, "cpu",
                                    hparams=HPARAMS[algo], progress=False)
        return self.runs[algo]

    def copy(self, algo: str) -> Path:
        dst = self.fresh(algo) / "run"
        shutil.copytree(self.base_run(algo), dst)
        return dst

    def payload(self) -> bytes:
        return pickle.dumps(Payload(self.marker))


# ---------------------------------------------------------------------- helpers the cases use
def evaluate_run(run: Path, **kw: Any) -> Any:
    from agents.harness.evaluate import evaluate

    return evaluate(run, episodes=1, device="cpu", **kw)


def resume(run: Path, rounds: int = 30) -> Any:
    from agents.harness.train import resume_run

    return resume_run(run, rounds, device="cpu", progress=False)


def env_state(run: Path) -> Path:
    found = sorted((run / "checkpoint").glob("env.*"))
    if not found:
        raise AssertionError("no env state file in the checkpoint")
    return found[0]


def npz_with_object(path: Path, marker_payload: Payload) -> None:
    obj = np.empty(1, dtype=object)
    obj[0] = marker_payload
    with path.open("wb") as f:
        np.savez(f, actions=obj, obs=obj)


def trace_env(sweep: Sweep, body: bytes, name: str = "trace.csv") -> Any:
    from srole_env import EdgeClusterEnv

    path = sweep.fresh("trace") / name
    path.write_bytes(body)
    env = EdgeClusterEnv("small", trace_path=str(path))
    env.reset(seed=0)
    for _ in range(3):
        env.step({})
    metrics = env.metrics()
    if metrics.get("jobs_arrived", 1) == 0:
        raise _Wrong(f"trace accepted but no job arrived: {metrics.get('jobs_arrived')}")
    return metrics


def config(**overrides: Any) -> Any:
    from srole_env import make_config

    return make_config("small", **overrides)


def env_after_end() -> None:
    from srole_env import EdgeClusterEnv

    env = EdgeClusterEnv("small", horizon=1)
    env.reset(seed=0)
    hold = np.full(env.config.n_edges, env.config.n_actions - 1)
    env.step_arrays(hold)
    env.step_arrays(hold)


def cache_case(sweep: Sweep, damage: bytes) -> None:
    from study.experiments.plan import Cell, EvalSpec, run_cell

    cache = sweep.fresh("cache")
    cell = Cell("method", {"name": "LL", "kind": "heuristic", "policy": "least_loaded", "shield": "none"}, 0, {},
                (EvalSpec("methods", {"p": 1}, {"scenario": "small", "horizon": 3}),), str(cache))
    run_cell(cell)
    for entry in (cache / "evals").glob("*.json"):
        entry.write_bytes(damage)
    again = run_cell(cell)
    if again["failures"] or len(again["rows"]) != 1:
        raise _Wrong(f"corrupt cache entry read back: {len(again['rows'])} rows, failures {again['failures']}")
    again = run_cell(cell)  # and repaired for the next run
    if again["failures"] or len(again["rows"]) != 1:
        raise _Wrong("corrupt cache entry not repaired")


def run_history(sweep: Sweep, damage: bytes) -> None:
    from study.experiments.runs import record_run

    out = sweep.fresh("runs")
    (out / "runs.json").write_bytes(damage)
    record_run(out, 1.0, 1, 1, 1)


def rewrite_zip_data(model: Path, key: str, raw: bytes) -> None:
    with zipfile.ZipFile(model) as z:
        members = {n: z.read(n) for n in z.namelist()}
    data = json.loads(members["data"])
    data[key] = {":type:": "<class 'function'>", ":serialized:": base64.b64encode(raw).decode()}
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def failed_then_retry(sweep: Sweep, check_empty: bool) -> None:
    from agents.harness.train import train

    out = sweep.fresh("failed") / "run"
    try:
        train("idqn", "none", TINY, 5, 0, out, "cpu", hparams={**HPARAMS["idqn"], "lr": -1.0}, progress=False)
    except Exception:  # noqa: BLE001 - the failure is the point; what it leaves behind is checked
        pass
    if check_empty and out.exists() and any(out.iterdir()):
        raise _Wrong(f"a failed run left {sorted(p.name for p in out.iterdir())}")
    if not check_empty:
        train("idqn", "none", TINY, 5, 0, out, "cpu", hparams=HPARAMS["idqn"], progress=False)


def resume_edited(sweep: Sweep, edit: Callable[[dict], None]) -> None:
    run = sweep.copy("idqn")
    cfg = json.loads((run / "config.json").read_text())
    edit(cfg)
    (run / "config.json").write_text(json.dumps(cfg))
    resume(run)


def resume_fewer(sweep: Sweep) -> None:
    run = sweep.copy("idqn")
    resume(run, 10)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    raise _Wrong(f"resume to 10 < 15 rounds accepted: state says {state['rounds']}, config says {cfg['rounds']}")


def damage_file(sweep: Sweep, algo: str, name: str, content: bytes | Callable[[bytes], bytes],
                action: Callable[[Path], Any]) -> None:
    run = sweep.copy(algo)
    path = env_state(run) if name == "ENV" else run / name
    old = path.read_bytes() if path.exists() else b""
    new = content(old) if callable(content) else content
    if new is None:
        path.unlink()
    else:
        path.write_bytes(new)
    action(run)


def yaml_file(sweep: Sweep, text: str, suffix: str = ".yaml") -> Path:
    path = sweep.fresh("yaml") / f"bad{suffix}"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------- the cases
def cases(sweep: Sweep) -> list[Case]:
    s = sweep
    payload = Payload(s.marker)
    garbage = {"empty": b"", "random": bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)),
               "truncated": lambda b: b[: len(b) // 2]}
    out: list[Case] = []

    # crafted payloads in run directories
    out += [
        Case("payload idqn.pt -> evaluate", lambda: (_torch_save({"q": payload}, s.copy("idqn") / "checkpoint" /
                                                                 "idqn.pt", evaluate_run)), "no_code", "idqn.pt"),
        Case("payload ippo.pt -> evaluate", lambda: (_torch_save({"model": payload}, s.copy("ippo") / "checkpoint" /
                                                                 "ippo.pt", evaluate_run)), "no_code", "ippo.pt"),
        Case("payload env state (pickle) -> resume", lambda: damage_file(
            s, "idqn", "ENV", lambda _: s.payload(), resume), "no_code", "env"),
        Case("payload env state (npz object array) -> resume", lambda: _npz_env(s, "idqn", payload), "no_code", "env"),
        Case("payload env state ippo -> resume", lambda: damage_file(
            s, "ippo", "ENV", lambda _: s.payload(), resume), "no_code", "env"),
        Case("stray env.pkl payload -> resume", lambda: _stray_env_pkl(s), "no_code"),
        Case("payload replay.npz object array -> resume", lambda: _npz_replay(s, payload), "no_code", "replay"),
        Case("payload SB3 model.zip attribute -> evaluate", lambda: _sb3_payload(s, "ppo"), "no_code", "model.zip"),
        Case("payload SB3 DQN model.zip attribute -> resume", lambda: _sb3_payload(s, "dqn", resume), "no_code",
             "model.zip"),
        Case("payload SB3 DQN replay buffer -> resume", lambda: damage_file(
            s, "dqn", "checkpoint/replay_buffer.pkl", lambda _: s.payload(), resume), "no_code", "replay_buffer"),
        Case("yaml !!python/object/apply -> scenario", lambda: config_from(yaml_file(
            s, f"n_edges: !!python/object/apply:os.mkdir ['{s.marker}']\n")), "no_code", "bad.yaml"),
    ]
    # garbage checkpoints and run files
    for label, content in garbage.items():
        out += [
            Case(f"{label} idqn.pt -> evaluate", lambda c=content: damage_file(
                s, "idqn", "checkpoint/idqn.pt", c, evaluate_run), needle="idqn.pt"),
            Case(f"{label} ppo model.zip -> evaluate", lambda c=content: damage_file(
                s, "ppo", "checkpoint/model.zip", c, evaluate_run), needle="model.zip"),
            Case(f"{label} state.json -> resume", lambda c=content: damage_file(
                s, "idqn", "checkpoint/state.json", c, resume), needle="state.json"),
            Case(f"{label} config.json -> evaluate", lambda c=content: damage_file(
                s, "idqn", "config.json", c, evaluate_run), needle="config.json"),
        ]
    out += [
        Case("state.json is a list -> resume", lambda: damage_file(s, "idqn", "checkpoint/state.json", b"[1]",
                                                                   resume), needle="state.json"),
        Case("idqn.pt holds a list -> evaluate", lambda: _torch_save([1, 2], s.copy("idqn") / "checkpoint" / "idqn.pt",
                                                                    evaluate_run), needle="idqn.pt"),
    ]
    # run directories that must not lie
    out += [
        Case("resume to fewer rounds", lambda: resume_fewer(s), needle="rounds"),
        Case("resume with edited n_edges", lambda: resume_edited(s, lambda c: c["cluster"].update(n_edges=12)),
             needle="n_edges"),
        Case("resume with edited n_neighbors", lambda: resume_edited(s, lambda c: c["cluster"].update(n_neighbors=2)),
             needle="n_neighbors"),
        Case("resume with edited hparams", lambda: resume_edited(s, lambda c: c["hparams"].update(gamma=0.5)),
             needle="hparams"),
        Case("resume with missing env state", lambda: damage_file(s, "idqn", "ENV", lambda _: None, resume),
             needle="env"),
        Case("resume with truncated env state", lambda: damage_file(s, "idqn", "ENV", lambda b: b[:64], resume),
             needle="env"),
        Case("resume of a folder that is no run", lambda: resume(s.fresh("norun")), needle="config.json"),
        Case("failed run leaves nothing behind", lambda: failed_then_retry(s, True), "accept"),
        Case("failed run retried in place", lambda: failed_then_retry(s, False), "accept"),
        Case("evaluate on another observation size", lambda: evaluate_run(
            s.base_run("idqn"), config={"scenario": "small", "n_neighbors": 2}), needle="n_neighbors"),
        Case("evaluate on a larger cluster, same obs size", lambda: evaluate_run(
            s.base_run("idqn"), config={"scenario": "small", "n_edges": 20, "horizon": 3}), "accept"),
    ]
    # reproduce cache
    for label, damage in {"zero-byte": b"", "truncated": b'{"method": "LL", "se', "a list": b"[1]",
                          "no metrics": b'{"method": "LL"}'}.items():
        out.append(Case(f"{label} cache entry -> rerun", lambda d=damage: cache_case(s, d), "accept"))
    for label, damage in {"truncated": b'[{"wall_s": 12.5, "work', "an object": b'{"wall_s": 12.5}'}.items():
        out.append(Case(f"{label} runs.json -> rerun", lambda d=damage: run_history(s, d), needle="runs.json"))
    # traces
    good = (HEADER + GOOD_ROW).encode()
    for label, body, needle in [
        ("NaN arrival", HEADER + "nan,0,lenet5,100,1,32,1\n", ":2"),
        ("inf arrival", HEADER + "inf,0,lenet5,100,1,32,1\n", ":2"),
        ("negative arrival", HEADER + "-5,0,lenet5,100,1,32,1\n", ":2"),
        ("origin out of range", HEADER + "1,99,lenet5,100,1,32,1\n", ":2"),
        ("negative origin", HEADER + "1,-1,lenet5,100,1,32,1\n", ":2"),
        ("unknown model", HEADER + "1,0,gpt5,100,1,32,1\n", ":2"),
        ("samples 1e20", HEADER + "1,0,lenet5,100000000000000000000,1,32,1\n", ":2"),
        ("tasks 0", HEADER + "1,0,lenet5,100,1,32,0\n", ":2"),
        ("text in a count", HEADER + "1,0,lenet5,many,1,32,1\n", ":2"),
        ("float count", HEADER + "1,0,lenet5,1e3,1,32,1\n", ":2"),
        ("missing value", HEADER + "1,0,lenet5,100,1,32\n", ":2"),
        ("header only", HEADER, "trace"),
        ("empty file", "", "trace"),
        ("missing column", "arrival_time_s,origin,model\n1,0,lenet5\n", "trace"),
        ("bad row on line 3", HEADER + GOOD_ROW + "x,0,lenet5,100,1,32,1\n", ":3"),
    ]:
        out.append(Case(f"trace: {label}", lambda b=body: trace_env(s, b.encode()), needle=needle))
    out += [
        Case("trace: non-UTF-8 bytes", lambda: trace_env(s, good.replace(b"lenet5", b"len\xff\xfe5")),
             needle="trace.csv"),
        Case("trace: missing file", lambda: config_env(trace_path=str(s.work / "nope.csv")), needle="nope.csv"),
        Case("trace: valid (control)", lambda: trace_env(s, good), "accept"),
    ]
    # configs
    for label, kw, needle in [
        ("compute_threshold=2", {"compute_threshold": 2}, "compute_threshold"),
        ("compute_threshold=1e-9", {"compute_threshold": 1e-9}, "compute_threshold"),
        ("compute_threshold=0", {"compute_threshold": 0}, "compute_threshold"),
        ("compute_threshold=nan", {"compute_threshold": float("nan")}, "compute_threshold"),
        ("n_edges=0", {"n_edges": 0}, "n_edges"),
        ("n_edges=1.5", {"n_edges": 1.5}, "n_edges"),
        ("n_edges='10'", {"n_edges": "10"}, "n_edges"),
        ("horizon=0", {"horizon": 0}, "horizon"),
        ("arrival_rate=-1", {"arrival_rate": -1.0}, "arrival_rate"),
        ("arrival_rate=inf", {"arrival_rate": float("inf")}, "arrival_rate"),
        ("n_regions > n_edges", {"n_edges": 4, "n_regions": 5}, "n_regions"),
        ("job_samples=(1, 10**20)", {"job_samples": (1, 10**20)}, "job_samples"),
        ("job_samples=(5, 1)", {"job_samples": (5, 1)}, "job_samples"),
        ("batch_sizes=(0,)", {"batch_sizes": (0,)}, "batch_sizes"),
        ("batch_sizes=(2**40,)", {"batch_sizes": (2**40,)}, "batch_sizes"),
        ("model_mix unknown model", {"model_mix": {"gpt5": 1.0}}, "gpt5"),
        ("model_mix all zero", {"model_mix": {"lenet5": 0.0}}, "model_mix"),
        ("unknown field", {"n_edgez": 3}, "n_edgez"),
        ("memory_overcommit=maybe", {"memory_overcommit": "maybe"}, "memory_overcommit"),
    ]:
        out.append(Case(f"config: {label}", lambda k=kw: config_env(**k), needle=needle))
    out += [
        Case("config: compute_threshold=1.0 (control)", lambda: config(compute_threshold=1.0), "accept"),
        Case("config: paper scenario (control)", lambda: _paper(), "accept"),
    ]
    for label, kw in [("n_edges=10**6", {"n_edges": 10**6}), ("arrival_rate=1e6", {"arrival_rate": 1e6}),
                      ("tasks_per_job=(1, 10**9)", {"tasks_per_job": (1, 10**9)})]:
        out.append(Case(f"size: {label}", lambda k=kw: config_env(steps=2, **k), needle="GiB", isolated=True))
    # env calls
    out += [
        Case("env: step(list)", lambda: _env().step([0] * 10), needle="dict"),
        Case("env: step unknown agent", lambda: _env().step({"edge_99": 0}), needle="edge_99"),
        Case("env: step action out of range", lambda: _env().step({"edge_0": 99}), needle="99"),
        Case("env: step before reset", lambda: _env(reset=False).step({}), needle="reset"),
        Case("env: step_arrays after the end", env_after_end, needle="reset"),
        Case("env: step_arrays wrong shape", lambda: _env().step_arrays(np.zeros(3, dtype=np.int64)), needle="3"),
        Case("env: seed=-1", lambda: _env(reset=False).reset(seed=-1), needle="seed"),
        Case("env: seed=1.5", lambda: _env(reset=False).reset(seed=1.5), needle="seed"),
        Case("env: seed=np.int64(3) (valid)", lambda: _env(reset=False).reset(seed=np.int64(3)), "accept"),
        Case("shield: seed=np.int64(3) (valid)", lambda: _shield().reset(seed=np.int64(3)), "accept"),
        Case("centralized: seed=np.int64(3) (valid)", lambda: _central().reset(seed=np.int64(3)), "accept"),
        Case("train: seed=np.int64(0) (valid)", lambda: _train_seed(s), "accept"),
        Case("evaluate: seed=np.int64(1) (valid)", lambda: evaluate_run(
            s.base_run("idqn"), seed=np.int64(1)), "accept"),
        Case("shield: wrapped in a shield", lambda: _nested_shield(), needle="shield"),
        Case("shield: NaN preferences", lambda: _nan_prefs(), needle="edge_0"),
        Case("shield: unknown kind", lambda: _shield("magic"), needle="magic"),
    ]
    # YAML / JSON files
    out += [
        Case("yaml: malformed scenario", lambda: config_from(yaml_file(s, "n_edges: [1\nhorizon: 3\n")),
             needle="bad.yaml:2"),
        Case("yaml: malformed profile", lambda: _profile(yaml_file(s, "name: x\nseeds: [1, 2\nrounds: 3\n")),
             needle="bad.yaml:3"),
        Case("json: malformed scenario", lambda: config_from(yaml_file(s, '{"n_edges": 4,\n "horizon": }\n',
                                                                       ".json")), needle="bad.json:2"),
        Case("yaml: scenario not a mapping", lambda: config_from(yaml_file(s, "- 1\n- 2\n")), needle="bad.yaml"),
        Case("yaml: profile not a mapping", lambda: _profile(yaml_file(s, "- 1\n")), needle="bad.yaml"),
        Case("yaml: non-UTF-8 scenario", lambda: config_from(_bytes_file(s, b"n_edges: \xff\xfe\n")),
             needle="bad.yaml"),
    ]
    from checks.round2 import cases as round_two

    return out + round_two(sweep)


def _torch_save(obj: Any, path: Path, action: Callable[[Path], Any]) -> Any:
    import torch

    torch.save(obj, path)
    return action(path.parents[1])


def _npz_env(sweep: Sweep, algo: str, payload: Payload) -> Any:
    run = sweep.copy(algo)
    path = env_state(run)
    target = path if path.suffix == ".npz" else path.with_suffix(".npz")
    path.unlink()
    npz_with_object(target, payload)
    return resume(run)


def _stray_env_pkl(sweep: Sweep) -> Any:
    run = sweep.copy("idqn")
    (run / "checkpoint" / "env.pkl").write_bytes(sweep.payload())  # the env state file of older versions
    return resume(run, 20)


def _npz_replay(sweep: Sweep, payload: Payload) -> Any:
    run = sweep.copy("idqn")
    npz_with_object(run / "checkpoint" / "replay.npz", payload)
    return resume(run)


def _sb3_payload(sweep: Sweep, algo: str, action: Callable[[Path], Any] = evaluate_run) -> Any:
    run = sweep.copy(algo)
    rewrite_zip_data(run / "checkpoint" / "model.zip", "lr_schedule", sweep.payload())
    return action(run)


def config_env(steps: int = 1, **overrides: Any) -> Any:
    from srole_env import EdgeClusterEnv

    env = EdgeClusterEnv("small", **overrides)
    env.reset(seed=0)
    for _ in range(steps):
        env.step({})
    return env


def config_from(path: Path) -> Any:
    from srole_env import make_config

    return make_config(str(path))


def _bytes_file(sweep: Sweep, raw: bytes) -> Path:
    path = sweep.fresh("yaml") / "bad.yaml"
    path.write_bytes(raw)
    return path


def _profile(path: Path) -> Any:
    from study.experiments.profiles import load_profile

    return load_profile(str(path))


def _paper() -> Any:
    from srole_env import EdgeClusterEnv

    env = EdgeClusterEnv("paper")
    env.reset(seed=0)
    return env


def _env(reset: bool = True) -> Any:
    from srole_env import EdgeClusterEnv

    env = EdgeClusterEnv("small")
    if reset:
        env.reset(seed=0)
    return env


def _shield(kind: str = "central") -> Any:
    import shields
    from srole_env import EdgeClusterEnv

    return shields.make_shield(EdgeClusterEnv("small"), kind)


def _central() -> Any:
    from srole_env import CentralizedSchedulingEnv, make_config

    return CentralizedSchedulingEnv(make_config("small"))


def _nested_shield() -> Any:
    import shields

    return shields.make_shield(_shield("central"), "decentralized")


def _nan_prefs() -> Any:
    env = _shield("central")
    env.reset(seed=0)
    prefs = np.zeros((10, env.unwrapped.sim.n_actions))
    prefs[0, 0] = np.nan
    return env.step_arrays(np.zeros(10, dtype=np.int64), prefs)


def _train_seed(sweep: Sweep) -> Any:
    from agents.harness.train import train

    return train("idqn", "none", TINY, 5, np.int64(0), sweep.fresh("seed") / "run", "cpu",
                 hparams=HPARAMS["idqn"], progress=False)


# ---------------------------------------------------------------------- running and counting
def classify(case: Case, sweep: Sweep) -> tuple[str, str]:
    """(outcome, detail) of one case run in this process."""
    if sweep.marker.exists():
        sweep.marker.rmdir()
    try:
        case.run()
        err: BaseException | None = None
    except _Wrong as wrong:
        return "wrong", str(wrong)
    except BaseException as exc:  # noqa: BLE001 - every failure is classified
        if isinstance(exc, KeyboardInterrupt):
            raise
        err = exc
    if sweep.marker.exists():
        return "wrong", "the payload ran"
    text = "" if err is None else f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    if err is None:
        return ("wrong", "accepted") if case.expect == "refuse" else ("clear", "ran")
    if case.expect == "accept":
        return "wrong", f"refused a valid input: {text}"
    if not isinstance(err, case.errors) or type(err).__name__ in ("UnpicklingError", "UnicodeDecodeError",
                                                                     "BadZipFile"):
        return "crash", text
    needles = (case.needle,) if isinstance(case.needle, str) else (case.needle or ())
    missing = [n for n in needles if n.lower() not in str(err).lower()]
    if missing:
        return "crash", f"does not name {missing}: {text}"
    return "clear", text


def run_isolated(case_name: str, work: Path, timeout: float = 120.0) -> tuple[str, str]:
    """Run one case in a child process under a 3 GiB address-space limit."""
    cmd = [sys.executable, __file__, "--work", str(work), "--only", case_name]

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=limit, env=env)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {timeout:.0f} s"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            outcome, _, detail = line[7:].partition(" ")
            return outcome, detail
    return "crash", f"child exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=None, help="folder for the runs and files (default: a temp dir)")
    p.add_argument("--verbose", action="store_true", help="one line per case")
    p.add_argument("--only", default=None, help=argparse.SUPPRESS)
    p.add_argument("--only-new", action="store_true", help="only the round-2 cases (tests/checks/round2.py)")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="srole_sweep_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.only is not None:
        sweep = Sweep(Path(tempfile.mkdtemp(dir=work)))
        case = next(c for c in cases(sweep) if c.name == args.only)
        outcome, detail = classify(case, sweep)
        print(f"RESULT {outcome} {detail}")
        return 0
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the warnings naming a damaged row are what some cases expect
    sweep = Sweep(work)
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    groups: dict[str, Counter[str]] = {}
    for case in cases(sweep):
        if args.only_new and case.group == "round 1":
            continue
        outcome, detail = run_isolated(case.name, work) if case.isolated else classify(case, sweep)
        counts[outcome] += 1
        groups.setdefault(case.group, Counter())[outcome] += 1
        if args.verbose or outcome != "clear":
            print(f"{outcome:5s} | {case.name} | {detail}", flush=True)
    for group, c in groups.items():
        print(f"  {group}: {sum(c.values())} cases, clear {c['clear']}, wrong {c['wrong']}, crash {c['crash']}")
    total = sum(counts.values())
    print(f"\n{total} cases in {time.perf_counter() - start:.0f} s: clear {counts['clear']}, "
          f"wrong {counts['wrong']}, crash {counts['crash']}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
