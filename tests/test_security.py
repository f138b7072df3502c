"""Untrusted run directories and caches: nothing in them runs code, and a run directory cannot lie.

Crafted checkpoints, env states and SB3 zips carry a pickle payload that would create a marker file when
unpickled: each must be refused with an error naming the file, and the marker must not exist.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.harness.evaluate import evaluate
from agents.harness.train import resume_run, train
from srole_common.persist import CorruptFile, atomic_write, read_json

TINY = {"scenario": "small", "horizon": 10}
IDQN = {"learning_starts": 50, "buffer_size": 2_000, "batch_size": 32, "hidden": [16, 16]}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Payload:
    """Unpickling this creates ``marker`` (stands for any code an attacker would run)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def tiny_idqn(out: Path, rounds: int = 15) -> Path:
    return train("idqn", "none", TINY, rounds, 0, out, "cpu", hparams=IDQN, progress=False)


@pytest.fixture(scope="module")
def idqn_run(tmp_path_factory) -> Path:
    return tiny_idqn(tmp_path_factory.mktemp("runs") / "idqn")


def copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------- crafted payloads
def test_crafted_torch_checkpoint_runs_no_code_and_is_refused(idqn_run: Path, tmp_path: Path):
    run = copy_run(idqn_run, tmp_path / "run")
    marker = tmp_path / "pwned"
    torch.save({"q": Payload(marker)}, run / "checkpoint" / "idqn.pt")
    with pytest.raises(CorruptFile, match=r"idqn\.pt.*corrupt or not a checkpoint"):
        evaluate(run, episodes=1, device="cpu")
    assert not marker.exists()


def test_crafted_env_state_runs_no_code_and_is_refused(idqn_run: Path, tmp_path: Path):
    run = copy_run(idqn_run, tmp_path / "run")
    marker = tmp_path / "pwned"
    obj = np.empty(1, dtype=object)
    obj[0] = Payload(marker)
    with (run / "checkpoint" / "env.npz").open("wb") as f:
        np.savez(f, actions=obj)  # an object array: stored as a pickle inside the .npz
    with pytest.raises(CorruptFile, match=r"env state .*env\.npz.*(corrupt|holds objects)"):
        resume_run(run, 30, device="cpu", progress=False)
    assert not marker.exists()


def test_an_old_env_pickle_is_never_read(idqn_run: Path, tmp_path: Path):
    run = copy_run(idqn_run, tmp_path / "run")
    marker = tmp_path / "pwned"
    (run / "checkpoint" / "env.pkl").write_bytes(pickle.dumps(Payload(marker)))
    resume_run(run, 20, device="cpu", progress=False)
    assert not marker.exists() and read_json(run / "checkpoint" / "state.json")["rounds"] == 20


def test_crafted_sb3_zip_runs_no_code_and_is_refused(tmp_path: Path):
    run = train("ppo", "none", TINY, 10, 0, tmp_path / "ppo", "cpu",
                hparams={"n_steps": 10, "batch_size": 50, "n_epochs": 1}, progress=False)
    model = run / "checkpoint" / "model.zip"
    with zipfile.ZipFile(model) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = json.loads(members["data"])
    marker = tmp_path / "pwned"
    data["lr_schedule"] = {":type:": "<class 'function'>",
                           ":serialized:": base64.b64encode(pickle.dumps(Payload(marker))).decode()}
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    with pytest.raises(CorruptFile, match=r"model\.zip.*lr_schedule.*posix\.mkdir.*not allowed"):
        evaluate(run, episodes=1, device="cpu")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", os.urandom(257), b"PK\x03\x04 truncated zip", b"s."])
def test_garbage_checkpoint_names_the_file(idqn_run: Path, tmp_path: Path, content: bytes):
    run = copy_run(idqn_run, tmp_path / "run")
    (run / "checkpoint" / "idqn.pt").write_bytes(content)
    with pytest.raises(CorruptFile, match=r"checkpoint '.*idqn\.pt' is corrupt or not a checkpoint"):
        evaluate(run, episodes=1, device="cpu")


# ---------------------------------------------------------------------- runs that cannot lie
def test_resume_to_fewer_rounds_is_refused_and_changes_nothing(idqn_run: Path, tmp_path: Path):
    run = copy_run(idqn_run, tmp_path / "run")
    before = (run / "config.json").read_bytes()
    with pytest.raises(ValueError, match=r"already trained 15 rounds; resuming it to 10"):
        resume_run(run, 10, device="cpu", progress=False)
    assert (run / "config.json").read_bytes() == before


def test_resume_with_an_edited_config_is_refused_naming_the_fields(idqn_run: Path, tmp_path: Path):
    run = copy_run(idqn_run, tmp_path / "run")
    config = read_json(run / "config.json")
    config["cluster"]["n_edges"] = 12
    config["cluster"]["n_neighbors"] = 2
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"differs .* in \['cluster.n_edges', 'cluster.n_neighbors'\]"):
        resume_run(run, 30, device="cpu", progress=False)


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_missing_or_corrupt_env_state_is_an_error_not_a_restart(idqn_run: Path, tmp_path: Path, damage: str):
    run = copy_run(idqn_run, tmp_path / "run")
    path = run / "checkpoint" / "env.npz"
    if damage == "missing":
        path.unlink()
        error, match = FileNotFoundError, "env state .* does not exist"
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
        error, match = CorruptFile, "env state .* corrupt"
    else:
        with np.load(path) as f:
            arrays = dict(f)
        arrays["actions"] = (arrays["actions"] + 1) % 3
        np.savez(path, **arrays)
        error, match = CorruptFile, "does not replay"
    with pytest.raises(error, match=match):
        resume_run(run, 30, device="cpu", progress=False)


