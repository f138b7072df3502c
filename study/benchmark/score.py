"""``score(policy, task)``: run a scheduler on a benchmark task and write its score card (JSON and CSV).

The card holds, for the task's evaluation episodes: every metric (``runner.METRICS``) per episode and its mean
with a 95% BCa bootstrap interval over the episodes (``mean_ci``); the paired difference of ``mean_jct_all``
against each reference method on the same episodes (``study.analysis.stats.paired_difference``: BCa interval,
verdict, wins); the rank of the policy's mean among the reference methods' (bounds excluded); the gap to each
bound the task has (``lower-bound`` for all, ``fluid-bound`` and the CP-SAT ``optimum`` where computed); the
suite, task hash, package version and the policy's identity; and ``content_hash``, the SHA-256 of the rest,
which ``compare`` checks, with the card's format and the type of every field it reads, so that a card damaged or
edited by accident is refused naming it. The hash is not a signature: anyone can edit a card and recompute it, so a
card is evidence only as far as its source is trusted (rerun ``srole score`` on the same task to check one).

Reference results are read from ``docs/results/benchmark/<suite>/<task>/<method>.json`` of the source tree, which
a built package ships as ``study/benchmark/reference_results`` (``SROLE_BENCHMARK_REFERENCES`` or ``references=``
for another folder); a reference computed for another version of the task (its ``task_hash`` differs) is skipped
and listed under ``skipped_references``. A card without any reference warns (``NoReferencesWarning``) and has no
rank: a lone policy is not "rank 1 of 1".
"""

from __future__ import annotations

import json
import math
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from srole_common import persist
from study.benchmark.policy_spec import PolicyError, needs_kind, resolve
from study.benchmark.runner import BOUND_METHODS, METRICS, PRIMARY, run_evaluable
from study.benchmark.tasks import Task, data_hash, load_task

CARD_FORMAT = 1


class NoReferencesWarning(UserWarning):
    """A score card was made without any reference result: no paired differences, no rank."""


PACKAGED_REFERENCES = Path(__file__).resolve().parent / "reference_results"
"""Where a built package holds the reference results (copied there by ``setup.py``'s build hook)."""
SOURCE_REFERENCES = Path(__file__).resolve().parents[2] / "docs" / "results" / "benchmark"
"""Where the source tree (and so an editable install) holds them."""
REFERENCE_ROOT = PACKAGED_REFERENCES if PACKAGED_REFERENCES.is_dir() else SOURCE_REFERENCES


def reference_root(override: str | Path | None = None) -> Path:
    """The reference results folder: ``override``, else ``SROLE_BENCHMARK_REFERENCES``, else the package's own
    (an installed package's copy, or the source tree's ``docs/results/benchmark``)."""
    return Path(override or os.environ.get("SROLE_BENCHMARK_REFERENCES") or REFERENCE_ROOT)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("srole")
    except PackageNotFoundError:
        return "unknown"


MEAN_REPS = 4000
"""Bootstrap resamples of a metric's interval over episodes."""


