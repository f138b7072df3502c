"""The regime map's profiles (``docs/ceiling.md``, the regime map): offered load x cluster size N x the head's service
time per decision, as ``srole reproduce`` profiles of ``kind="grid"`` experiments; ``study.analysis.regime_report``
reads their rows.

**Head service time.** ``ClusterConfig`` has no ``head_decision_s`` (a retired field; the head is a queue:
``srole_env.core.head_queue``); a decision costs the policy's FLOPs (negligible) plus ``head_bookkeeping_s``,
stretched by the CPU share the head's scheduler gets beside its own training workers. The regime axis "head
service time 1 ms / 10 ms" is therefore ``head_bookkeeping_s`` = 0.001 / 0.01. It enters only the head's
view (``CentralizedSchedulingEnv``): the edge methods (MARL, SROLE) never consult the head, so they are evaluated
once per point and paired with CRL and CRL-greedy at each head time. CRL is trained at the default 1 ms and
evaluated at both (not retrained per head time). The offered load ``rho`` is ``srole_env.load.offered_load``.
"""

from __future__ import annotations

from typing import Any

from srole_env.load import rate_for_load
from study.experiments.profiles import DECISIVE_IDQN, Experiment, Profile
from study.experiments.roster import EDGE_LEARNED, HEAD_METHODS

LOADS = (0.95, 0.2, 0.5, 0.8)
"""Offered-load levels (rho) of the map, light to saturation, in the order they run: both ends first, so that a run cut
short keeps them."""
TRAINED_N = (20, 10, 50)
"""Cluster sizes every learned method is retrained at (per load), in the order they run (20 first: the tuned cell)."""
SOURCE_N = 20
"""The trained size whose models are evaluated at the larger sizes (``EVAL_N``): the cell the learners were tuned
on, and the first to finish; the policies share parameters across agents and the head's features are fixed-size."""
EVAL_N: dict[int, tuple[float, ...]] = {200: LOADS, 1000: LOADS, 10_000: (0.2,)}
"""Evaluation-only sizes and the loads each is evaluated at. N = 10,000 at rho = 0.2 only, for cost: the head env
makes one step per decision, so a CRL episode there is ~56,000 steps at 1 ms (~265,000 at rho = 0.95); at 0.2 the
10 ms head already saturates (about 1,120 requests a round against a capacity of about 980) and the 1 ms one does
not, which is the contrast the paper's mechanism needs."""
HEAD_S = (0.001, 0.01)
"""Head service time per decision (``head_bookkeeping_s``): 1 ms and 10 ms."""
REFERENCE = "least_loaded"
"""The heuristic whose utilisation places a point on the load axis."""
BASE = {"scenario": "paper", "horizon": 50}
ROUNDS = 1500
SEEDS = (0, 1, 2, 3, 4)
EVAL_EPISODES = 2
LARGE_EPISODES = 1


COST_NOTE = (
    "The cell times above are wall-clock seconds of one worker on a 2-core machine shared with other experiments: "
    "they overstate a dedicated machine's. Per cell kind, CPU time (user + system) of one process on one torch thread, "
    "start-up excluded, measured by `scripts/bench/bench_regime_cost.py` on this machine (commit of issue 25, load "
    "average 8-10): a 1,500-round training at N = 20 (rho = 0.5, hidden [64, 64]) 5.0 s for IDQN, 5.1 s behind the "
    "central shield, 5.4 s for crl_idqn; one 50-round evaluation episode 0.05-0.07 s at N = 20 and 200, 0.1-0.2 s at "
    "N = 1,000 (rho = 0.5), and at N = 10,000 (rho = 0.2) 0.5-0.6 s for MARL, SROLE and least_loaded, 0.4-0.5 s for "
    "CRL and 0.2 s for CRL-greedy (the head's decisions run in the compiled loop, "
    "`CentralizedSchedulingEnv.decide_round`). Added up over the profile's cells (240 trainings, 1,275 evaluation "
    "episodes): about 21 min of CPU for the trainings and 2 min for the evaluations, so about 11-12 minutes on 2 "
    "dedicated cores (`--workers 2`), plus each worker's start-up (imports, a few seconds per process)."
)
"""How the cost figures read (measured with ``/usr/bin/time`` on this machine; see ``summary.md``)."""


