"""How the ``edge_cluster_v1`` task files were written: ``freeze(out_dir)`` resolves every spec to a full config.

Run once per suite version (``python -m study.benchmark.freeze --suite edge_cluster_v1 --out DIR``); the
committed files under ``study/benchmark/tasks/v1/`` are the tasks, not this module: rerunning it after a change
of a default would write different files, which is what a new suite version is for.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from srole_env import make_config

V1_SPECS: tuple[dict[str, Any], ...] = (
    {"name": "small_poisson", "description": "the small scenario, N=10, Poisson arrivals at 0.0075 jobs/s/edge, "
     "50 rounds", "scenario": "small", "overrides": {"n_edges": 10, "horizon": 50, "arrival_rate": 0.0075},
     "family": "poisson-0.0075", "workload": {"kind": "poisson"}, "seed": 50_000, "episodes": 10,
     "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "tiny6_optimum", "description": "N=6, Poisson jobs at 0.015 jobs/s/edge arriving in the first 10 "
     "rounds, then a 30-round drain: the task with the CP-SAT optimum", "scenario": "small",
     "overrides": {"n_edges": 6, "horizon": 40, "arrival_rate": 0.015}, "family": "poisson-0.015",
     "workload": {"kind": "poisson_window", "arrival_rounds": 10}, "seed": 57_000, "episodes": 5,
     "bounds": {"fluid_bound": True, "optimum": True, "optimum_time_limit_s": 20.0}},
    {"name": "paper20_poisson", "description": "the decisive cell: paper scenario at N=20, Poisson at 0.0075 "
     "jobs/s/edge (least_loaded utilisation ~0.2), 50 rounds", "scenario": "paper",
     "overrides": {"n_edges": 20, "horizon": 50, "arrival_rate": 0.0075}, "family": "poisson-0.0075",
     "workload": {"kind": "poisson"}, "seed": 51_000, "episodes": 10,
     "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "paper20_busy", "description": "paper scenario at N=20, Poisson at 0.015 jobs/s/edge (utilisation "
     "~0.5), 50 rounds", "scenario": "paper", "overrides": {"n_edges": 20, "horizon": 50, "arrival_rate": 0.015},
     "family": "poisson-0.015", "workload": {"kind": "poisson"}, "seed": 52_000, "episodes": 10,
     "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "paper50_poisson", "description": "the paper scenario's own size, N=50, Poisson at 0.0075 jobs/s/edge, "
     "50 rounds", "scenario": "paper", "overrides": {"n_edges": 50, "horizon": 50, "arrival_rate": 0.0075},
     "family": "poisson-0.0075", "workload": {"kind": "poisson"}, "seed": 53_000, "episodes": 5,
     "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "paper20_bursty", "description": "paper scenario at N=20, cluster-wide on-off bursts (4x the mean "
     "rate of 0.0075 for ~20 s, then ~60 s silent), 50 rounds", "scenario": "paper",
     "overrides": {"n_edges": 20, "horizon": 50, "arrival_rate": 0.0075}, "family": "poisson-0.0075",
     "workload": {"kind": "onoff", "burst_factor": 4.0, "mean_on_s": 20.0}, "seed": 54_000, "episodes": 10,
     "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "paper20_alibaba", "description": "paper scenario at N=20, jobs from the Alibaba GPU trace (2023): "
     "10 windows spread over its 149 days, scaled to 0.0075 jobs/s/edge, 50 rounds", "scenario": "paper",
     "overrides": {"n_edges": 20, "horizon": 50, "arrival_rate": 0.0075}, "family": "poisson-0.0075",
     "workload": {"kind": "pod_trace", "path": "alibaba-gpu-2023/openb_pod_list_default.csv",
                  "windows": [0, 12, 24, 36, 48, 59, 71, 83, 95, 107]},
     "seed": 55_000, "episodes": 10, "bounds": {"fluid_bound": True, "optimum": False}},
    {"name": "large1000_poisson", "description": "the large scenario, N=1000, Poisson at 0.0075 jobs/s/edge, "
     "20 rounds (short: CRL's head is slow to evaluate at this size)", "scenario": "large",
     "overrides": {"n_edges": 1000, "horizon": 20, "arrival_rate": 0.0075}, "family": "poisson-0.0075",
     "workload": {"kind": "poisson"}, "seed": 56_000, "episodes": 3,
     "bounds": {"fluid_bound": False, "optimum": False}},
)
"""The v1 tasks as written (scenario + overrides, resolved by ``freeze``)."""


def frozen(spec: dict[str, Any], suite: str) -> dict[str, Any]:
    """A task file's data: the spec with its full resolved config."""
    from srole_env.traces import PodTraceMapping

    config = make_config(spec["scenario"], **spec["overrides"]).to_dict()
    workload = dict(spec["workload"])
    if workload["kind"] == "pod_trace":
        from dataclasses import asdict

        workload["mapping"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(PodTraceMapping()).items()}
    return {"suite": suite, "name": spec["name"], "description": spec["description"], "family": spec["family"],
            "base_scenario": spec["scenario"], "config": config, "workload": workload, "seed": spec["seed"],
            "episodes": spec["episodes"], "shield": spec.get("shield", "none"), "bounds": spec["bounds"]}


def freeze(out_dir: str | Path, suite: str = "edge_cluster_v1") -> list[Path]:
    """Write one YAML per spec into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in V1_SPECS:
        path = out / f"{spec['name']}.yaml"
        header = (f"# {suite}/{spec['name']}: frozen benchmark task (study.benchmark.freeze). Do not edit: a change\n"
                  f"# that moves results is a new suite version.\n")
        # sort_keys=False: the order of device_mix is part of the task (it decides which device each edge draws)
        path.write_text(header + yaml.safe_dump(frozen(spec, suite), sort_keys=False))
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="edge_cluster_v1")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    for p in freeze(args.out, args.suite):
        print(p)
