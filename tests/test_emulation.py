"""The emulator's bookkeeping on a scripted backend (no Ray): JCTs, OOM kills, node loss, the CLI.

``ScriptedBackend`` is a virtual clock on which every launched worker does ``rate`` iterations per
second; expected values below are worked out by hand from the trace, the rate and ``round_s``.
"""

from __future__ import annotations

import math

import pytest

from emulation.cluster import TaskStatus, TaskWork
from emulation.nodes import cpu_sets, parse_node_spec
from emulation.run import emulate, scale_trace
from srole_env.profiles import device_classes


class ScriptedBackend:
    """Virtual clock; a worker launched at ``t0`` has done ``rate * (t - t0)`` iterations at ``t``."""

    def __init__(self, rate: float = 5.0, rss: float = 0.0, die: tuple[int, float] | None = None):
        self.t = 0.0
        self.rate = rate
        self.rss = rss
        self.die = die  # (node, time): the node dies at that time
        self.running: dict[int, tuple[int, TaskWork, float]] = {}
        self.launches: list[tuple[float, int, int]] = []  # (time, node, tid)
        self.killed: list[int] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)

    def launch(self, node: int, work: TaskWork) -> None:
        assert node not in self.dead_nodes()
        self.running[work.tid] = (node, work, self.t)
        self.launches.append((self.t, node, work.tid))

    def poll(self) -> dict[int, TaskStatus]:
        out = {}
        for tid, (_node, work, t0) in self.running.items():
            done = min(self.rate * (self.t - t0), work.iters)
            fin = t0 + work.iters / self.rate if done >= work.iters else None
            busy = (fin if fin is not None else self.t) - t0  # one CPU fully busy while it runs
            out[tid] = TaskStatus(iters_done=done, finished_at=fin, rss_bytes=self.rss, cpu_s=busy)
        return out

    def kill(self, tid: int) -> None:
        self.killed.append(tid)

    def forget(self, tid: int) -> None:
        self.running.pop(tid, None)

    def dead_nodes(self) -> set[int]:
        return {self.die[0]} if self.die is not None and self.t >= self.die[1] else set()


def test_node_spec_and_cpu_sets():
    table = device_classes()
    nodes = parse_node_spec("raspberry_pi4x2,nuc_i7")
    assert [n.name for n in nodes] == ["raspberry_pi4", "raspberry_pi4", "nuc_i7"]
    assert nodes[2] == table["nuc_i7"]
    with pytest.raises(ValueError, match="not CLASS"):
        parse_node_spec("toaster")
    with pytest.raises(ValueError, match="not CLASS"):
        parse_node_spec("nuc_i7x0")
    # 4-core Pis on 8 host CPUs get disjoint blocks; on 2 CPUs they wrap and share
    assert cpu_sets([4, 4], list(range(8))) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert cpu_sets([1, 1, 1], [0, 1]) == [[0], [1], [0]]


def test_scale_trace(tmp_path, write_trace):
    src = write_trace([(10, 0, "lenet5", 1000, 1, 32, 2), (20, 1, "lenet5", 5, 1, 32, 1)])
    dst = scale_trace(src, tmp_path / "s.csv", work_scale=0.1, time_scale=0.5)
    lines = dst.read_text().splitlines()[1:]
    assert lines == ["5.0,0,lenet5,100,1,32,2", "10.0,1,lenet5,1,1,32,1"]  # 5 x 0.1 rounds to 0 -> at least 1


def test_one_job_jct_matches_its_iterations(write_trace):
    # 320 samples / batch 32 = 10 iterations at 5 it/s = 2 s; placed in round 1 at t=0 -> JCT 2 s
    trace = write_trace([(0, 0, "lenet5", 320, 1, 32, 1)])
    backend = ScriptedBackend(rate=5.0)
    r = emulate("local", "none", trace, local_nodes="nuc_i7x2", round_s=1.0, max_rounds=20, backend=backend)
    assert r["jobs_completed"] == 1 and r["jobs_unfinished"] == 0
    assert r["mean_jct"] == pytest.approx(2.0)
    assert backend.launches == [(0.0, 0, 0)]
    assert r["rounds"] == 2 and r["oom_kills"] == 0
    # CPU: the worker is busy t=0..2 = 2 CPU-seconds over 2 rounds x 2 nodes x 4 cores = 16 core-seconds
    assert r["measured_cpu_utilization"] == pytest.approx(2.0 / 16.0)


