"""Real emulation on a local 3-node Ray cluster with tiny LeNet-5 jobs (skipped without ray).

Each test starts its own cluster (~15-25 s on a loaded 2-core machine). Wall time is not asserted: speed goals live in
benchmarks, and a loaded CI machine is no measure of speed. Deselect with ``-m "not emulation"``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("ray")
pytest.importorskip("torch")

from emulation.run import emulate  # noqa: E402

pytestmark = pytest.mark.emulation


def test_three_node_emulation_runs_real_jobs_to_completion(write_trace):
    # 4 jobs, 5 workers: a 2-worker job (parameters averaged every iteration) and three 1-worker jobs
    trace = write_trace([
        (0, 0, "lenet5", 1280, 1, 32, 2),
        (0, 1, "lenet5", 640, 1, 32, 1),
        (1, 2, "lenet5", 640, 1, 32, 1),
        (2, 0, "lenet5", 640, 1, 32, 1),
    ])
    # rounds are wall-clock seconds of real training: the cap is generous (the run stops once the trace is done), so
    # a busy host slows the run down instead of cutting it short
    r = emulate("least_loaded", "central", trace, local_nodes="raspberry_pi4x3", round_s=1.0, max_rounds=600)
    assert r["jobs_arrived"] == 4 and r["jobs_completed"] == 4 and r["jobs_unfinished"] == 0
    assert r["tasks_placed"] == 5
    assert r["nodes_lost"] == 0 and r["worker_failures"] == 0
    # every job needs at least one round to be placed and run: JCTs are positive and within the run
    assert 0 < r["mean_jct"] <= r["sim_time_s"]
    assert r["mean_decision_latency_s"] > 0
    assert 0 < r["measured_cpu_utilization"] <= 1  # workers really burnt CPU, within the nodes' cores


def test_node_death_requeues_its_tasks_and_the_run_completes(write_trace):
    # edge 1's long job (600 iterations, ~5 s on an idle core) starts on edge 1 in round 1; edge 1 is
    # killed at the start of round 3 (t = 2 s). Its task must go back to edge 1's queue and finish
    # elsewhere; every job completes.
    trace = write_trace([
        (0, 1, "lenet5", 19200, 1, 32, 1),
        (0, 0, "lenet5", 320, 1, 32, 1),
        (0, 2, "lenet5", 320, 1, 32, 1),
    ])
    r = emulate("least_loaded", "none", trace, local_nodes="nuc_i7x3", round_s=1.0, max_rounds=600,
                kill_node=(1, 2))  # a generous cap (it stops once the trace is done): a busy host slows, never cuts
    assert r["nodes_lost"] == 1
    assert r["tasks_requeued"] >= 1  # only the dead node can have re-queued it:
    assert r["oom_kills"] == 0 and r["placement_failures"] == 0 and r["worker_failures"] == 0
    assert r["jobs_completed"] == 3 and r["jobs_unfinished"] == 0


def _poll_until(backend, ready, deadline: float) -> dict[int, tuple[float, float]]:
    """Poll the backend's tasks each 0.2 s until ``ready(state)`` (state: tid -> (iterations, CPU s)); fail at the
    deadline."""
    while True:
        state = {t: (st.iters_done, st.cpu_s) for t, st in backend.poll().items()}
        if len(state) == 2 and ready(state):
            return state
        assert backend.now() < deadline, f"workers never reached the state asked for: {state}"
        backend.sleep_until(backend.now() + 0.2)


def test_cpu_quota_slows_a_node_to_its_share():
    # Two nodes on this host, one limited to 1 CPU, the other to a quarter of one (as docker --cpus). The same
    # single-worker LeNet-5 job (batch 256: ~30 ms of compute an iteration) runs on both: over a window
    # after start-up, the quarter-CPU node does about a quarter of the iterations.
    from emulation.cluster import TaskWork
    from emulation.nodes import host_class
    from emulation.ray_backend import RayBackend

    cls = host_class(1e10, 1, 2e9)
    with RayBackend([cls, cls], quotas=[1.0, 0.25]) as backend:
        for node in (0, 1):
            backend.launch(node, TaskWork(tid=node, job=node, n_tasks=1, model="lenet5", batch=256, iters=10**6))
        # Signals, not fixed waits (a busy host starts workers late and gives the throttled one little): the window
        # opens once both workers report an iteration, and closes after at least 5 s once the throttled worker has
        # done a few more; a generous deadline only bounds a host that never runs them.
        deadline = backend.now() + 300.0
        first = _poll_until(backend, lambda s: all(s[t][0] >= 1 for t in (0, 1)), deadline)
        start = backend.now()
        last = _poll_until(backend, lambda s: backend.now() - start >= 5.0 and s[1][0] - first[1][0] >= 3, deadline)
        window = backend.now() - start
    iters = {t: last[t][0] - first[t][0] for t in (0, 1)}
    cpu = {t: last[t][1] - first[t][1] for t in (0, 1)}
    assert iters[1] >= 3
    # The quota caps the CPU the throttled worker's iterations use at a quarter of a CPU; the process also spends
    # CPU the quota does not charge (its synchronous report each iteration, Ray's threads): on a fast host it stays
    # under 0.35 of a CPU, on a host half as fast 0.36-0.39 was measured (2026-12-02), so the bound asserted is
    # "well under half a CPU". The full-quota worker gets what the host has left: most of a CPU on an idle host (a
    # ratio near 4; not exactly 4: each iteration's report is a synchronous call the full-CPU worker waits for, and
    # a duty-cycled worker's iterations cost it more CPU), less on a host busy with other work, so only "clearly
    # more" is asserted for it. Without the quota both would get the same share (ratio 1).
    assert cpu[1] < 0.45 * window
    if cpu[0] < 0.6 * window:  # the host gave the full-quota worker too little to compare: other work took the CPU
        pytest.skip(f"host too busy to compare the quotas: the 1-CPU worker got {cpu[0] / window:.2f} of a CPU")
    assert 1.5 * cpu[1] < cpu[0]
    assert 1.5 < iters[0] / iters[1] < 7.0
