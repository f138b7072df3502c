"""Can any play keep a drawn cluster's queues stable? A linear program over where each edge's work may run.

An edge's jobs run only on its candidates (itself and its nearest neighbours), so what bounds a cluster is not its
mean load but its busiest neighbourhood. Given the offered work per edge (``arrival_rate`` x the mean FLOPs of a
job, sampled from the workload's own generator), the LP routes each edge's work over its candidates to minimise the
busiest device's utilisation ``theta*`` (work rate / FLOP/s). ``theta* > 1`` means no placement rule at all keeps
every queue bounded: some devices would need more than their FLOP/s. Two capacities: the whole device (every core
at full speed, any number of workers: a generous bound) and the slots the action mask allows
(``floor(compute_threshold x cores)`` workers of a CPU device). The printout ends with a certificate: the edges
whose candidates all lie among the devices overloaded in the optimal routing, their offered work and those
devices' whole capacity.

    python scripts/experiments/local_capacity.py --n-edges 1000 --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

import srole_env


def mean_job_flops(sim, rng: np.random.Generator, window_s: float) -> float:
    """Mean training FLOPs of a job drawn by ``sim``'s workload (its tasks' iterations x FLOPs per iteration)."""
    b = sim.workload.jobs_between(0.0, window_s, rng)
    k = b.n_tasks
    job = np.repeat(np.arange(len(b)), k)
    worker = np.arange(len(job)) - np.repeat(np.cumsum(k) - k, k)
    shard = np.maximum(b.samples[job] // k[job] + (worker < b.samples[job] % k[job]), 1)
    iters = np.ceil(shard / b.batch[job]) * b.epochs[job]
    work = iters * np.minimum(b.batch[job], shard) * sim._m_flops[b.model[job]]
    return float(work.sum() / len(b))


def min_max_utilisation(candidates: np.ndarray, demand: float, capacity: np.ndarray) -> tuple[float, np.ndarray]:
    """``theta*`` and each device's utilisation [N] in a routing that reaches it (every edge offers ``demand``)."""
    n, c = candidates.shape
    nv = n * c + 1
    cols = np.arange(n * c)
    a_eq = coo_matrix((np.ones(n * c), (np.repeat(np.arange(n), c), cols)), shape=(n, nv))
    target = candidates.reshape(-1)
    a_ub = coo_matrix((np.concatenate([np.full(n * c, demand), -capacity]),
                       (np.concatenate([target, np.arange(n)]), np.concatenate([cols, np.full(n, nv - 1)]))),
                      shape=(n, nv))
    cost = np.zeros(nv)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub.tocsr(), b_ub=np.zeros(n), A_eq=a_eq.tocsr(), b_eq=np.ones(n), bounds=(0, None),
                  method="highs")
    if not res.success:
        raise RuntimeError(f"linprog failed: {res.message}")
    share = res.x[:-1]
    return float(res.x[-1]), np.bincount(target, weights=demand * share, minlength=n) / capacity


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--n-edges", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the env's reset seed (its layout)")
    parser.add_argument("--arrival-rate", type=float, default=None)
    args = parser.parse_args(argv)
    overrides = {"n_edges": args.n_edges, "horizon": 10}
    if args.arrival_rate is not None:
        overrides["arrival_rate"] = args.arrival_rate
    env = srole_env.parallel_env(args.scenario, **overrides)
    env.reset(seed=args.seed)
    sim, cfg = env.sim, env.config
    topo = sim.topology
    demand = cfg.arrival_rate * mean_job_flops(sim, np.random.default_rng(123), 20_000.0 * 1000 / args.n_edges)
    whole = topo.flops
    slots = np.where(topo.gpu, topo.flops,
                     topo.flops * np.minimum(np.floor(cfg.compute_threshold * topo.cores), topo.cores) / topo.cores)
    names = np.array(topo.device_names)[topo.device_index]
    print(f"{args.scenario}, N = {args.n_edges}, seed {args.seed}: offered {demand:.3e} FLOP/s per edge, mean capacity "
          f"{whole.mean():.3e} (whole devices): mean load {demand / whole.mean():.3f}")
    for label, capacity in (("whole devices", whole), ("mask's slots", slots)):
        theta, util = min_max_utilisation(topo.candidates, demand, capacity)
        print(f"  [{label}] theta* = {theta:.3f}; devices over 1 in that routing: {int((util > 1 + 1e-9).sum())}")
    over = util > 1 + 1e-9  # the mask's slots: what a play within the mask can use
    trapped = np.flatnonzero(over[topo.candidates].all(axis=1))
    if len(trapped):
        used = np.unique(topo.candidates[trapped])
        kinds = {str(k): int(v) for k, v in zip(*np.unique(names[used], return_counts=True))}
        print(f"  certificate: edges {trapped.tolist()} have every candidate among {len(used)} devices {kinds}; "
              f"offered {len(trapped) * demand:.3e} FLOP/s against {whole[used].sum():.3e} FLOP/s at full speed "
              f"(x{len(trapped) * demand / whole[used].sum():.2f})")


if __name__ == "__main__":
    main()
