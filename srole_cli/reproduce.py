"""Reproduce the paper's comparison: train/evaluate every method of every experiment cell, cached.

``reproduce(profile, out_dir)`` writes into ``out_dir``: ``profile.json``, one ``<experiment>.csv`` per
experiment (a row per cell x method x seed) and ``<experiment>_summary.csv`` (means and 95% CIs),
PNG plots, and ``summary.md``. Trained models live in ``out_dir/cache/models/<key>`` and evaluation
results in ``out_dir/cache/evals/<key>.json``, keyed by everything that determines them, so a rerun of a
finished cell costs nothing and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from srole_cli import report
from srole_cli.cells import CellFailure, run_cells
from srole_cli.experiments import Method, Profile, profile_to_dict
from srole_env import make_config

EVAL_SEED_OFFSET = 10_000
"""Evaluation episodes use seeds ``EVAL_SEED_OFFSET + 100 * seed + e``, disjoint from training seeds."""


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _method_key(profile: Profile, method: Method, cfg: dict[str, Any], seed: int) -> str:
    """Cache key of ``method``'s evaluation on the resolved config ``cfg`` for training seed ``seed``."""
    return _key(method.kind, method.algo, method.policy, method.shield, cfg, seed, profile.eval_episodes,
                profile.timesteps if method.kind == "learned" else None, profile.hparams.get(method.algo or "", {}))


def _write_json(path: Path, row: dict[str, Any]) -> None:
    """Write ``row`` atomically (a cell killed half-way by Ctrl-C leaves no partial cache file)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(row))
    os.replace(tmp, path)


class Runner:
    """Runs cells with a model and result cache under ``out_dir/cache``."""

    def __init__(self, profile: Profile, out_dir: Path, device: str = "auto"):
        self.profile = profile
        self.out = out_dir
        self.device = device
        self.models = out_dir / "cache" / "models"
        self.evals = out_dir / "cache" / "evals"
        self.models.mkdir(parents=True, exist_ok=True)
        self.evals.mkdir(parents=True, exist_ok=True)

    def method_row(self, method: Method, cell: dict[str, Any], seed: int) -> dict[str, Any]:
        """Mean metrics of ``method`` on ``cell`` for training seed ``seed`` (cached)."""
        p = self.profile
        cfg = make_config(**cell).to_dict()  # validates the cell; the key covers every resolved field
        eval_seed = EVAL_SEED_OFFSET + 100 * seed
        hparams = p.hparams.get(method.algo or "", {})
        key = _method_key(p, method, cfg, seed)
        cached = self.evals / f"{key}.json"
        if cached.exists():
            return json.loads(cached.read_text())
        start = time.perf_counter()
        if method.kind == "oracle":
            metrics = self._oracle(cfg, eval_seed)
        else:
            from agents.evaluate import evaluate

            policy: Any = method.policy
            if method.kind == "learned":
                policy = self._trained(method, cfg, seed, hparams)
            result = evaluate(policy, method.shield, cfg, p.eval_episodes, eval_seed, self.device)
            metrics = {k: v for k, v in result.items() if isinstance(v, (int, float)) and k not in ("seed", "episodes")}
        row = {"method": method.name, "seed": seed, **metrics, "wall_s": time.perf_counter() - start}
        _write_json(cached, row)
        return row

    def _trained(self, method: Method, cfg: dict[str, Any], seed: int, hparams: dict[str, Any]) -> Path:
        from agents.train import train

        run_dir = self.models / _key(method.algo, method.shield, cfg, seed, self.profile.timesteps, hparams)
        if (run_dir / "DONE").exists():
            return run_dir
        if run_dir.exists():  # an interrupted training run: start it again
            shutil.rmtree(run_dir)
        train(method.algo, method.shield, cfg, self.profile.timesteps, seed, run_dir, self.device,
              hparams=hparams or None, progress=False)
        (run_dir / "DONE").write_text("")
        return run_dir

    def _oracle(self, cfg: dict[str, Any], eval_seed: int) -> dict[str, float]:
        from agents.evaluate import summarize
        from agents.oracle import run_oracle_episode
        from srole_env.core.simulator import ClusterSimulator

        sim = ClusterSimulator(make_config(**cfg))
        rows = [run_oracle_episode(sim, seeding.np_random(eval_seed + e)[0]) for e in range(self.profile.eval_episodes)]
        return summarize(rows)

    def overhead_row(self, shield: str, regions: int, cell: dict[str, Any], seed: int) -> dict[str, Any]:
        """Least-loaded play behind ``shield``: mean simulated decision latency and messages per round."""
        cfg = make_config(**cell)
        key = _key("overhead", shield, regions, cfg.to_dict(), seed, self.profile.eval_episodes)
        cached = self.evals / f"{key}.json"
        if cached.exists():
            return json.loads(cached.read_text())
        import srole_env
        from agents.heuristics import make_heuristic
        from shields import make_shield

        kwargs = {"regions": regions} if shield == "decentralized" else {}
        env = make_shield(srole_env.parallel_env(cfg), shield, **kwargs)
        latency, messages, rounds, wall = [], 0, 0, 0.0
        for e in range(self.profile.eval_episodes):
            env.reset(seed=EVAL_SEED_OFFSET + 100 * seed + e)
            policy = make_heuristic("least_loaded", seed)
            sim = env.unwrapped.sim
            obs, mask, done = sim.observe(), sim.action_mask(), False
            while not done:
                prefs = policy.preferences(obs, mask)
                obs, mask, _, _, done, _ = env.step_arrays(np.argmax(prefs, axis=1), prefs)
                rep = env.last_report
                if rep["decision_latency_s"] > 0:
                    latency.append(rep["decision_latency_s"])
                messages += rep["messages"]
                wall += rep["decision_time_s"]
                rounds += 1
        row = {
            "method": f"{shield} shield" + (f" ({regions} regions)" if shield == "decentralized" else ""),
            "shield": shield, "regions": regions if shield == "decentralized" else 1, "seed": seed,
            "decision_latency_s": float(np.mean(latency)) if latency else 0.0,
            "messages_per_round": messages / rounds, "shield_wall_ms_per_round": 1e3 * wall / rounds,
        }
        _write_json(cached, row)
        return row


@dataclass(frozen=True)
class Cell:
    """One unit of the comparison, run by ``run_cell`` in any process: a method (or, for a shield-overhead
    experiment, a shield with its region count) on one cluster config for one seed."""

    profile: Profile
    out: str
    device: str
    experiment: str
    cell: dict[str, Any]
    seed: int
    method: str | None = None
    shield: str | None = None
    regions: int = 1

    def label(self) -> str:
        """A one-line name of the cell, for error messages."""
        what = self.method if self.shield is None else f"{self.shield} shield ({self.regions} regions)"
        return f"{self.experiment} {self.cell} {what} seed {self.seed}"

    def key(self) -> str:
        """The cache key of this cell's result: equal keys mean the same work (and the same cache files)."""
        cfg = make_config(**self.cell).to_dict()
        if self.shield is not None:
            return _key("overhead", self.shield, self.regions, cfg, self.seed, self.profile.eval_episodes)
        return _method_key(self.profile, self.profile.methods()[self.method], cfg, self.seed)