def mean_ci(values: list[float]) -> dict[str, float | None]:
    """Mean over the finite episodes with its 95% BCa bootstrap interval (``scipy.stats.bootstrap``, the estimator
    of ``study.analysis.stats``' paired intervals, seed 0); no interval below 3 episodes, a point for no spread."""
    from scipy import stats as sps

    from study.analysis.stats import CONFIDENCE

    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(x.mean())
    if len(x) < 3:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": len(x)}
    if np.ptp(x) == 0.0:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": len(x)}
    ci = sps.bootstrap((x,), np.mean, confidence_level=CONFIDENCE, n_resamples=MEAN_REPS, method="BCa",
                       random_state=np.random.default_rng(0)).confidence_interval
    return {"mean": mean, "ci_low": _num(float(ci.low)), "ci_high": _num(float(ci.high)), "n": len(x)}


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def load_references(task: Task, root: str | Path | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``({method: reference record}, skipped notes)`` of the task's committed reference results."""
    folder = reference_root(root) / task.suite / task.name
    refs: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = persist.read_json(path, "reference result")
        except (persist.CorruptFile, OSError) as err:
            skipped.append(f"{path.name}: {err}")
            continue
        if record.get("task_hash") != task.content_hash:
            skipped.append(f"{path.name}: computed for another version of {task.id}")
            continue
        refs[record["method"]] = record
    return refs, skipped


def score(policy: Any, task: str | Task, *, shield: str | None = None, out: str | Path | None = None,
          device: str = "cpu", references: str | Path | None = None) -> dict[str, Any]:
    """Score ``policy`` (see ``study.benchmark.policy_spec``) on ``task``; write ``out`` (``.json``, and the CSV
    beside it) when given. Errors name the task, the policy and the agent; nothing is written on an error."""
    task = load_task(task)
    spec = policy if isinstance(policy, (str, Path)) else f"<{type(policy).__name__}>"
    check_references(task, references)  # the cheap checks before the episodes
    if out is not None:
        check_out(out)
    try:
        evaluable, identity = resolve(policy)
    except PolicyError as err:
        raise PolicyError(f"task {task.id}: {err}") from err
    if hasattr(evaluable, "obs_shape"):  # an SB3 zip: parallel or head policy by its observation size
        from srole_env.core.observation import obs_dim

        evaluable.env_kind = needs_kind(evaluable, obs_dim(task.cluster().n_candidates))  # the layout, no simulator
    shield = shield or task.shield
    try:
        rows = run_evaluable(evaluable, task, shield, device)
    except PolicyError as err:
        raise PolicyError(f"task {task.id}, policy {spec!s}: {err}") from err
    except (ValueError, TypeError) as err:
        raise ValueError(f"task {task.id}, policy {spec!s}: {err}") from err
    card = make_card(task, identity, shield, rows, references)
    if out is not None:
        write_card(card, out)
    return card


def check_references(task: Task, references: str | Path | None) -> None:
    """A ``references`` folder given explicitly must exist and hold results of ``task``; ``ValueError`` naming it and
    the folder expected inside it."""
    if references is None:
        return
    root = Path(references)
    if not root.is_dir():
        raise ValueError(f"--references {str(root)!r}: no such folder (expected the docs/results/benchmark folder of "
                         "the source repository, holding <suite>/<task>/<method>.json)")
    folder = root / task.suite / task.name
    if not folder.is_dir() or not any(folder.glob("*.json")):
        raise ValueError(f"--references {str(root)!r}: holds no reference results of task {task.id} (expected "
                         f"{str(folder)!r} with <method>.json files)")


def card_paths(out: str | Path) -> tuple[Path, Path]:
    """The JSON and CSV paths ``write_card(card, out)`` writes: ``out`` (``.json`` added if missing) and the CSV
    beside it (``card.txt`` -> ``card.txt.json`` and ``card.txt.csv``)."""
    json_path = Path(out) if str(out).endswith(".json") else Path(f"{out}.json")
    return json_path, json_path.with_suffix(".csv")


def check_out(out: str | Path) -> None:
    """Refuse, before any episode, a card path that cannot be written: a folder, or in a missing folder."""
    for path in card_paths(out):
        if path.is_dir():
            raise ValueError(f"--out {str(out)!r}: {str(path)!r} is a folder; give a file path like card.json")
        if not path.parent.is_dir():
            raise ValueError(f"--out {str(out)!r}: folder {str(path.parent)!r} does not exist")


def make_card(task: Task, identity: dict[str, Any], shield: str, rows: list[dict[str, Any]],
              references: str | Path | None = None) -> dict[str, Any]:
    """The score card of ``rows`` (one per episode of ``task``) with its hash (module docstring)."""
    from study.analysis.stats import paired_difference

    refs, skipped = load_references(task, references)
    mine = np.array([r[PRIMARY] for r in rows], float)
    paired, ranked, gaps = {}, [], {}
    for method, record in refs.items():
        theirs = np.array([r.get(PRIMARY, math.nan) for r in record["rows"]], float)
        if len(theirs) != len(mine) or [r["seed"] for r in record["rows"]] != [r["seed"] for r in rows]:
            skipped.append(f"{method}: its episodes differ from the task's")
            continue
        their_mean = float(np.nanmean(theirs)) if np.isfinite(theirs).any() else math.nan
        if method in BOUND_METHODS:
            gaps[method] = {"bound_mean": _num(their_mean),
                            "gap": _num((float(np.nanmean(mine)) - their_mean) / their_mean) if their_mean else None}
            continue
        p = paired_difference(mine, theirs)
        paired[method] = {"metric": PRIMARY, "reference_mean": _num(their_mean), "difference": _num(p.diff.value),
                          "ci_low": _num(p.diff.lo), "ci_high": _num(p.diff.hi), "reduction": _num(p.reduction.value),
                          "verdict": p.verdict(), "wins": p.wins, "n": p.n}
        ranked.append((their_mean, method))
    my_mean = float(np.nanmean(mine)) if np.isfinite(mine).any() else math.nan
    better = sorted(m for v, m in ranked if math.isfinite(v) and (not math.isfinite(my_mean) or v < my_mean))
    rank: dict[str, Any] = {"metric": PRIMARY, "rank": len(better) + 1, "of": len(ranked) + 1,
                            "better_references": better}
    if not ranked:  # a lone policy is not "rank 1 of 1"
        rank.update(rank=None, of=None)
        warnings.warn(f"task {task.id}: no reference results under {reference_root(references)} "
                      f"({len(skipped)} skipped): the card has no paired differences and no rank; pass references=DIR "
                      "(the docs/results/benchmark folder of the source repository) or SROLE_BENCHMARK_REFERENCES",
                      NoReferencesWarning, stacklevel=3)
    card: dict[str, Any] = {
        "card_format": CARD_FORMAT,
        "suite": task.suite,
        "task": task.id,
        "task_hash": task.content_hash,
        "package_version": package_version(),
        "policy": identity,
        "shield": shield,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "episodes": rows,
        "metrics": {m: mean_ci([r[m] for r in rows]) for m in METRICS},
        "paired": paired,
        "rank": rank,
        "gaps": gaps,
        "skipped_references": skipped,
    }
    card = json.loads(json.dumps(_nan_to_none(card)))
    card["content_hash"] = data_hash(card)
    return card


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return _nan_to_none(value.item())
    return value


def csv_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card as flat rows: ``section, name, metric, value, ci_low, ci_high``."""
    rows = [{"section": "meta", "name": k, "metric": "", "value": card[k] if k != "policy" else card[k].get("spec"),
             "ci_low": "", "ci_high": ""} for k in ("suite", "task", "task_hash", "package_version", "policy", "shield",
                                                   "content_hash")]
    rows += [{"section": "metric", "name": card["policy"].get("name", ""), "metric": m, "value": v["mean"],
              "ci_low": v["ci_low"], "ci_high": v["ci_high"]} for m, v in card["metrics"].items()]
    rows += [{"section": "paired", "name": k, "metric": v["metric"], "value": v["difference"], "ci_low": v["ci_low"],
              "ci_high": v["ci_high"]} for k, v in card["paired"].items()]
    rows.append({"section": "rank", "name": f"of {card['rank']['of']}", "metric": card["rank"]["metric"],
                 "value": card["rank"]["rank"], "ci_low": "", "ci_high": ""})
    rows += [{"section": "gap", "name": k, "metric": PRIMARY, "value": v["gap"], "ci_low": "", "ci_high": ""}
             for k, v in card["gaps"].items()]
    return rows


def write_card(card: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (JSON; ``.json`` added if missing) and the CSV beside it; both or neither."""
    json_path, csv_path = card_paths(out)
    persist.write_json(json_path, card)
    try:
        persist.write_rows(csv_path, ("section", "name", "metric", "value", "ci_low", "ci_high"), csv_rows(card))
    except BaseException:
        json_path.unlink(missing_ok=True)
        raise
    return json_path, csv_path


def format_card(card: dict[str, Any], references: str | Path | None = None) -> str:
    """A short text view of a card (``references``: the folder its reference results were read from)."""
    lines = [f"{card['task']} ({card['suite']}, task {card['task_hash'][:12]}), policy {card['policy'].get('spec')}"
             f" ({card['policy'].get('kind')}), shield {card['shield']}, {len(card['episodes'])} episodes"]
    for m, v in card["metrics"].items():
        lines.append(f"  {m:<22} {_fmt(v['mean'])}  [{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]")
    if card["paired"]:
        lines.append(f"  paired {PRIMARY} difference (policy - reference), 95% BCa, verdict:")
        for k, v in sorted(card["paired"].items(), key=lambda kv: kv[1]["reference_mean"] or math.inf):
            lines.append(f"    vs {k:<22} ref {_fmt(v['reference_mean'])}: {_fmt(v['difference'])} "
                         f"[{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}] {v['verdict']}")
        lines.append(f"  rank {card['rank']['rank']} of {card['rank']['of']} by {card['rank']['metric']}")
    else:
        hint = "" if references else (": pass --references DIR, the docs/results/benchmark folder of the source "
                                      "repository")
        lines.append(f"  no reference results for this task under {reference_root(references)} (rank and paired "
                     f"differences need them{hint})")
    for k, v in card["gaps"].items():
        lines.append(f"  gap to {k}: {_fmt(100 * v['gap']) if v['gap'] is not None else 'n/a'}%")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 1e-9:  # float noise of a difference of equal means (e.g. -2.2e-16) prints as 0
        value = 0.0
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"


# ---------------------------------------------------------------------- compare
def read_card(path: str | Path) -> dict[str, Any]:
    """A card, its format, fields and content hash checked; ``ValueError`` naming the file and the field otherwise."""
    card = persist.read_json(path, "score card")
    for key in ("card_format", "suite", "task", "task_hash", "episodes", "content_hash"):
        if key not in card:
            raise ValueError(f"score card {str(path)!r}: lacks {key!r}; not a score card")
    if card["card_format"] != CARD_FORMAT or isinstance(card["card_format"], bool):
        raise ValueError(f"score card {str(path)!r}: card_format {card['card_format']!r}; this version reads format "
                         f"{CARD_FORMAT}")
    _check_card_fields(card, str(path))
    stored = card.pop("content_hash")
    if data_hash(card) != stored:
        raise ValueError(f"score card {str(path)!r} was edited: its content hash does not match its contents")
    card["content_hash"] = stored
    return card


def _check_card_fields(card: dict[str, Any], path: str) -> None:
    """The types of the fields ``compare`` reads; ``ValueError`` naming the card and the field."""
    where = f"score card {path!r}"
    for key in ("suite", "task", "task_hash", "content_hash"):
        if not isinstance(card[key], str):
            raise ValueError(f"{where}: field {key!r} must be a string, got {card[key]!r}")
    if not isinstance(card.get("policy"), dict):
        raise ValueError(f"{where}: field 'policy' must be an object, got {card.get('policy')!r}")
    episodes = card["episodes"]
    if not isinstance(episodes, list) or not episodes:
        raise ValueError(f"{where}: field 'episodes' must be a non-empty list, got {type(episodes).__name__}")
    for e, row in enumerate(episodes):
        if not isinstance(row, dict):
            raise ValueError(f"{where}: episodes[{e}] must be an object, got {row!r}")
        if isinstance(row.get("seed"), bool) or not isinstance(row.get("seed"), int):
            raise ValueError(f"{where}: episodes[{e}].seed must be an int, got {row.get('seed')!r}")
        for metric in METRICS:
            if metric not in row:
                raise ValueError(f"{where}: episodes[{e}] lacks metric {metric!r}")
            value = row[metric]
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{where}: episodes[{e}].{metric} must be a number or null, got {value!r}")


def compare(paths: list[str | Path]) -> str:
    """The paired comparison of cards of one task version (the first card is the baseline of the differences)."""
    from study.analysis.stats import paired_difference

    if len(paths) < 2:
        raise ValueError("compare: give at least two score cards")
    cards = [read_card(p) for p in paths]
    first = cards[0]
    for path, card in zip(paths[1:], cards[1:]):
        if card["suite"] != first["suite"] or card["task"] != first["task"] or card["task_hash"] != first["task_hash"]:
            raise ValueError(f"compare: refused: {str(path)!r} scores {card['task']} (suite {card['suite']}, task hash "
                             f"{card['task_hash'][:12]}) but {str(paths[0])!r} scores {first['task']} (suite "
                             f"{first['suite']}, task hash {first['task_hash'][:12]}): different task versions")
        if [r["seed"] for r in card["episodes"]] != [r["seed"] for r in first["episodes"]]:
            raise ValueError(f"compare: refused: {str(path)!r} ran other episodes than {str(paths[0])!r}")
    lines = [f"{first['task']} ({len(first['episodes'])} paired episodes); differences against "
             f"{first['policy'].get('spec')}, 95% BCa"]
    for metric in METRICS:
        lines.append(f"  {metric}:")
        base = np.array([np.nan if r[metric] is None else r[metric] for r in first["episodes"]], float)
        for card in cards:
            x = np.array([np.nan if r[metric] is None else r[metric] for r in card["episodes"]], float)
            mean = _fmt(float(np.nanmean(x))) if np.isfinite(x).any() else "n/a"
            if card is first:
                lines.append(f"    {card['policy'].get('spec')!s:<40} {mean}")
                continue
            p = paired_difference(x, base)
            lines.append(f"    {card['policy'].get('spec')!s:<40} {mean}  diff {_fmt(_num(p.diff.value))} "
                         f"[{_fmt(_num(p.diff.lo))}, {_fmt(_num(p.diff.hi))}] {p.verdict()}")
    return "\n".join(lines)
