"""The emulator's bookkeeping on a scripted backend (no Ray): JCTs, OOM kills, node loss, the CLI.

``ScriptedBackend`` is a virtual clock on which every launched worker does ``rate`` iterations per
second; expected values below are worked out by hand from the trace, the rate and ``round_s``.
"""

from __future__ import annotations

import json
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


def test_node_quotas_follow_per_core_speed():
    from emulation.nodes import node_quotas, speed_unreachable

    pi, nuc = device_classes()["raspberry_pi4"], device_classes()["nuc_i7"]
    # Pi 4: 48 GFLOP/s x 0.15 / 4 cores = 1.8 GFLOP/s per core; on a 7.2 GFLOP/s host worker each core is
    # a quarter of a host CPU: 4 cores -> 1 CPU. NUC: 26.88 GFLOP/s per core, faster than the host: its 4 cores
    # get 4 CPUs (full speed here) and it is reported.
    assert node_quotas([pi, nuc], 7.2e9) == pytest.approx([1.0, 4.0])
    assert speed_unreachable([pi, nuc], 7.2e9) == ["nuc_i7"]
    with pytest.raises(ValueError):
        node_quotas([pi], 0.0)


def test_cpu_quota_shares_the_node_among_its_workers():
    from emulation.nodes import CpuQuota

    # One worker alone on a 0.5-CPU node: an iteration of 0.1 CPU-s begun at t=0.9 may take 0.2 s of wall
    # time: it resumes at 1.1.
    q = CpuQuota(0.5)
    assert q.charge(0.1, 0.9) == pytest.approx(1.1)
    # Two workers computing side by side (each iteration 0.1 CPU-s) each wait for the other's share: over
    # many iterations the node delivers 0.5 CPU-s per wall second in total, 0.25 each.
    q = CpuQuota(0.5)
    resume = {0: 0.0, 1: 0.0}
    for _ in range(100):
        for w in (0, 1):
            resume[w] = q.charge(0.1, resume[w], worker=w)
    assert 200 * 0.1 / max(resume.values()) == pytest.approx(0.5, rel=0.02)
    # Idle time is not banked: after a pause the next iteration is charged from its own start.
    assert q.charge(0.1, 999.9) == pytest.approx(1000.1)
    q.reset()
    assert q.charge(0.1, 4.9) == pytest.approx(5.1)
    # Waiting for a busy host counts towards the period (as in CFS): an iteration of 0.1 CPU-s that took
    # 0.5 s of wall time from t=10 is owed only until 10.2, already past: no extra sleep.
    assert q.charge(0.1, 10.0, worker=7) == pytest.approx(10.2)
    with pytest.raises(ValueError):
        CpuQuota(0.0)


@pytest.mark.parametrize("workers, each", [(1, 0.5), (2, 0.5), (3, 1 / 3), (4, 0.25)])
def test_cpu_quota_caps_a_worker_at_one_core_and_the_node_at_its_cores(workers, each):
    from emulation.nodes import CpuQuota

    # a 2-core node limited to 1 CPU: one core is half a CPU; up to 2 workers each get a core's share, more
    # share the node's 1 CPU
    q = CpuQuota(1.0, cores=2)
    resume = dict.fromkeys(range(workers), 0.0)
    for _ in range(200):
        for w in range(workers):
            resume[w] = q.charge(0.01, resume[w], worker=w)
    rates = [200 * 0.01 / resume[w] for w in range(workers)]
    assert rates == pytest.approx([each] * workers, rel=0.03)


def test_worker_trains_and_reports_its_cpu_time():
    pytest.importorskip("torch")
    from emulation.worker import train_worker

    seen = []
    train_worker("lenet5", 4, 3, lambda i, c, t: seen.append((i, c)), sync=lambda flat: flat * 0.5)
    assert [i for i, _ in seen] == [1, 2, 3]
    assert all(c > 0 for _, c in seen)


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


def test_worker_sleeps_until_its_quota_says(monkeypatch):
    pytest.importorskip("torch")
    import emulation.worker as worker

    class Clock:  # wall time advances only by sleeping; thread_time advances 0.05 CPU-s a call
        def __init__(self):
            self.t, self.cpu, self.slept = 100.0, 0.0, []

        def thread_time(self):
            self.cpu += 0.05  # two calls per iteration: 0.1 CPU-s each
            return self.cpu

        def sleep(self, s):
            self.slept.append(s)
            self.t += s

        def time(self):
            return self.t

    clock = Clock()
    monkeypatch.setattr(worker, "time", clock)
    worker.train_worker("lenet5", 2, 3, lambda i, c, t: t + 3 * c)
    # report answers "resume 3 x the iteration's CPU time after it began": the worker sleeps exactly that
    assert clock.slept == pytest.approx([0.15, 0.15, 0.15])


