"""``run_cells``: the same results in the same order on every back-end (in-process, local processes, Ray,
an existing Ray cluster), a failing cell reported while the others finish, Ctrl-C stopping every worker,
and ``srole reproduce --workers/--address`` writing the same tables as one worker."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from srole_cli.main import main
from study.experiments import cells as cells_module
from study.experiments.cells import CellFailure, run_cells

ROOT = Path(__file__).resolve().parents[1]
WALL_CLOCK_COLUMNS = ("wall_s", "shield_wall_ms_per_round")  # measured time: the only columns allowed to differ


# ----------------------------------------------------------------------- cell functions (top-level: picklable)
def mixed(cell: tuple) -> object:
    """``("square", x)``: x*x, but ValueError for 3; ``("torch", seed)``: a seeded network's output;
    ``("info", _)``: (pid, torch threads) of the process that ran it."""
    kind, arg = cell
    if kind == "square":
        if arg == 3:
            raise ValueError("three is not allowed")
        return arg * arg
    import torch

    if kind == "torch":
        torch.manual_seed(arg)
        layer = torch.nn.Linear(32, 32)
        with torch.no_grad():
            return float(layer(torch.randn(64, 32)).sum())
    time.sleep(0.2)
    return os.getpid(), torch.get_num_threads()


MIXED = [("square", 0), ("square", 1), ("square", 2), ("square", 3), ("square", 4), ("torch", 0), ("torch", 1),
         ("info", None), ("info", None)]


def stop_midway(cell: tuple) -> str:
    """``("done", file)``: write file; ``("slow", pidfile)``: write this process's pid, then sleep 60 s;
    ``("interrupt", (pid, pidfile))``: once the slow cell reports that it runs (its pid file), send SIGINT
    (Ctrl-C) to process ``pid``, and again every few seconds until the driver acknowledges it (a file) or stops
    this cell (a signal that arrives while the driver runs a finalizer is dropped by Python)."""
    kind, arg = cell
    if kind == "done":
        Path(arg).write_text("finished")
    elif kind == "slow":
        Path(arg).write_text(str(os.getpid()))
        time.sleep(60)
    elif kind == "interrupt":
        pid, pidfile = arg
        deadline = time.monotonic() + 120  # the readiness signal: generous, so a loaded machine still gets it
        while not Path(pidfile).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        Path(f"{pidfile}.kick").write_text(repr(time.time()))
        caught = Path(f"{pidfile}.caught")  # the driver's acknowledgement (_assert_interrupt_stops_workers)
        for _ in range(12):  # until the driver stops this cell or says it caught the Ctrl-C
            if caught.exists():
                break
            os.kill(pid, signal.SIGINT)
            time.sleep(5)
    return kind


def _check_mixed(results: list, *, in_process: bool) -> None:
    assert results[:3] == [0, 1, 4] and results[4] == 16  # squares by hand
    failure = results[3]
    assert isinstance(failure, CellFailure) and failure.cell == ("square", 3)
    assert failure.error == "ValueError: three is not allowed" and "three is not allowed" in failure.traceback
    assert all(math.isfinite(v) for v in results[5:7]) and results[5] != results[6]
    for pid, threads in results[7:]:
        assert (pid == os.getpid()) == in_process
        if not in_process:
            assert threads == 1  # each worker pins torch to one thread


@pytest.fixture(scope="module")
def sequential_mixed() -> list:
    return run_cells(mixed, MIXED, progress=False)


@pytest.fixture
def no_ray(monkeypatch):
    """Run as if Ray were not installed: workers > 1 use the process pool."""
    monkeypatch.setattr(cells_module, "_import_ray", lambda: None)


@pytest.fixture
def ray_env(monkeypatch):
    """Ray workers import this module and srole_cli (the driver's environment reaches a local instance)."""
    ray = pytest.importorskip("ray", reason='Ray not installed (optional extra: pip install -e ".[cells]")')
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a test cluster on this host only (see docs/cells.md)
    yield ray
    if ray.is_initialized():
        ray.shutdown()


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _interrupt_cells(tmp_path: Path) -> tuple[list[tuple], Path, Path]:
    pidfile, first = tmp_path / "slow.pid", tmp_path / "first.done"
    cells = [("done", str(first)), ("slow", str(pidfile)), ("interrupt", (os.getpid(), str(pidfile))),
             ("slow", str(tmp_path / "never.pid")), ("done", str(tmp_path / "never.done"))]
    return cells, pidfile, first


def _assert_interrupt_stops_workers(tmp_path: Path, **kwargs) -> None:
    cells, pidfile, first = _interrupt_cells(tmp_path)
    # Ctrl-C as in a terminal: a test run started in the background by a non-interactive shell (`nox &` in a CI
    # script) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                run_cells(stop_midway, cells, progress=False, **kwargs)
            finally:
                Path(f"{pidfile}.caught").write_text("caught")  # no further Ctrl-C from the interrupt cell
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.time() - float(Path(f"{pidfile}.kick").read_text()) < 30  # the 60 s cell was not waited for
    assert first.read_text() == "finished"  # a finished cell keeps its result
    assert _gone(int(pidfile.read_text())), "the running cell's worker survived Ctrl-C"


# --------------------------------------------------------------------------------------------- in-process
def test_in_process_keeps_order_and_reports_a_failure_while_the_rest_finish(sequential_mixed):
    _check_mixed(sequential_mixed, in_process=True)


def test_bad_arguments_are_clear_errors(no_ray):
    with pytest.raises(ValueError, match="workers"):
        run_cells(mixed, MIXED, workers=0)
    for workers in (1.5, True, "2"):
        with pytest.raises(TypeError, match="workers"):
            run_cells(mixed, MIXED, workers=workers)
    with pytest.raises(TypeError, match="address"):
        run_cells(mixed, MIXED, address=6379)
    with pytest.raises(TypeError, match="callable"):
        run_cells("mixed", MIXED)
    with pytest.raises(ImportError, match="needs Ray"):
        run_cells(mixed, MIXED, address="127.0.0.1:6379")
    with pytest.raises(TypeError, match="picklable"):
        run_cells(lambda c: c, [1, 2], workers=2)
    assert run_cells(mixed, [], workers=2) == []


def test_ctrl_c_in_process_propagates_after_keeping_finished_cells(tmp_path):
    def interrupting(cell):
        if cell == "stop":
            raise KeyboardInterrupt
        (tmp_path / cell).write_text("finished")

    with pytest.raises(KeyboardInterrupt):
        run_cells(interrupting, ["a", "stop", "b"], progress=False)
    assert (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------------------- processes
def test_process_pool_gives_the_same_results_in_order(no_ray, sequential_mixed, capsys):
    results = run_cells(mixed, MIXED, workers=2, desc="mixed", progress=True)
    _check_mixed(results, in_process=False)
    assert results[:3] + results[4:7] == sequential_mixed[:3] + sequential_mixed[4:7]
    assert results[3].error == sequential_mixed[3].error
    assert len({pid for pid, _ in results[7:]}) <= 2
    assert f"{len(MIXED)}/{len(MIXED)}" in capsys.readouterr().err  # the bar counted every cell


def test_ctrl_c_stops_the_process_pool(no_ray, tmp_path):
    _assert_interrupt_stops_workers(tmp_path, workers=2)


# -------------------------------------------------------------------------------------------------- Ray
def test_local_ray_gives_the_same_results_in_order(ray_env, sequential_mixed):
    results = run_cells(mixed, MIXED, workers=2, progress=False)
    _check_mixed(results, in_process=False)
    assert results[:3] + results[4:7] == sequential_mixed[:3] + sequential_mixed[4:7]
    assert not ray_env.is_initialized()  # the instance started for the call is shut down


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(ray_env):
    """``ray start --head`` on a free port with 2 CPUs, in its own process group, killed at the end (not
    ``ray stop``, which would stop every Ray instance on the machine)."""
    ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="srole_ray_")  # short: Ray's socket paths must fit in 107 characters
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},  # no drain wait at SIGTERM
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head did not come up (exit {head.poll()})")
            time.sleep(0.5)
        yield address
    finally:
        if ray_env.is_initialized():
            ray_env.shutdown()
        head.terminate()  # `ray start --block` stops its node's processes on SIGTERM
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its process group is left
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


