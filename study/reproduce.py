"""``reproduce(profile, out_dir)``: run every cell of a profile (``study.experiments.plan``, cached and in
parallel) and hand the rows to the profile's report (``study.analysis``): tables, figures and ``summary.md``.
The one place where the study's two rooms meet."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srole_common.persist import atomic_write
from srole_env import make_config
from study.analysis import (
    bootstrap_report,
    crossover_report,
    fair_report,
    optimality_report,
    paired_report,
    regime_report,
)
from study.experiments import profiles
from study.experiments.cell_cost import cell_cost
from study.experiments.cells import CellFailure, run_cells
from study.experiments.plan import build_cells, run_cell
from study.experiments.profiles import Profile, profile_to_dict
from study.experiments.runs import RunInfo, folder_use, record_run

REPORTS: dict[str, Callable[..., None]] = {
    "bootstrap": bootstrap_report.write_report,
    "paired": paired_report.write_report,
    "regime": regime_report.write_report,
    "crossover": crossover_report.write_report,
    "fair": fair_report.write_report,
    "optimality": optimality_report.write_report,
}
"""Report name (``Profile.report``) -> its ``write_report(profile, rows, curves, out, run)``: tables, figures and
``summary.md``."""
assert tuple(REPORTS) == profiles.REPORTS, "keep study.experiments.profiles.REPORTS in step with REPORTS"


def reproduce(profile: Profile, out_dir: str | Path, device: str = "auto", progress: bool = True,
              workers: int | None = 1, address: str | None = None, drop_models: bool = False,
              methods: tuple[str, ...] | None = None, cached_only: bool = False) -> Path:
    """Run every experiment of ``profile`` and write the tables, figures and ``summary.md`` into ``out_dir``.

    ``workers``/``address`` go to ``run_cells`` (``workers=None``: all cores; ``address``: a Ray cluster);
    ``drop_models`` deletes each trained model once its evaluations are done (the learning curves and
    results stay in the cache; a later rerun needing the model trains it again). ``methods``: compute only
    these; the other cells (the shield-overhead ones too) report what the cache holds and compute nothing, so no
    table whose rows are cached is dropped (a later full run computes the rest). ``cached_only``: compute
    nothing, report the cells the cache holds (a run cut short; the report says how many seeds each has).
    """
    out = Path(out_dir)
    if cached_only:
        check_cache_dir(out)  # nothing to report: refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with folder_use(out):
        return _reproduce(profile, out, device, progress, workers, address, drop_models, methods, cached_only)


def _reproduce(profile: Profile, out: Path, device: str, progress: bool, workers: int | None, address: str | None,
               drop_models: bool, methods: tuple[str, ...] | None, cached_only: bool) -> Path:
    atomic_write(out / "profile.json", json.dumps(profile_to_dict(profile), indent=2, default=str))
    start = time.perf_counter()
    cells = build_cells(profile, out, device, drop_models, methods)
    if methods is not None and not cached_only:  # the others from the cache: a partial run deletes no table
        cells = [c if c.kind == "method" and c.method.get("name") in methods else
                 dataclasses.replace(c, cached_only=True) for c in build_cells(profile, out, device, drop_models)]
    if cached_only:
        cells = [dataclasses.replace(c, cached_only=True) for c in cells]  # every kind: its tables stay
    results = run_cells(run_cell, cells, workers=1 if cached_only else workers, address=address,
                        desc=f"reproduce {profile.name}", progress=progress, weights=[cell_cost(c) for c in cells])
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    compute_s = 0.0
    for cell, result in zip(cells, results):
        if isinstance(result, CellFailure):
            failures.append(_cell_row(cell, result.error))
            continue
        rows += result["rows"]
        failures += result["failures"]
        for note in result.get("recomputed", []):  # a corrupt cache entry: recomputed, not a failure
            if cached_only:
                note = note.removesuffix("; recomputed") + "; left out (--cached-only computes nothing)"
            print(f"reproduce: {note}", file=sys.stderr)
        compute_s += result["train_wall_s"] + sum(float(r.get("wall_s", 0.0)) for r in result["rows"])
        if result["curves"]:
            trained = make_config(**cell.train_config)
            point = {"scenario": cell.train_config.get("scenario", "small"), "n_edges": trained.n_edges,
                     "arrival_rate": trained.arrival_rate}
            curves += [{"method": cell.method["name"], "seed": cell.seed, **point, **curve}
                       for curve in result["curves"]]
    not_run = missing_from_cache(profile, out, cells, results, rows) if cached_only else []
    wall_s = time.perf_counter() - start
    computed = sum(1 for r in results if not isinstance(r, CellFailure) and r.get("computed"))
    run = RunInfo(wall_s=wall_s, compute_s=compute_s, cells=len(cells), failures=failures, not_run=not_run,
                  workers=workers, drop_models=drop_models, computed=computed,
                  history=record_run(out, wall_s, computed, len(cells), workers))
    remove_stale_tables(profile, out, rows)
    REPORTS[profile.report_name](profile, rows, curves, out, run)
    return out


def check_cache_dir(out: Path) -> None:
    """``--cached-only`` on a folder with nothing to report: ``FileNotFoundError``/``ValueError`` naming what is
    missing (the folder, its ``cache/`` folder, the cached evaluations)."""
    cache = out / "cache"
    if not out.exists():
        raise FileNotFoundError(f"--cached-only: results folder {str(out)!r} does not exist; nothing to report "
                                "(run without --cached-only to compute the cells)")
    if not out.is_dir():
        raise ValueError(f"--cached-only: {str(out)!r} is a file, not a results folder")
    if not cache.exists():
        raise FileNotFoundError(f"--cached-only: {str(out)!r} has no cache folder {str(cache)!r}; nothing to report "
                                "(run without --cached-only to compute the cells)")
    if not cache.is_dir():
        raise ValueError(f"--cached-only: {str(cache)!r} is a file, not the cache folder; nothing to report")
    if not (cache / "evals").is_dir() or not any((cache / "evals").glob("*.json")):
        raise FileNotFoundError(f"--cached-only: the cache {str(cache)!r} holds no evaluations "
                                f"({str(cache / 'evals')!r} is missing or empty); nothing to report")


def _axis_order(value: Any) -> tuple[bool, Any]:
    """Numbers first, in numeric order, then anything else by its text."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (not number, value if number else str(value))