def run_cell(c: Cell) -> dict[str, Any]:
    """The row of one cell (cached under ``c.out``); a top-level function, so it runs in worker processes."""
    runner = Runner(c.profile, Path(c.out), c.device)
    if c.shield is not None:
        return runner.overhead_row(c.shield, c.regions, c.cell, c.seed)
    return runner.method_row(c.profile.methods()[c.method], c.cell, c.seed)


def plan_cells(profile: Profile, out: Path, device: str) -> list[Cell]:
    """Every (experiment cell, method or shield, seed) of ``profile``, in the order of the tables."""
    methods = profile.methods()
    cells = []
    for exp in profile.experiments:
        for cell in exp.cells():
            for seed in profile.seeds:
                if exp.kind == "shield_overhead":
                    jobs = [("central", 1)] + [("decentralized", r) for r in exp.regions
                                               if r <= cell.get("n_edges", 10)]
                    cells += [Cell(profile, str(out), device, exp.name, cell, seed, shield=shield, regions=regions)
                              for shield, regions in jobs]
                    continue
                for name in exp.methods:
                    if name not in methods:
                        raise ValueError(f"experiment {exp.name}: unknown method {name!r}; known: {list(methods)}")
                    cells.append(Cell(profile, str(out), device, exp.name, cell, seed, method=name))
    return cells


def reproduce(profile: Profile, out_dir: str | Path, device: str = "auto", progress: bool = True,
              workers: int | None = 1, address: str | None = None) -> Path:
    """Run every experiment of ``profile`` and write the CSVs, plots and ``summary.md`` into ``out_dir``.

    The cells run through ``srole_cli.cells.run_cells`` (``workers`` processes, or the Ray cluster at
    ``address``); identical cells (the same cache key, e.g. a sweep point equal to the base config) run
    once. If any cell fails, the others still finish (and are cached), their tracebacks go to
    ``out_dir/failures.log``, and a RuntimeError names them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(profile_to_dict(profile), indent=2))
    Runner(profile, out, device)  # creates the cache directories before workers write into them
    cells = plan_cells(profile, out.resolve(), device)  # absolute: workers may run in another directory
    keys = [c.key() for c in cells]
    unique: dict[str, Cell] = {}
    for k, c in zip(keys, cells):
        unique.setdefault(k, c)
    start = time.perf_counter()
    done = dict(zip(unique, run_cells(run_cell, list(unique.values()), workers=workers, address=address,
                                      desc=f"reproduce {profile.name}", progress=progress)))
    failures = [r for r in done.values() if isinstance(r, CellFailure)]
    log = out / "failures.log"
    log.unlink(missing_ok=True)
    if failures:
        log.write_text("\n".join(f"{f.cell.label()}\n{f.traceback}" for f in failures))
        raise RuntimeError(f"{len(failures)} of {len(unique)} cells failed (tracebacks in {log}); the first: "
                           f"{failures[0].cell.label()}: {failures[0].error}")
    results: dict[str, list[dict[str, Any]]] = {exp.name: [] for exp in profile.experiments}
    sweeps = {exp.name: exp.sweep for exp in profile.experiments}
    for c, k in zip(cells, keys):
        sweep = sweeps[c.experiment]
        results[c.experiment].append({**({sweep: c.cell[sweep]} if sweep else {}), **done[k]})
    for name, rows in results.items():
        report.write_rows(out / f"{name}.csv", rows)
    report.write_report(profile, results, out, time.perf_counter() - start)
    return out