# ---------------------------------------------------------------------------- srole reproduce end to end
def _reproduce(out: Path, *args: str) -> dict[str, pd.DataFrame]:
    assert main(["reproduce", "--profile", "tiny", "--out", str(out), "--device", "cpu", "--no-progress",
                 *args]) == 0
    tables = {p.name: pd.read_csv(p) for p in sorted(out.glob("*.csv"))}
    return {name: t.drop(columns=[c for c in t.columns if c.startswith(WALL_CLOCK_COLUMNS)])  # and their _lo/_hi
            for name, t in tables.items()}


def _assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert list(a) == list(b) and "methods.csv" in a and "curves.csv" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory) -> dict[str, pd.DataFrame]:
    return _reproduce(tmp_path_factory.mktemp("w1"), "--workers", "1")


@pytest.mark.slow
def test_reproduce_tables_are_the_same_with_two_worker_processes(no_ray, one_worker, tmp_path):
    _assert_same_tables(one_worker, _reproduce(tmp_path, "--workers", "2"))


@pytest.mark.slow
def test_reproduce_tables_are_the_same_with_two_ray_workers(ray_env, one_worker, tmp_path):
    _assert_same_tables(one_worker, _reproduce(tmp_path, "--workers", "2"))


@pytest.mark.slow
def test_address_runs_on_an_existing_ray_cluster(ray_head, one_worker, sequential_mixed, tmp_path, monkeypatch):
    """Against a head started here: the same results and tables as one worker, and Ctrl-C kills the
    cluster's running cell while the cluster itself keeps running. (Ray does not start queued tasks in
    submission order, so the interrupt run caps the cells in flight at 2, which keeps them in order.)"""
    results = run_cells(mixed, MIXED, address=ray_head, progress=False)
    _check_mixed(results, in_process=False)
    assert results[:3] + results[4:7] == sequential_mixed[:3] + sequential_mixed[4:7]
    _assert_same_tables(one_worker, _reproduce(tmp_path / "tables", "--address", ray_head))
    _assert_interrupt_stops_workers(tmp_path, address=ray_head, workers=2)  # 2 in flight, in order
    assert run_cells(mixed, MIXED[:3], address=ray_head, progress=False) == [0, 1, 4]  # the cluster still serves
    monkeypatch.setenv("RAY_ADDRESS", ray_head)  # without an address, workers=2 still starts its own instance
    assert run_cells(mixed, MIXED[:3], workers=2, progress=False) == [0, 1, 4]
