"""Soak: step an env for many rounds through the fast path and print resident memory as it goes.

Two uses. Many short episodes (the default: the `paper` scenario, reset at its horizon) show that episode
memory stays flat across resets (tables are reused). One long episode (``--horizon`` as long as ``--rounds``)
shows that an env's memory tracks the jobs in the system: finished jobs leave the tables, and the episode's
ledger keeps 16 bytes per completed job (the default ``ledger="exact"``, for the exact ``p95_jct`` and
``job_times``) or a fixed-size sketch (``--ledger bounded``). Each line gives resident memory beside the jobs
arrived and rejected (``--max-jobs-per-edge``: admission control), the live jobs and tasks, what the tables hold
(array capacity), the ledger's record and the process's CPU seconds; the last line gives the growth of resident
memory and of the live jobs from round ``--baseline-at`` to the end. Where part of the cluster is offered more work
than its candidates can do (``scripts/experiments/local_capacity.py``), live work grows without admission control.

    python scripts/bench/soak_memory.py --rounds 1000000 --every 100000
    python scripts/bench/soak_memory.py --scenario small --n-edges 1000 --horizon 100000 --rounds 100000 \\
        --every 10000 --policy least_loaded --ledger bounded --max-jobs-per-edge 10   # N = 1,000, base load

Run it against another checkout (e.g. main's starting commit) with ``PYTHONPATH=/that/checkout``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import numpy as np

import srole_env


def rss_mib() -> float:
    """Current resident set size in MiB (from /proc, Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def held_mib(sim) -> tuple[float, float]:
    """MiB the simulator's task and job tables hold (their arrays' capacity) and its ledger's completed-job
    record (0 for a simulator without a ledger)."""
    tables = sum(a.nbytes for t in (sim.tasks, sim.jobs) for a in t.cols.values()) / 2**20
    ledger = getattr(sim, "ledger", None)
    if ledger is None:  # an older tree: completed jobs' JCTs in a list of per-round arrays
        held = getattr(sim, "_jcts", [])
        return tables, (sys.getsizeof(held) + sum(sys.getsizeof(a) for a in held)) / 2**20
    if hasattr(ledger, "held_bytes"):
        return tables, ledger.held_bytes() / 2**20
    return tables, sum(c.nbytes for col in (ledger.jcts, ledger.ids) for c in col.chunks) / 2**20


def live_work(sim) -> tuple[int, int]:
    """Jobs and tasks in the system (an older tree keeps completed jobs in its job table: they are not counted)."""
    return int((sim.jobs.tasks_left > 0).sum()), sim.tasks.size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="paper")
    parser.add_argument("--n-edges", type=int, default=None, help="override the scenario's N")
    parser.add_argument("--horizon", type=int, default=None, help="rounds per episode (default: the scenario's)")
    parser.add_argument("--policy", choices=("random", "least_loaded"), default="random",
                        help="random actions (overloads, OOM kills) or least-loaded play (a stable cluster)")
    parser.add_argument("--rounds", type=int, default=1_000_000, help="env steps (decision rounds) in all")
    parser.add_argument("--every", type=int, default=100_000, help="print memory every this many rounds")
    parser.add_argument("--baseline-at", type=int, default=10_000, help="growth is measured from this round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ledger", choices=("exact", "bounded"), default=None,
                        help="the config's ledger field (default: the tree's default; an older tree has none)")
    parser.add_argument("--arrival-rate", type=float, default=None, help="override the scenario's arrival rate")
    parser.add_argument("--max-jobs-per-edge", type=int, default=None,
                        help="the config's admission limit (default: none, every job admitted; an older tree has none)")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("n_edges", args.n_edges), ("horizon", args.horizon), ("ledger", args.ledger),
                                   ("arrival_rate", args.arrival_rate), ("max_jobs_per_edge", args.max_jobs_per_edge))
                 if v is not None}
    env = srole_env.parallel_env(args.scenario, **overrides)
    env.reset(seed=args.seed)
    sim = env.sim
    rng = np.random.default_rng(args.seed)
    policy = None
    if args.policy == "least_loaded":
        from agents.baselines.heuristics import make_heuristic

        policy = make_heuristic("least_loaded", seed=args.seed)
    obs, mask = sim.observe(), sim.action_mask()
    n, n_actions = env.config.n_edges, sim.n_actions
    start, episodes, base = time.perf_counter(), 0, None
    print(f"N = {n}, horizon {env.config.horizon}, {args.policy} play, ledger {getattr(env.config, 'ledger', '-')}, "
          f"max_jobs_per_edge {getattr(env.config, 'max_jobs_per_edge', '-')}; start rss {rss_mib():.1f} MiB")
    print(f"{'rounds':>10s} {'episodes':>9s} {'rss MiB':>8s} {'rounds/s':>9s} {'jobs arrived':>13s} {'rejected':>10s} "
          f"{'live jobs':>10s} {'live tasks':>11s} {'tables MiB':>11s} {'ledger MiB':>11s} {'py objects':>11s} "
          f"{'cpu s':>8s}")
    for step in range(1, args.rounds + 1):
        actions = rng.integers(n_actions, size=n) if policy is None else policy.act(obs, mask)
        obs, mask, _, _, truncated, _ = env.step_arrays(actions)
        if step == args.baseline_at:
            base, base_jobs = rss_mib(), live_work(sim)[0]
        if step % args.every == 0 or step == args.rounds:
            rate = step / (time.perf_counter() - start)
            totals = sim.ledger.totals if hasattr(sim, "ledger") else sim._totals  # this tree's or an older one's
            arrived, rejected = int(totals["jobs_arrived"]), int(totals.get("jobs_rejected", 0))
            tables, record = held_mib(sim)
            jobs, tasks = live_work(sim)
            print(f"{step:>10d} {episodes:>9d} {rss_mib():>8.1f} {rate:>9.0f} {arrived:>13,d} {rejected:>10,d} "
                  f"{jobs:>10,d} {tasks:>11,d} {tables:>11.1f} {record:>11.2f} {len(gc.get_objects()):>11,d} "
                  f"{time.process_time():>8.0f}", flush=True)
        if truncated and step < args.rounds:  # the last lines measure the episode that ran, not a fresh one
            env.reset()
            obs, mask = sim.observe(), sim.action_mask()
            episodes += 1
    if base is not None:
        end, end_jobs = rss_mib(), live_work(sim)[0]
        print(f"rss after round {args.baseline_at:,}: {base:.1f} MiB; at the end: {end:.1f} MiB; "
              f"growth {100.0 * (end - base) / base:+.1f}% (live jobs {base_jobs:,d} -> {end_jobs:,d})")


if __name__ == "__main__":
    main()
