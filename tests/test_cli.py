"""The ``srole`` command: train/evaluate end to end, resume, and one-line errors for bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.common.run_dir import read_episodes, read_json

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("srole_cli") is None:  # an editable install made before srole_cli existed
    sys.path.insert(0, str(ROOT))

from srole_cli import registry  # noqa: E402
from srole_cli.main import main  # noqa: E402

TINY = ["--scenario", "small", "--set", "horizon=10"]
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
"""``srole_cli`` importable in a subprocess even before the package is reinstalled with it."""


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status: int, err: str, *needles: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("srole: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ---------------------------------------------------------------------- happy paths
def test_train_resume_evaluate_end_to_end(capsys, tmp_path: Path):
    run = tmp_path / "ippo"
    status, out, _ = run_cli(capsys, "train", "--algo", "ippo", "--shield", "none", *TINY, "--rounds", "20",
                             "--seed", "1", "--out", str(run), "--hparam", "rollout_rounds=10",
                             "--hparam", "hidden=[16,16]", "--no-progress", "--device", "cpu")
    assert status == 0 and str(run) in out
    config = read_json(run / "config.json")
    assert config["hparams"]["hidden"] == [16, 16] and config["cluster"]["horizon"] == 10 and config["seed"] == 1
    status, _, _ = run_cli(capsys, "train", "--resume", str(run), "--rounds", "30", "--no-progress",
                           "--device", "cpu")
    assert status == 0 and read_json(run / "checkpoint" / "state.json")["rounds"] == 30
    assert [r["total_rounds"] for r in read_episodes(run / "episodes.csv")] == [10, 20, 30]

    csv_path, json_path = tmp_path / "t.csv", tmp_path / "t.json"
    status, out, _ = run_cli(capsys, "evaluate", "--policy", str(run), "local", "--episodes", "2", "--seed", "5",
                             "--csv", str(csv_path), "--json", str(json_path), "--device", "cpu")
    assert status == 0
    header = out.splitlines()[0].split()
    for column in ("mean_jct", "mean_jct_all", "p95_jct", "collisions", "overloads", "interventions",
                   "scheduling_overhead_s"):
        assert column in header
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["ippo", "local"]
    results = json.loads(json_path.read_text())
    assert [r["rows"][0]["rounds"] for r in results] == [10, 10]  # both on the run's own (10-round) cluster
    assert csv_path.read_text().startswith("policy,shield")


def test_scripts_are_the_cli(tmp_path: Path):
    for script, args in (("train.py", ["--algo", "nope", "--out", str(tmp_path / "x")]),
                         ("evaluate.py", ["--policy", "local", "--episodes", "1", *TINY])):
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], capture_output=True,
                              text=True, env=SUBPROCESS_ENV, cwd=tmp_path, timeout=120)
        if script == "train.py":
            assert_one_line_error(proc.returncode, proc.stderr, "--algo", "nope")
        else:
            assert proc.returncode == 0 and proc.stdout.splitlines()[1].startswith("local"), proc.stderr


def test_subcommand_registry_has_room_for_more(capsys, monkeypatch):
    seen = []

    def configure(p):
        p.add_argument("--what", default="all")

    monkeypatch.setitem(registry.SUBCOMMANDS, "hello", registry.Subcommand(
        "hello", "a subcommand registered from outside", configure, lambda args: seen.append(args.what) or 0))
    assert main(["hello", "--what", "fig3"]) == 0 and seen == ["fig3"]
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("train", "evaluate", "hello"))


# ---------------------------------------------------------------------- bad input: one line, exit 2
@pytest.mark.parametrize("argv, needles", [
    (["train", "--algo", "nope", "--out", "x"], ["--algo", "invalid choice", "nope"]),
    (["train", "--algo", "ppo", "--rounds", "-5", "--out", "x"], ["--rounds", "positive"]),
    (["train", "--algo", "ppo", "--rounds", "lots", "--out", "x"], ["--rounds"]),
    (["train", "--algo", "ppo", "--timesteps", "1000", "--out", "x"], ["--timesteps", "--rounds"]),
    (["train", "--algo", "idqn", "--eval-every", "5", "--out", "{tmp}/v"], ["eval_seeds"]),
    (["train", "--resume", "{tmp}", "--eval-every", "5"], ["--resume", "--eval-every"]),
    (["train", "--backend", "rllib", "--out", "{tmp}/r", "--eval-every", "5"], ["--eval-every"]),
    (["train", "--algo", "ppo"], ["--out"]),
    (["train", "--algo", "idqn", "--out", "{tmp}/h", "--hparam", "nonsense=1", "--rounds", "10"],
     ["hyperparameter", "nonsense"]),
    (["train", "--algo", "crl_ppo", "--shield", "central", "--out", "{tmp}/c"], ["shield"]),
    (["train", "--algo", "idqn", "--set", "n_edges=0", "--out", "{tmp}/e"], ["n_edges"]),
    (["train", "--algo", "idqn", "--scenario", "huge", "--out", "{tmp}/s"], ["scenario", "huge"]),
    (["train", "--resume", "{tmp}/missing"], ["does not exist"]),
    (["train", "--resume", "{tmp}"], ["{tmp}"]),
    (["train", "--resume", "{tmp}", "--algo", "ppo"], ["--resume", "--algo"]),
    (["train", "--algo", "idqn", "--num-env-runners", "2", "--out", "{tmp}/r"], ["--backend rllib"]),
    (["train", "--backend", "rllib", "--out", "{tmp}/r", "--checkpoint-every", "100"], ["--checkpoint-every"]),
    (["train", "--backend", "rllib", "--resume", "{tmp}"], ["does not resume"]),
    (["train", "--backend", "rllib", "--algo", "dqn", "--out", "{tmp}/r"], ["ppo only"]),
    (["evaluate", "--policy", "{tmp}/missing"], ["neither a heuristic"]),
    (["evaluate", "--policy", "local", "--episodes", "0"], ["--episodes"]),
    (["evaluate", "--policy", "local", "--shield", "maybe"], ["--shield"]),
    (["evaluate"], ["--policy"]),
    (["bogus"], ["bogus"]),
    ([], ["COMMAND"]),
])
def test_bad_input_is_one_line_on_stderr(capsys, tmp_path: Path, argv: list[str], needles: list[str]):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    status, out, err = run_cli(capsys, *argv)
    assert_one_line_error(status, err, *(n.replace("{tmp}", str(tmp_path)) for n in needles))


@pytest.mark.parametrize("argv, hint", [
    (["--arrival-rate", "0.01"], "--set arrival_rate=0.01"),
    (["--horizon=5"], "--set horizon=5"),
    (["--n-edges"], "--set n_edges=VALUE"),
])
def test_config_field_as_an_option_hints_at_set(capsys, argv: list[str], hint: str):
    status, _, err = run_cli(capsys, "evaluate", "--policy", "local", *argv)
    assert_one_line_error(status, err, "unrecognized arguments", hint)
    status, _, err = run_cli(capsys, "evaluate", "--policy", "local", "--bogus", "1")
    assert_one_line_error(status, err, "unrecognized arguments: --bogus 1")
    assert "--set" not in err  # no hint for an option that is not a config field


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_non_finite_set_values_get_one_message(capsys, value: str):
    status, _, err = run_cli(capsys, "evaluate", "--policy", "local", "--set", f"arrival_rate={value}")
    assert_one_line_error(status, err, "arrival_rate must be finite")


def test_missing_checkpoint_is_one_line(capsys, tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    status, _, err = run_cli(capsys, "train", "--resume", str(run))
    assert_one_line_error(status, err, "no checkpoint")
    status, _, err = run_cli(capsys, "evaluate", "--policy", str(run))
    assert_one_line_error(status, err, "no checkpoint")


def test_console_process_prints_no_traceback(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "srole_cli.main", "train", "--resume", str(tmp_path / "none")],
                          capture_output=True, text=True, env=SUBPROCESS_ENV, timeout=60)
    assert_one_line_error(proc.returncode, proc.stderr, "does not exist")
    assert proc.stdout == ""
