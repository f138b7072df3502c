"""The ``srole reproduce`` cache's entries checked before they reach a table: a stamp that ties an entry to its key
and content, and a schema per entry kind.

An entry written now carries ``_cache``: ``{"key": <its file name's key>, "format": CACHE_FORMAT, "sha256": <of the
rest of the entry>, "package_version": ...}``. Reading it back checks, in order: it parses as a JSON object; the
stamp (when present) names the same key as the file (two files swapped are caught) and the same format, and its
``sha256`` matches the content (an edited file is caught); the schema (every required field present, strings where
strings belong, numbers (not booleans or strings) everywhere else, finite where a table needs them); and the
entry's ``method`` and ``seed`` equal the ones its key was computed for. A failure is ``CorruptFile`` naming the
file and the key or field. Entries written before the stamp existed (a committed cache) are read with the schema
and the method/seed checks only. The hash guards against accidents (a truncated, edited or misplaced file), not
against someone who recomputes it: it is not a signature.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from srole_common.persist import CorruptFile

CACHE_FORMAT = 2
"""Format of the entries this code writes (1: unstamped entries of earlier versions, still read)."""
STAMP = "_cache"

EVAL_STRINGS = ("method", "algo", "hparams_source", "train_shield", "eval_shield")
EVAL_REQUIRED = ("method", "seed", "wall_s", "mean_jct_all")
EVAL_FINITE = ("wall_s", "jobs_arrived", "collisions", "overloads", "jobs_completed")
"""Figures of an evaluation that must be finite when present (``mean_jct_all`` too, unless no job arrived)."""
OVERHEAD_STRINGS = ("method", "shield")
OVERHEAD_REQUIRED = ("method", "shield", "regions", "seed", "decision_latency_s", "messages_per_round",
                     "shield_wall_ms_per_round", "wall_s")
TRAIN_REQUIRED = ("wall_s", "curves")


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("srole")
    except PackageNotFoundError:
        return "unknown"


def content_sha(entry: dict[str, Any]) -> str:
    """SHA-256 of an entry without its stamp (canonical JSON, sorted keys)."""
    body = {k: v for k, v in entry.items() if k != STAMP}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def stamped(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """``entry`` with its stamp for the file ``path`` (its key is the file name's stem)."""
    body = json.loads(json.dumps({k: v for k, v in entry.items() if k != STAMP}, default=_plain))
    return {**body, STAMP: {"key": path.stem, "format": CACHE_FORMAT, "sha256": content_sha(body),
                            "package_version": _package_version()}}


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def check_stamp(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """The entry without its stamp, after checking the stamp against the file name and the content."""
    stamp = entry.get(STAMP)
    if stamp is None:
        return entry
    where = f"cache entry {str(path)!r}"
    if not isinstance(stamp, dict):
        raise CorruptFile(f"{where}: field {STAMP!r} must be an object, got {type(stamp).__name__}")
    if stamp.get("key") != path.stem:
        raise CorruptFile(f"{where}: holds the entry of key {stamp.get('key')!r}, not of its file name's key "
                          f"{path.stem!r} (a moved or swapped file)")
    if stamp.get("format") != CACHE_FORMAT:
        raise CorruptFile(f"{where}: format {stamp.get('format')!r}, this version reads {CACHE_FORMAT}")
    body = {k: v for k, v in entry.items() if k != STAMP}
    if stamp.get("sha256") != content_sha(body):
        raise CorruptFile(f"{where}: its content does not match its sha256 (an edited or damaged file)")
    return body


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_row(entry: dict[str, Any], path: Path, kind: str, method: str | None = None,
              seed: int | None = None) -> dict[str, Any]:
    """Check an evaluation (``kind="eval"``) or shield-overhead (``"overhead"``) row against its schema and the
    ``method``/``seed`` its key was computed for; ``CorruptFile`` naming the file and the field."""
    where = f"cache entry {str(path)!r}"
    strings, required = (EVAL_STRINGS, EVAL_REQUIRED) if kind == "eval" else (OVERHEAD_STRINGS, OVERHEAD_REQUIRED)
    missing = [k for k in required if k not in entry]
    if missing:
        raise CorruptFile(f"{where} lacks {missing}")
    for name, value in entry.items():
        if name in strings:
            if not isinstance(value, str):
                raise CorruptFile(f"{where}: field {name!r} must be a string, got {value!r}")
        elif name == "job_jcts":
            if not isinstance(value, list) or not all(_is_number(v) for v in value):
                raise CorruptFile(f"{where}: field 'job_jcts' must be a list of numbers")
        elif name in ("seed", "regions", "train_rounds", "samples", "gradient_updates"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise CorruptFile(f"{where}: field {name!r} must be an int, got {value!r}")
        elif value is not None and not _is_number(value):
            raise CorruptFile(f"{where}: field {name!r} must be a number, got {value!r}")
    finite = EVAL_FINITE if kind == "eval" else OVERHEAD_REQUIRED[4:]
    if kind == "eval" and entry.get("jobs_arrived", 1) != 0:
        finite = (*finite, "mean_jct_all")
    for name in finite:
        if name in entry and (entry[name] is None or not math.isfinite(entry[name]) or entry[name] < 0):
            raise CorruptFile(f"{where}: field {name!r} must be a finite number >= 0, got {entry[name]!r}")
    if method is not None and entry["method"] != method:
        raise CorruptFile(f"{where}: method {entry['method']!r}, but its key is of method {method!r}")
    if seed is not None and entry["seed"] != seed:
        raise CorruptFile(f"{where}: seed {entry['seed']!r}, but its key is of seed {seed}")
    return entry


def check_train(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """Check a training record (seconds, learning curve rows); ``CorruptFile`` naming the file and the field."""
    where = f"cache entry {str(path)!r}"
    missing = [k for k in TRAIN_REQUIRED if k not in entry]
    if missing:
        raise CorruptFile(f"{where} lacks {missing}")
    wall = entry["wall_s"]
    if not _is_number(wall) or not math.isfinite(wall) or wall < 0:
        raise CorruptFile(f"{where}: field 'wall_s' must be a finite number >= 0, got {wall!r}")
    curves = entry["curves"]
    if not isinstance(curves, list) or not all(isinstance(r, dict) for r in curves):
        raise CorruptFile(f"{where}: field 'curves' must be a list of objects")
    for k, row in enumerate(curves):
        bad = [name for name, v in row.items() if v is not None and not _is_number(v) and not isinstance(v, str)]
        if bad:
            raise CorruptFile(f"{where}: curves[{k}] field {bad[0]!r} must be a number, got {row[bad[0]]!r}")
    return entry