def test_two_worker_job_finishes_with_its_slower_worker(write_trace):
    # 2 workers of 640 samples: 320 each = 10 iterations, both placed at t=0 by least_loaded on 2 nodes
    trace = write_trace([(0, 0, "lenet5", 640, 1, 32, 2)])
    backend = ScriptedBackend(rate=5.0)
    r = emulate("local", "none", trace, local_nodes="nuc_i7x2", round_s=1.0, max_rounds=20, backend=backend)
    # "local" places one head task per round on edge 0: worker 0 at t=0 (done t=2), worker 1 at t=1 (done t=3)
    assert [(t, n) for t, n, _ in backend.launches] == [(0.0, 0), (1.0, 0)]
    assert r["mean_jct"] == pytest.approx(3.0)


def test_memory_over_budget_kills_the_newest_task(write_trace):
    # A: 20 iterations (4 s) from t=0; B: 10 iterations placed at t=1, 2, 3 on the same node. Each worker
    # holds 0.6 GB against a 1 GB budget: with A running, B is killed at the polls at t=2 and t=3
    # (1 s of work lost each); at t=4 A has finished, so B (launched t=3) survives and ends at t=5.
    trace = write_trace([(0, 0, "lenet5", 640, 1, 32, 1), (0, 0, "lenet5", 320, 1, 32, 1)])
    backend = ScriptedBackend(rate=5.0, rss=0.6e9)
    r = emulate("local", "none", trace, local_nodes="nuc_i7x2", round_s=1.0, max_rounds=20, backend=backend,
                memory_budget=1e9)
    assert r["oom_kills"] == 2
    assert r["work_lost_s"] == pytest.approx(2.0)
    assert r["jobs_completed"] == 2
    assert r["mean_jct"] == pytest.approx((4.0 + 5.0) / 2)
    assert backend.killed == [1, 1]  # the second trace job (task id 1) both times, never A


def test_dead_node_tasks_go_back_to_their_origin_and_finish(write_trace):
    # edge 1's job runs on edge 1 from t=0 (20 iterations, 4 s); edge 1 dies at t=2. Its task re-queues
    # keeping the 5 iterations of the last poll that saw the node alive (t=1); edge 1 is now masked, so
    # least_loaded sends it to edge 0: relaunched at t=2 for the 15 left (3 s) -> done at t=5.
    trace = write_trace([(0, 1, "lenet5", 640, 1, 32, 1)])
    backend = ScriptedBackend(rate=5.0, die=(1, 2.0))
    r = emulate("least_loaded", "none", trace, local_nodes="nuc_i7x2", round_s=1.0, max_rounds=20, backend=backend)
    assert r["nodes_lost"] == 1 and r["tasks_requeued"] == 1
    assert [(t, n) for t, n, _ in backend.launches] == [(0.0, 1), (2.0, 0)]
    assert r["jobs_completed"] == 1 and r["jobs_unfinished"] == 0
    assert r["mean_jct"] == pytest.approx(5.0)


def test_emulate_rejects_bad_input(write_trace):
    trace = write_trace([(0, 0, "lenet5", 32, 1, 32, 1)])
    with pytest.raises(ValueError, match="exactly one"):
        emulate("local", "none", trace, backend=ScriptedBackend())
    with pytest.raises(ValueError, match="round_s"):
        emulate("local", "none", trace, local_nodes="nuc_i7", round_s=0.0, backend=ScriptedBackend())
    with pytest.raises(ValueError, match="origin"):
        emulate("local", "none", write_trace([(0, 3, "lenet5", 32, 1, 32, 1)]), local_nodes="nuc_i7x2",
                backend=ScriptedBackend())


def test_cli_emulate_writes_the_evaluate_schema(tmp_path, write_trace, monkeypatch):
    import emulation.run as run_mod
    from srole_cli.main import main

    real = run_mod.emulate
    monkeypatch.setattr(run_mod, "emulate", lambda *a, **k: real(*a, **k, backend=ScriptedBackend()))
    trace = write_trace([(0, 0, "lenet5", 320, 1, 32, 1)])
    out = tmp_path / "emu.csv"
    assert main(["emulate", "--policy", "local", "--trace", trace, "--local-nodes", "nuc_i7x2",
                 "--round-s", "1", "--csv", str(out)]) == 0
    header, row = out.read_text().splitlines()[:2]
    cols = header.split(",")
    for key in ("policy", "shield", "mean_jct", "mean_jct_all", "collisions", "overloads", "oom_kills",
                "mean_decision_latency_s", "jobs_completed"):
        assert key in cols
    assert math.isclose(float(row.split(",")[cols.index("mean_jct")]), 2.0)
    assert main(["emulate", "--policy", "local", "--trace", trace, "--address", "1.2.3.4:6379"]) == 2