def _grid_experiments(base: dict[str, Any], loads: tuple[float, ...], trained: tuple[int, ...], source: int,
                      eval_n: dict[int, tuple[float, ...]], heads: tuple[float, ...], seeds: tuple[int, ...],
                      large_episodes: int, sizes: tuple[int, ...] | None = None) -> tuple[Any, ...]:
    """The map's experiments in the order they run: trained N (``trained`` order), then seed by seed (a run cut
    short still holds whole pairs for its first seeds), then load; the evaluation-only sizes ride with the
    ``source`` N's models. ``sizes``: only these N (trained or evaluated), e.g. to run the cheap part first."""
    def point(n: int, rho: float) -> dict[str, Any]:
        return {"n_edges": n, "arrival_rate": round(rate_for_load({**base, "n_edges": n}, rho), 7)}

    def keep(n: int) -> bool:
        return sizes is None or n in sizes

    head_grid = tuple({"head_bookkeeping_s": h} for h in heads)
    exps = []
    for n in trained:
        for seed in seeds:
            for rho in loads:
                grid, one = (point(n, rho),), (seed,)
                if keep(n):
                    exps += [Experiment("trained", base, kind="grid", grid=grid, methods=(*EDGE_LEARNED, REFERENCE),
                                        seeds=one),
                             Experiment("trained", base, kind="grid", grid=grid, eval_grid=head_grid,
                                        methods=HEAD_METHODS, seeds=one)]
                if n != source:
                    continue
                for m, m_loads in eval_n.items():
                    if rho not in m_loads or not keep(m):
                        continue
                    e = point(m, rho)
                    exps += [Experiment("evaluated", base, kind="grid", grid=grid, eval_grid=(e,), methods=EDGE_LEARNED,
                                        episodes=large_episodes, seeds=one),
                             Experiment("evaluated", base, kind="grid", grid=grid, methods=HEAD_METHODS,
                                        eval_grid=tuple({**e, **h} for h in head_grid), episodes=large_episodes,
                                        seeds=one)]
    return tuple(exps)


def regime_profile(name: str = "regime", sizes: tuple[int, ...] | None = None) -> Any:
    """The ``regime`` profile (the map; cost in ``summary.md``) or ``regime-tiny`` (tests: seconds); ``sizes``: only
    these N (``scripts/experiments/regime_map.py --sizes``)."""
    if name == "regime":
        return Profile(
            "regime", rounds=ROUNDS, seeds=SEEDS, eval_episodes=EVAL_EPISODES, eval_every=None, curve_seeds=(),
            report="regime", learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN},
            experiments=_grid_experiments(BASE, LOADS, TRAINED_N, SOURCE_N, EVAL_N, HEAD_S, SEEDS, LARGE_EPISODES,
                                          sizes))
    if name == "regime-tiny":
        tiny = {"scenario": "small", "horizon": 12}
        seeds = (0, 1, 2)
        return Profile(
            "regime-tiny", rounds=24, seeds=seeds, eval_episodes=1, eval_every=None, curve_seeds=(),
            report="regime",
            hparams={"idqn": {"learning_starts": 32, "eps_decay_rounds": 12, "batch_size": 16, "hidden": [16]},
                     "crl_maskable_ppo": {"n_steps": 32, "batch_size": 16, "n_epochs": 1}},
            experiments=_grid_experiments(tiny, (0.2, 0.9), (6,), 6, {12: (0.9,)}, HEAD_S, seeds, 1, sizes))
    raise ValueError(f"profile: unknown regime profile {name!r}; choose regime or regime-tiny")


