"""The optimality study's profiles: how far from optimal is every method, on small instances where the offline
optimum can be solved; ``study.analysis.optimality_report`` reads the rows.

**Instances** (``references.optimal.instance_config``): N edges, Poisson jobs arriving in the first
``arrival_rounds`` rounds written as a trace (under the results folder's ``cache/traces``), then a drain with no
arrivals so that every method can finish. Every instance of one N shares its cluster layout (``TOPOLOGY_SEED``) and
differs in its jobs.

**Methods**, each a roster method run by the study's cells on exactly that episode (evaluation seed 0):

1. ``optimal``: the offline optimum of the contention-free schedule class (``references.optimal``; the class and its
   restrictions are in that module's docstring), solved by CP-SAT within the profile's time limit and replayed
   through the parallel env; ``optimal-longer`` solves it again with ``time_limit_factor`` times the limit (the
   report's time-limit check: how much the best found schedule still moves);
2. ``fluid-lp-bound`` (the fluid LP lower bound for every schedule, ``references.fluid_bound``) and ``lower-bound`` (the
   old bound: every job alone on its fastest candidates);
3. every method of ``study.experiments.profiles.OPTIMALITY``: the heuristics, the greedy reference, the CRL head rule
   and the learned methods, each trained with the committed tuned hyperparameters of ``TUNED_SCENARIO`` for
   ``rounds`` rounds on the instances' cluster, once per (N, method) (training seed ``TRAIN_SEED_BASE + N``; training
   sees Poisson arrivals at the instance rate, never the instances' traces, over ``TRAIN_HORIZON``-round episodes).

Everything is cached per (instance, method) in the results folder's ``cache/`` like every profile's cells, so a rerun
only does what is missing and ``srole reproduce --profile optimality --cached-only`` rebuilds the tables in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.experiments.profiles import OPTIMALITY, Experiment, Profile
from study.experiments.roster import METHODS, OFFLINE

INSTANCES = ((10, 0.015, 1), (10, 0.015, 2), (10, 0.015, 3), (20, 0.012, 1), (20, 0.012, 2), (20, 0.012, 3))
"""(n_edges, arrival_rate per edge per second, trace seed): about 30 jobs on 10 edges, 50 on 20."""
TOPOLOGY_SEED = {10: 101, 20: 102, 6: 106}
"""One cluster layout per N: the instances of an N differ in their jobs, so one training per (N, method) serves
all of them."""
TUNED_SCENARIO = "paper"
TRAIN_HORIZON = 50
TRAIN_SEED_BASE = 7000
EVAL_SEED = 0
"""Every method meets each instance's episode with this seed (its jobs are the trace's)."""


@dataclass(frozen=True)
class OptimalitySpec:
    """The instances, solver and budgets of one optimality profile."""

    instances: tuple[tuple[int, float, int], ...] = INSTANCES
    time_limit_s: float = 40.0
    workers: int = 2
    max_options: int = 24
    rounds: int = 2000
    arrival_rounds: int = 20
    drain_rounds: int = 200
    methods: tuple[str, ...] = OPTIMALITY

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError("optimality: at least one instance is needed")
        unknown = sorted({n for n, _, _ in self.instances} - set(TOPOLOGY_SEED))
        if unknown:
            raise ValueError(f"optimality: no cluster layout (TOPOLOGY_SEED) for N = {unknown}")
        for name, value in (("time_limit_s", self.time_limit_s), ("workers", self.workers),
                            ("max_options", self.max_options), ("rounds", self.rounds),
                            ("arrival_rounds", self.arrival_rounds), ("drain_rounds", self.drain_rounds)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"optimality: {name} must be positive, got {value!r}")


OPTIMALITY_PROFILES = ("optimality", "optimality-tiny")


def optimality_spec(name: str = "optimality") -> OptimalitySpec:
    """The ``optimality`` study (about 4 h on 2 shared cores, mostly training) or ``optimality-tiny`` (tests)."""
    if name == "optimality":
        return OptimalitySpec()
    if name == "optimality-tiny":
        return OptimalitySpec(instances=((6, 0.02, 1), (6, 0.02, 2)), time_limit_s=2.0, workers=1, max_options=6,
                              rounds=20, arrival_rounds=6, drain_rounds=60,
                              methods=("MARL", "CRL-greedy", "least_loaded", "random", "greedy-reference"))
    raise ValueError(f"profile: unknown optimality profile {name!r}; choose one of {list(OPTIMALITY_PROFILES)}")


def instance_name(n_edges: int, rate: float, seed: int) -> str:
    """An instance's name (its trace file's stem), e.g. ``N10-r0.015-s1``."""
    return f"N{n_edges}-r{rate:g}-s{seed}"


def instance_configs(spec: OptimalitySpec, out: str | Path) -> dict[str, Any]:
    """Instance name -> its ``ClusterConfig``; writes each trace under ``out/cache/traces`` (the same file for the
    same instance: the traces are drawn from their seeds)."""
    from references.optimal import instance_config

    traces = Path(out) / "cache" / "traces"
    return {instance_name(n, rate, seed): instance_config(
        traces / f"{instance_name(n, rate, seed)}.csv", n_edges=n, arrival_rounds=spec.arrival_rounds,
        drain_rounds=spec.drain_rounds, arrival_rate=rate, seed=seed, topology_seed=TOPOLOGY_SEED[n])
        for n, rate, seed in spec.instances}


def experiments(spec: OptimalitySpec, out: str | Path) -> tuple[Experiment, ...]:
    """One grid experiment per N: the learned methods train on the instances' cluster with Poisson arrivals (horizon
    ``TRAIN_HORIZON``), and every method runs on each instance's episode."""
    configs = instance_configs(spec, out)
    exps = []
    for n in dict.fromkeys(n for n, _, _ in spec.instances):
        mine = [(name, cfg) for (name, cfg), (m, _, _) in zip(configs.items(), spec.instances) if m == n]
        cfg = mine[0][1]
        train = {"n_edges": n, "arrival_rate": cfg.arrival_rate, "topology_seed": cfg.topology_seed,
                 "horizon": TRAIN_HORIZON}
        evals = tuple({"trace_path": c.trace_path, "horizon": c.horizon, "arrival_rate": c.arrival_rate}
                      for _, c in mine)
        exps.append(Experiment(f"N{n}", {"scenario": "small"}, kind="grid", grid=(train,), eval_grid=evals,
                               methods=(*OFFLINE, "lower-bound", *spec.methods), seeds=(TRAIN_SEED_BASE + n,),
                               episodes=1, eval_seed=EVAL_SEED))
    return tuple(exps)