def test_emulation_profile_nodes_fit_the_host_and_the_twin_is_their_class():
    import numpy as np

    from emulation.nodes import host_class
    from srole_env.core.simulator import ClusterSimulator
    from study.experiments.emulation_profile import EMULATION_PROFILES, node_cpus_per_core, twin_config

    prof = EMULATION_PROFILES["emulation"]  # 4 nodes x 2 cores, 60% of the host
    # 8 cores on 0.6 x 2 = 1.2 CPUs: each core is 0.15 of a host CPU; on a big host, one CPU per core
    assert node_cpus_per_core(prof, host_cpus=2) == pytest.approx(0.15)
    assert node_cpus_per_core(prof, host_cpus=64) == 1.0
    cls = host_class(2 * 2.5e9, 2, 4e9, name="quota_node")
    sim = ClusterSimulator(twin_config(prof, cls))
    sim.reset(np.random.default_rng(0))
    assert sim.topology.flops.tolist() == pytest.approx([5e9] * prof.nodes)
    assert sim.topology.cores.tolist() == [2.0] * prof.nodes


def test_emulation_profile_trace_is_the_twins_workload_and_depends_on_its_seed(tmp_path):
    import csv

    from emulation.nodes import host_class
    from study.experiments.emulation_profile import EMULATION_PROFILES, twin_config, write_trace

    prof = EMULATION_PROFILES["emulation"]
    cfg = twin_config(prof, host_class(5e9, 2, 4e9, name="quota_node"))
    a = list(csv.DictReader(write_trace(cfg, 1, 48.0, tmp_path / "a.csv").open()))
    b = list(csv.DictReader(write_trace(cfg, 1, 48.0, tmp_path / "b.csv").open()))
    c = list(csv.DictReader(write_trace(cfg, 2, 48.0, tmp_path / "c.csv").open()))
    assert a == b and a != c and len(a) > 0
    for row in a:
        assert 0 <= float(row["arrival_time_s"]) < 48.0 and 0 <= int(row["origin"]) < prof.nodes
        assert row["model"] == prof.model and int(row["batch_size"]) == prof.batch
        assert cfg.job_samples[0] <= int(row["samples"]) <= cfg.job_samples[1]
        assert prof.tasks_per_job[0] <= int(row["tasks"]) <= prof.tasks_per_job[1]


class ProfileBackend(ScriptedBackend):
    """A scripted backend that the profile can calibrate and share between methods (20 iterations/s per worker)."""

    def __init__(self, classes, **kwargs):
        super().__init__(rate=20.0)
        self.classes = classes

    def clear_tasks(self) -> None:
        self.running.clear()


def test_emulation_profile_writes_a_row_per_method_and_trace(tmp_path, monkeypatch):
    import csv

    import emulation.ray_backend
    from study.experiments.emulation_profile import EMULATION_PROFILES, reproduce_emulation

    monkeypatch.setattr(emulation.ray_backend, "RayBackend", ProfileBackend)
    prof = EMULATION_PROFILES["emulation-tiny"]
    out = reproduce_emulation(prof, tmp_path / "emu", progress=False, host_worker_flops=2e9)
    rows = list(csv.DictReader((out / "sim_vs_emulation.csv").open()))
    assert [r["method"] for r in rows] == list(prof.methods) * prof.traces
    # the twin's node class is the calibrated rate: 20 iterations/s per core of batch-32 LeNet-5
    info = json.loads((out / "emulation.json").read_text())
    assert info["node_core_gflops_calibrated"] == pytest.approx(20 * 32 * 2_263_920 / 1e9)
    for r in rows:
        e, s = float(r["emulated_mean_jct"]), float(r["simulated_mean_jct"])
        assert e > 0 and s > 0 and float(r["error"]) == pytest.approx((s - e) / e)
        assert r["emulated_jobs_completed"] == r["simulated_jobs_completed"]  # every trace job, both sides
    (done,) = (out / "cache" / "models").glob("SROLE-central-*/done.json")  # the trained policy ran
    summary = (out / "summary.md").read_text()
    assert "| SROLE-central |" in summary and "Same ranking" in summary
    # a rerun on the same host reuses the trained policy; another host speed (another twin) trains afresh
    stamp = done.stat().st_mtime_ns
    reproduce_emulation(prof, tmp_path / "emu", progress=False, host_worker_flops=2e9)
    assert done.stat().st_mtime_ns == stamp
    monkeypatch.setattr(ProfileBackend, "__init__", lambda self, classes, **kw: (
        ScriptedBackend.__init__(self, rate=10.0), setattr(self, "classes", classes)) and None)
    reproduce_emulation(prof, tmp_path / "emu", progress=False, host_worker_flops=2e9)
    assert len(list((out / "cache" / "models").glob("SROLE-central-*/done.json"))) == 2


def test_the_workers_networks_are_the_packages_and_the_profiler_uses_them():
    import importlib.util
    from pathlib import Path

    import emulation.models as models

    spec = models.get_spec("lenet5")
    net = spec.build(spec.num_classes)
    assert sum(p.numel() for p in net.parameters()) == 61_706 and spec.input_shape == (1, 28, 28)
    script = Path(__file__).resolve().parents[1] / "scripts" / "calibrate" / "profile_models.py"
    loader = importlib.util.spec_from_file_location("profile_models_for_test", script)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert module.get_spec is models.get_spec and module.MODELS is models.MODELS  # one definition, both users