def test_a_failed_run_leaves_nothing_and_can_be_retried(tmp_path: Path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="(?i)learning rate"):
        train("idqn", "none", TINY, 5, 0, out, "cpu", hparams={**IDQN, "lr": -1.0}, progress=False)
    assert not out.exists()
    out.mkdir()  # an empty dir given by the user stays, emptied
    with pytest.raises(ValueError, match="(?i)learning rate"):
        train("idqn", "none", TINY, 5, 0, out, "cpu", hparams={**IDQN, "lr": -1.0}, progress=False)
    assert out.is_dir() and not any(out.iterdir())
    train("idqn", "none", TINY, 5, 0, out, "cpu", hparams=IDQN, progress=False)
    assert read_json(out / "checkpoint" / "state.json")["rounds"] == 5


# ---------------------------------------------------------------------- cache and writer
def test_a_corrupt_cache_entry_is_recomputed_not_a_failure(tmp_path: Path):
    from study.experiments.plan import Cell, EvalSpec, run_cell

    cell = Cell("method", {"name": "LL", "kind": "heuristic", "policy": "least_loaded", "shield": "none"}, 0,
                {}, (EvalSpec("methods", {"p": 1}, {"scenario": "small", "horizon": 3}),), str(tmp_path))
    first = run_cell(cell)
    (entry,) = (tmp_path / "evals").glob("*.json")
    for damage in (b"", b'{"method": "LL", "se', b'["not an object"]', b'{"method": "LL"}'):
        entry.write_bytes(damage)
        again = run_cell(cell)
        assert again["failures"] == [] and len(again["rows"]) == 1
        np.testing.assert_equal({**again["rows"][0], "wall_s": 0}, {**first["rows"][0], "wall_s": 0})
        assert len(again["recomputed"]) == 1 and "recomputed" in again["recomputed"][0]
        assert read_json(entry)["method"] == "LL"  # repaired on disk
    assert run_cell(cell)["recomputed"] == []


def test_atomic_writer_gives_the_mode_a_plain_write_would(tmp_path: Path):
    plain, atomic = tmp_path / "plain.json", tmp_path / "atomic.json"
    plain.write_text("{}")
    atomic_write(atomic, "{}")
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's private 0o600
    atomic.chmod(0o640)
    atomic_write(atomic, '{"again": 1}')
    assert atomic.stat().st_mode & 0o777 == 0o640  # a rewrite keeps the file's mode


def test_atomic_writer_keeps_the_old_file_when_a_write_fails(tmp_path: Path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write(path, '{"rounds": 1}')
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    atomic_write(path, '{"rounds": 2}')
    assert read_json(path) == {"rounds": 2} and synced  # flushed before the rename

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, '{"rounds": 3}')
    assert read_json(path) == {"rounds": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left behind


def test_curves_and_report_tables_keep_their_old_content_when_a_write_fails(tmp_path: Path, monkeypatch):
    import pandas as pd

    from agents.common.curves import CurveRecorder, read_curve
    from srole_common.persist import write_frame

    curve = CurveRecorder(tmp_path / "curves.csv", 10, (0,), 1, lambda policy, seeds, episodes: {"mean_jct_all": 5.0})
    curve.record(0, None)
    curve.record(10, None)
    write_frame(tmp_path / "methods.csv", pd.DataFrame({"method": ["MARL"], "mean_jct_all": [1.0]}))

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        curve.record(20, None)
    with pytest.raises(OSError, match="disk full"):
        write_frame(tmp_path / "methods.csv", pd.DataFrame({"method": ["SROLE-central"]}))
    assert [r["round"] for r in read_curve(tmp_path / "curves.csv")] == [0, 10]  # whole, no torn third row
    assert list(pd.read_csv(tmp_path / "methods.csv")["method"]) == ["MARL"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "methods.csv"]


def test_a_corrupt_run_history_is_refused_naming_it(tmp_path: Path):
    from study.experiments.runs import record_run

    (tmp_path / "runs.json").write_text('[{"wall_s": 12.5, "workers"')
    with pytest.raises(CorruptFile, match=r"runs\.json.* is corrupt"):
        record_run(tmp_path, 1.0, computed=1, cells=1, workers=1)
    (tmp_path / "runs.json").write_text('{"wall_s": 12.5}')
    with pytest.raises(CorruptFile, match="expected a JSON list"):
        record_run(tmp_path, 1.0, computed=1, cells=1, workers=1)


def test_a_torn_episode_log_row_is_set_aside_on_resume(tmp_path: Path):
    from agents.common.run_dir import EpisodeLog, read_episodes

    path = tmp_path / "episodes.csv"
    log = EpisodeLog(path)
    for episode in range(3):
        log({"episode": episode, "total_rounds": 10 * (episode + 1), "mean_jct": 50.0 + episode})
    with path.open("a") as fh:
        fh.write("3,40")  # a crash in the middle of appending episode 3's row
    with pytest.warns(UserWarning, match=r"episodes\.csv: damaged row\(s\) on line\(s\) 5 moved to"):
        EpisodeLog(path).keep_before(5)
    assert [int(r["episode"]) for r in read_episodes(path)] == [0, 1, 2]
    assert (tmp_path / "episodes.csv.damaged").read_text() == "episodes.csv:5: 3,40\n"  # kept aside, not lost
    EpisodeLog(path).keep_before(2)
    assert [int(r["episode"]) for r in read_episodes(path)] == [0, 1]
