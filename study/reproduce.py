"""``reproduce(profile, out_dir)``: run every cell of a profile (``study.experiments.plan``, cached and in
parallel) and hand the rows to the profile's report (``study.analysis``): tables, figures and ``summary.md``.
The one place where the study's two rooms meet."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from srole_common.persist import atomic_write
from srole_env import make_config
from study.analysis import decisive, report
from study.experiments.cells import CellFailure, run_cells
from study.experiments.plan import build_cells, run_cell
from study.experiments.profiles import Profile, profile_to_dict
from study.experiments.runs import RunInfo, record_run


def reproduce(profile: Profile, out_dir: str | Path, device: str = "auto", progress: bool = True,
              workers: int | None = 1, address: str | None = None, drop_models: bool = False,
              methods: tuple[str, ...] | None = None, cached_only: bool = False) -> Path:
    """Run every experiment of ``profile`` and write the tables, figures and ``summary.md`` into ``out_dir``.

    ``workers``/``address`` go to ``run_cells`` (``workers=None``: all cores; ``address``: a Ray cluster);
    ``drop_models`` deletes each trained model once its evaluations are done (the learning curves and
    results stay in the cache; a later rerun needing the model trains it again). ``methods``: run only
    these (the report covers what ran; a later full run takes them from the cache). ``cached_only``: compute
    nothing, report the cells the cache holds (a run cut short; the report says how many seeds each has).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "profile.json", json.dumps(profile_to_dict(profile), indent=2, default=str))
    start = time.perf_counter()
    cells = build_cells(profile, out, device, drop_models, methods)
    if cached_only:
        cells = [dataclasses.replace(c, cached_only=True) for c in cells if c.kind == "method"]
    results = run_cells(run_cell, cells, workers=1 if cached_only else workers, address=address,
                        desc=f"reproduce {profile.name}", progress=progress)
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    compute_s = 0.0
    for cell, result in zip(cells, results):
        if isinstance(result, CellFailure):
            failures.append({"experiment": ", ".join(sorted({e.experiment for e in cell.evals})), "point": "",
                             "method": cell.method.get("name"), "seed": cell.seed, "error": result.error})
            continue
        rows += result["rows"]
        failures += result["failures"]
        for note in result.get("recomputed", []):  # a corrupt cache entry: recomputed, not a failure
            print(f"reproduce: {note}", file=sys.stderr)
        compute_s += result["train_wall_s"] + sum(float(r.get("wall_s", 0.0)) for r in result["rows"])
        if result["curves"]:
            trained = make_config(**cell.train_config)
            point = {"scenario": cell.train_config.get("scenario", "small"), "n_edges": trained.n_edges,
                     "arrival_rate": trained.arrival_rate}
            curves += [{"method": cell.method["name"], "seed": cell.seed, **point, **curve}
                       for curve in result["curves"]]
    wall_s = time.perf_counter() - start
    computed = sum(1 for r in results if not isinstance(r, CellFailure) and r.get("computed"))
    run = RunInfo(wall_s=wall_s, compute_s=compute_s, cells=len(cells), failures=failures, workers=workers,
                         drop_models=drop_models, computed=computed,
                         history=record_run(out, wall_s, computed, len(cells), workers))
    if profile.report:
        importlib.import_module(f"study.analysis.{profile.report}").write_report(profile, rows, curves, out, run)
    elif profile.paired:
        decisive.write_report(profile, rows, curves, out, run)
    else:
        report.write_report(profile, rows, curves, out, run)
    return out
