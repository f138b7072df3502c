"""A rough cost of each study cell, so that the progress bar of ``srole reproduce`` shows an honest time left.

Cells mix long trainings with evaluations of a second: a bar that counts cells sits still while the trainings
run and then races. ``cell_cost`` estimates a cell's work in edge-rounds (one edge deciding for one simulated
round), a training round costing ``TRAIN_WEIGHT`` evaluation rounds (a gradient step and the replay buffer on
top of the forward pass). The weights are rough (an assumption, measured on the ``first`` profile only to the
nearest factor of two); they steer the bar, never a result.
"""

from __future__ import annotations

from typing import Any

TRAIN_WEIGHT = 4.0
"""Cost of one training round relative to one evaluation round, per edge (assumption, see module docstring)."""
OVERHEAD_COST = 200.0
"""Edge-rounds charged to a shield-overhead cell (one short episode of a heuristic behind a shield)."""
START_COST = 10_000.0
"""Edge-rounds every cell costs at least: its imports, building the cluster and writing its results, a few seconds
(about as long as a 20-edge cluster's 500 evaluation rounds)."""


def _edges_and_horizon(config: dict[str, Any]) -> tuple[float, float]:
    """(N, horizon) of a cell's cluster config, from its fields or its scenario's defaults."""
    from srole_env.config import make_config

    try:
        cfg = make_config(**config)
    except (TypeError, ValueError):  # the cell reports the bad config itself; the bar needs only a guess
        return 10.0, 50.0
    return float(cfg.n_edges), float(cfg.horizon)


def cell_cost(cell: Any) -> float:
    """Estimated edge-rounds of ``cell`` (a ``study.experiments.plan.Cell``); see the module docstring."""
    if getattr(cell, "cached_only", False):
        return START_COST
    if getattr(cell, "kind", "method") == "overhead":
        return OVERHEAD_COST
    cost = START_COST
    if getattr(cell, "algo", None) and getattr(cell, "rounds", 0):
        n, horizon = _edges_and_horizon(cell.train_config)
        cost += TRAIN_WEIGHT * n * cell.rounds
        if cell.eval_every:  # the learning curve: curve episodes at every checkpoint
            checkpoints = cell.rounds // cell.eval_every
            cost += checkpoints * len(cell.curve_seeds) * cell.curve_episodes * n * horizon
    for spec in cell.evals:
        n, horizon = _edges_and_horizon(spec.config)
        cost += (spec.episodes or cell.eval_episodes) * n * horizon
    return cost