def optimality_profile(name: str = "optimality", out: str | Path = "docs/results/optimality",
                       **overrides: Any) -> Profile:
    """The ``optimality`` profile or ``optimality-tiny``, its traces written under ``out`` (the results folder);
    ``overrides``: ``OptimalitySpec`` fields (``time_limit_s``, ``rounds``, ``instances``, ...)."""
    from dataclasses import replace

    from study.experiments.tuning import load_tuned

    spec = replace(optimality_spec(name), **overrides)
    for m in spec.methods:
        method = METHODS[m]
        if method.learned and load_tuned(method.tune_as or method.name, TUNED_SCENARIO) is None:
            raise ValueError(f"optimality: no tuned hyperparameters for {m} in study/experiments/tuned/"
                             f"{TUNED_SCENARIO}")
    return Profile(name, rounds=spec.rounds, seeds=(TRAIN_SEED_BASE,), eval_episodes=1, eval_every=None,
                   curve_seeds=(), report="optimality", tuned_scenario=TUNED_SCENARIO,
                   settings={"solver": {"time_limit_s": spec.time_limit_s, "num_workers": spec.workers,
                                        "max_options": spec.max_options},
                             "arrival_rounds": spec.arrival_rounds, "drain_rounds": spec.drain_rounds,
                             "methods": list(spec.methods)},
                   experiments=experiments(spec, out))
