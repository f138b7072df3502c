"""Load any scheduler by name or run directory as a ``Policy`` (``preferences``/``act``/``reset``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.common.names import HEURISTIC_NAMES
from agents.common.policy import Policy
from agents.common.run_dir import load_run
from agents.heuristics import make_heuristic
from agents.registry import ALGOS


def load_policy(policy: str | Path | Policy, device: str = "cpu", seed: int = 0) -> tuple[Policy, dict[str, Any]]:
    """``(policy, meta)`` from a heuristic name, a run directory or a policy object.

    ``meta`` describes where it came from: ``name``, ``env_kind`` (``parallel`` or ``centralized``) and, for
    a run directory, the run's ``config.json`` (``algo``, ``shield``, ``cluster``, ...). ``seed`` seeds a
    heuristic's own randomness (``random``).
    """
    if not isinstance(policy, (str, Path)):
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a heuristic name, a run directory or a Policy, got {policy!r}")
        return policy, {"name": getattr(policy, "name", type(policy).__name__),
                        "env_kind": getattr(policy, "env_kind", "parallel")}
    if isinstance(policy, str) and policy in HEURISTIC_NAMES:
        return make_heuristic(policy, seed), {"name": policy, "env_kind": "parallel"}
    path = Path(policy)
    if not path.exists():
        known = ", ".join(HEURISTIC_NAMES)
        raise FileNotFoundError(f"policy: {str(policy)!r} is neither a heuristic ({known}) nor a run directory")
    run, saved, _ = load_run(path)
    algo = saved.get("algo")
    if algo not in ALGOS:
        raise ValueError(f"policy: run {str(path)!r} was trained with unknown algo {algo!r}")
    loaded = ALGOS[algo].load_policy(run.checkpoint, device)
    meta = {**saved, "name": path.name, "env_kind": ALGOS[algo].env_kind, "run_dir": str(path)}
    return loaded, meta