def _points_of(evals: Any) -> str:
    """The sweep points of a cell's evaluations in one line: each axis with its distinct values
    (``n_edges=200/2000; request_s=0/0.001``)."""
    axes: dict[str, set] = {}
    for spec in evals:
        for key, value in spec.point.items():
            axes.setdefault(key, set()).add(value)
    def text(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return "; ".join(f"{key}={'/'.join(text(v) for v in sorted(values, key=_axis_order))}"
                     for key, values in sorted(axes.items()))


def _cell_row(cell: Any, error: str) -> dict[str, Any]:
    """A failures/not-run row for a whole cell: its experiments, sweep points, method and seed, and ``error``."""
    return {"experiment": ", ".join(sorted({e.experiment for e in cell.evals})), "point": _points_of(cell.evals),
            "method": cell.method.get("name"), "seed": cell.seed, "error": error}


def missing_from_cache(profile: Profile, out: Path, cells: list[Any], results: list[Any],
                       rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``--cached-only``: one row per cell whose evaluations the cache lacks (``RunInfo.not_run``: the summary lists
    them as not run, apart from failures); ``ValueError`` when the cache holds none of the profile's evaluations."""
    if not rows:
        raise ValueError(f"--cached-only: the cache {str(out / 'cache')!r} holds none of the {len(cells)} cells of "
                         f"profile {profile.name!r} (their entries are missing or corrupt); nothing to report (run "
                         "without --cached-only to compute them)")
    missing = []
    for cell, result in zip(cells, results):
        got = 0 if isinstance(result, CellFailure) else len(result["rows"])
        if got < len(cell.evals) and not isinstance(result, CellFailure):
            missing.append(_cell_row(cell, f"{len(cell.evals) - got} of {len(cell.evals)} evaluations not in the "
                                           "cache (--cached-only computes nothing)"))
    if missing:
        print(f"reproduce --cached-only: {len(missing)} of {len(cells)} cells are not (wholly) in the cache; "
              "the report lists them as not run", file=sys.stderr)
    return missing


def remove_stale_tables(profile: Profile, out: Path, rows: list[dict[str, Any]]) -> None:
    """Remove an experiment's tables and figures left by an earlier run when this run has no row of it: the new
    summary says "No results", and an old ``<experiment>.csv`` beside it would read as current."""
    have = {r.get("experiment") for r in rows}
    names = {exp.name for exp in profile.experiments}
    for exp in profile.experiments:
        if exp.name in have:
            continue
        others = [n for n in names if n != exp.name and n.startswith(exp.name)]
        for path in [out / f"{exp.name}.csv", *out.glob(f"{exp.name}_*.csv"), *out.glob(f"{exp.name}_*.png")]:
            if path.is_file() and not any(path.name.startswith(o) for o in others):
                path.unlink()


def reproduce_stages(build: Callable[[tuple[int, ...]], Profile], stages: list[tuple[int, ...]], out: str | Path, *,
                     sizes: tuple[int, ...] | None = None, first: int | None = None, workers: int | None = 1,
                     methods: tuple[str, ...] | None = None, report_only: bool = False, label: str = "map") -> Path:
    """Run a map stage by stage into one results folder, resumably (``scripts/experiments/crossover_map.py`` and
    ``fair_map.py``): ``build(sizes)`` is the map's profile restricted to the cumulative ``stages[k]`` (or to exactly
    ``sizes``; ``first``: only the first K stages; ``report_only``: the last stage's report of what the cache holds,
    nothing computed). After each stage the trained models are slimmed to what evaluation needs
    (``study.experiments.crossover_profile.slim_models``), so the cache can be committed."""
    from study.experiments.crossover_profile import slim_models

    todo = [tuple(sizes)] if sizes else stages[:first]
    if report_only:
        todo = todo[-1:]
    for stage in todo:
        t0 = time.perf_counter()
        done = reproduce(build(stage), out, device="cpu", progress=False, workers=workers, methods=methods,
                         cached_only=report_only)
        freed = slim_models(done)
        print(f"{label}: stage N = {', '.join(map(str, stage))} done in {time.perf_counter() - t0:.0f} s "
              f"({freed / 2**20:.1f} MiB of replay buffers and logs removed from the cached models)", flush=True)
    return Path(out)