def test_speed_slowdowns_follow_per_core_speed():
    from emulation.nodes import speed_slowdowns, speed_unreachable

    pi, nuc = device_classes()["raspberry_pi4"], device_classes()["nuc_i7"]
    # Pi 4: 48 GFLOP/s x 0.15 / 4 cores = 1.8 GFLOP/s per core; a 7.2 GFLOP/s host worker sleeps 3/4 of the time.
    # NUC: 358.4 x 0.30 / 4 = 26.88 GFLOP/s per core, faster than the host: not slowed, reported.
    assert speed_slowdowns([pi, nuc], 7.2e9) == pytest.approx([4.0, 1.0])
    assert speed_unreachable([pi, nuc], 7.2e9) == ["nuc_i7"]
    with pytest.raises(ValueError):
        speed_slowdowns([pi], 0.0)


def test_worker_trains_and_refuses_a_speedup():
    pytest.importorskip("torch")
    from emulation.worker import train_worker

    seen = []
    train_worker("lenet5", 4, 3, seen.append, sync=lambda flat: flat * 0.5)
    assert seen == [1, 2, 3]
    with pytest.raises(ValueError, match="slowdown"):
        train_worker("lenet5", 4, 1, seen.append, slowdown=0.5)


def test_fixed_nodes_simulator_uses_the_given_host_class(tmp_path, write_trace):
    from emulation.compare import simulate
    from emulation.nodes import host_class
    from emulation.run import emulation_config

    # LeNet-5: 2,263,920 train FLOPs/sample (models.csv) x batch 32 = 72,445,440 FLOPs per iteration.
    # A host class of exactly that FLOP/s on 1 core runs 1 iteration/s: 320 samples = 10 iterations = 10 s,
    # plus the local decision latency (well under a second).
    host = host_class(72_445_440.0, 1, 2e9)
    trace = write_trace([(0, 0, "lenet5", 320, 1, 32, 1)])
    cfg = emulation_config([host, host], trace, round_s=1.0, max_rounds=50, compute_threshold=1.0)
    r = simulate("local", "none", cfg, [host, host])
    assert r["jobs_completed"] == 1
    assert 10.0 <= r["mean_jct"] < 10.5
    slow = host_class(72_445_440.0 / 2, 1, 2e9)  # half the speed: twice the time
    r2 = simulate("local", "none", cfg, [slow, slow])
    assert 20.0 <= r2["mean_jct"] < 20.5


def test_ranking_agreement_treats_near_ties_as_ties():
    from emulation.compare import ranking_agrees

    def rows(e, s):
        return [{"emulated_mean_jct": a, "simulated_mean_jct": b} for a, b in zip(e, s)]

    assert ranking_agrees(rows([10, 20, 30], [5, 6, 9]))
    assert not ranking_agrees(rows([10, 20], [6, 5]))
    assert ranking_agrees(rows([9.52, 9.47, 12.4], [7.8, 7.8, 8.4]))  # 9.52 vs 9.47 is a tie


def test_worker_duty_cycles_to_its_slowdown(monkeypatch):
    pytest.importorskip("torch")
    import emulation.worker as worker

    class Clock:  # each perf_counter() call advances 0.1 s: every iteration "takes" 0.1 s
        def __init__(self):
            self.t, self.slept = 0.0, []

        def perf_counter(self):
            self.t += 0.1
            return self.t

        def sleep(self, s):
            self.slept.append(s)

        def time(self):
            return self.t

    clock = Clock()
    monkeypatch.setattr(worker, "time", clock)
    worker.train_worker("lenet5", 2, 3, lambda i: None, slowdown=4.0)
    # an iteration of 0.1 s at slowdown 4 is followed by (4 - 1) x 0.1 = 0.3 s of sleep: 1/4 duty cycle
    assert clock.slept == pytest.approx([0.3, 0.3, 0.3])
