"""The crossover map's profiles (``docs/ceiling.md``, the crossover map): where the paper's mechanism lives, cluster
size N x offered load rho x the head's service time per decision, every method at every point;
``study.analysis.crossover_report`` reads the rows.

**Axes.** N = 20, 200, 2,000, 10,000, 50,000 (``SIZES``); rho = 0.2, 0.5, 0.8 (``srole_env.load.rate_for_load``);
head service per decision (``head_bookkeeping_s``, an evaluation-time setting of the head queue,
``srole_env.core.head_queue``) 1 ms, 10 ms and the measured cost of one ``crl_idqn`` decision scaled to the head's
device class (``data/head_cost.json``, written by ``scripts/calibrate/head_cost.py``). Only CRL and CRL-greedy
consult the head; the other methods are evaluated once per (N, rho) and paired with the head methods at each head
time. CRL is trained at the default 1 ms and evaluated at all three (not retrained per head time), as in the regime
map (``study.experiments.regime_profile``).

**Regions.** The decentralized shield's region count grows with N at the ``paper`` scenario's region size (4
regions for 50 edges: ``EDGES_PER_REGION`` = 12.5 edges per region, never fewer than ``MIN_REGIONS`` = 4):
``n_regions = max(4, round(N / 12.5))``, set as the config field ``n_regions`` of every point (it changes nothing
for the other methods). An ASSUMPTION: the paper does not say how its regions scale.

**Transfer.** Every learned method is trained at N = 20 (``SOURCE_N``) and its models run unchanged at every larger N
(parameter sharing across agents; the head's features are fixed-size); it is also retrained at N = 200 and 2,000
(``TRAINED_N``), so that at those N the transferred and retrained models stand side by side (the transfer gap).

**Horizon.** ``HORIZON`` rounds per load, from ``least_loaded``'s unfinished share of the arrived jobs
(``scripts/experiments/crossover_horizon.py`` measures it at N = 20 and 200; ``docs/results/crossover/horizon.csv``):
200 rounds leave at most 11% unfinished at rho 0.2 and 0.5; at rho 0.8 ``least_loaded`` is saturated (the share does
not fall below 20% with the horizon and its JCT grows with it), so the rule cannot bind there.

**Order.** The cells are built stage by stage (``STAGES``: N <= 200, then 2,000, 10,000, 50,000), and within a
stage seed by seed, then load: a run cut short keeps whole seeds of every method at the cheap points first. A
trained model's evaluations at larger N belong to its training cell (the cache is per evaluation, so an interrupted
cell keeps what it finished); ``scripts/experiments/crossover_map.py`` runs the stages one after another, each a
``sizes``-restricted profile whose cells the next stage finds in the cache.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srole_env.load import rate_for_load
from study.experiments.profiles import DECISIVE_IDQN, DECISIVE_ROUNDS, Experiment, Profile
from study.experiments.roster import EDGE_LEARNED, HEAD_LEARNED, HEAD_METHODS, names

HEAD_COST_FILE = Path(__file__).resolve().parent / "data" / "head_cost.json"
"""The measured head cost (``scripts/calibrate/head_cost.py``)."""


def measured_head_s(path: Path = HEAD_COST_FILE) -> float:
    """The measured per-decision cost of the CRL head policy on the head's device class (seconds)."""
    try:
        value = json.loads(path.read_text())["head_s"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"crossover: cannot read the measured head cost from {path} ({err}); run "
                         "scripts/calibrate/head_cost.py") from err
    if not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"crossover: {path}: head_s must be a positive number, got {value!r}")
    return round(float(value), 7)


ALL_METHODS = names(lambda m: m.key > 0 and m.kind != "bound", order=lambda m: m.key)
"""The map's methods: the key methods of the comparison but the bound."""
REFERENCES = names(lambda m: m.name in ALL_METHODS and not m.learned and not m.consults_head, order=lambda m: m.key)
"""Non-learned methods that never consult the head."""
LEARNED = names(lambda m: m.name in ALL_METHODS and m.learned)
EDGES_PER_REGION = 12.5
"""ASSUMPTION: the ``paper`` scenario's region size (50 edges, 4 regions), kept as N grows."""
MIN_REGIONS = 4


def regions_for(n: int, edges_per_region: float = EDGES_PER_REGION, minimum: int = MIN_REGIONS) -> int:
    """The decentralized shield's region count at N edges: ``max(minimum, round(N / edges_per_region))``, <= N."""
    return int(min(n, max(minimum, round(n / edges_per_region))))


@dataclass(frozen=True, kw_only=True)
class MapAxes:
    """What every map over N x rho shares (the crossover map's ``MapSpec``, the fair map's ``FairSpec``): its axes,
    where its models are trained and evaluated, its seeds, horizons, budgets and stages."""

    base: dict[str, Any]
    sizes: tuple[int, ...]
    loads: tuple[float, ...]
    trained: tuple[int, ...]
    source: int
    eval_n: dict[int, tuple[float, ...]]
    seeds: tuple[int, ...]
    horizon: dict[float, int]
    rounds: int
    eval_episodes: int
    large_episodes: int
    large_from: int
    """N from which evaluations use ``large_episodes`` episodes (cost)."""
    stages: tuple[tuple[int, ...], ...]
    hparams: Mapping[str, Any] = field(default_factory=dict)
    learner_hparams: Mapping[str, Any] = field(default_factory=dict)

    def episodes(self, n: int) -> int:
        return self.large_episodes if n >= self.large_from else self.eval_episodes


@dataclass(frozen=True, kw_only=True)
class MapSpec(MapAxes):
    """The axes and budgets of one crossover profile: the map's, and the head's service times."""

    heads: tuple[float, ...]


LOADS = (0.8, 0.2, 0.5)
"""Offered load levels, in the order they run (both ends first, as in the regime map)."""
SIZES = (20, 200, 2000, 10_000, 50_000)
TRAINED_N = (20, 200, 2000)
SOURCE_N = 20
EVAL_N: dict[int, tuple[float, ...]] = {200: LOADS, 2000: LOADS, 10_000: LOADS, 50_000: (0.8,)}
"""Sizes the N = 20 models are evaluated at, with their loads. N = 50,000 at rho = 0.8 only (cost): by the head
model's numbers the 1 ms head saturates near N = 36,000 there, so the 1 ms backlog shows at 50,000."""
HORIZON = {0.2: 200, 0.5: 200, 0.8: 200}
"""Episode rounds per load. Measured (``docs/results/crossover/horizon.csv``, least_loaded, 3 episodes): the share of
arrived jobs unfinished after 50 / 100 / 200 / 400 rounds is 19% / 15% / 9.7% / 3.8% (rho 0.2), 25% / 19% / 8.6% /
4.9% (0.5) and 37% / 30% / 24% / 21% (0.8) at N = 20, and 21% / 13% / 7.1% / 3.5%, 27% / 17% / 11% / 6.8%,
36% / 27% / 21% / 18% at N = 200. The 20% rule alone would allow 100 rounds at rho 0.2 and 0.5 (15-19%, at its
edge); 200 leaves at most 11% and is the minimum set for the decisive scenario. At rho 0.8 least_loaded is
saturated (its share falls only from 24% to 21% between 200 and 400 rounds while its JCT grows from 289 to 473 s):
no horizon meets the rule there, and 200 keeps the cost of N = 50,000 (evaluated at 0.8) bounded."""
SEEDS = (0, 1, 2, 3, 4)
ROUNDS = DECISIVE_ROUNDS
"""Training rounds of every learned method (the decisive profile's budget; ``--rounds`` of the map script may raise
it: the convergence of the decisive scenario needed 16,000 at the base load)."""
STAGES = ((20, 200), (2000,), (10_000,), (50_000,))
TINY_SLOW_HEAD_S = 2.0
"""``crossover-tiny``'s slow head (seconds per decision): slow enough that the tiny cluster's head backlogs, so the
tiny run exercises the report's N* end to end."""


def map_spec(name: str = "crossover") -> MapSpec:
    """The axes of ``crossover`` (the map) or ``crossover-tiny`` (tests: seconds)."""
    if name == "crossover":
        return MapSpec(base={"scenario": "paper"}, sizes=SIZES, loads=LOADS, trained=TRAINED_N, source=SOURCE_N,
                       eval_n=EVAL_N, heads=(0.001, 0.01, measured_head_s()), seeds=SEEDS, horizon=HORIZON,
                       rounds=ROUNDS, eval_episodes=2, large_episodes=1, large_from=2000, stages=STAGES,
                       learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN})
    if name == "crossover-tiny":
        # learning_starts >= n_step (5) x N (12): kept as the tiny map was written (IDQN now waits for a batch in
        # the buffer, so smaller values would also run)
        tiny_idqn = {"learning_starts": 96, "eps_decay_rounds": 12, "batch_size": 16, "hidden": [16]}
        return MapSpec(base={"scenario": "small"}, sizes=(6, 12, 24), loads=(0.8, 0.2), trained=(6, 12), source=6,
                       eval_n={12: (0.8, 0.2), 24: (0.8,)}, heads=(0.001, TINY_SLOW_HEAD_S, measured_head_s()),
                       seeds=(0, 1, 2),
                       horizon={0.8: 10, 0.2: 10}, rounds=20, eval_episodes=1, large_episodes=1, large_from=24,
                       stages=((6, 12), (24,)), hparams={"idqn": tiny_idqn, "crl_idqn": tiny_idqn})
    raise ValueError(f"profile: unknown crossover profile {name!r}; choose one of {list(CROSSOVER_PROFILES)}")


def point(spec: Any, n: int, rho: float) -> dict[str, Any]:
    """The config fields of one (N, rho) point of a map (``MapSpec``, ``fair_profile.FairSpec``: its ``base`` and
    ``horizon``): N, the arrival rate of load rho, the horizon and the regions."""
    base = {**spec.base, "n_edges": n}
    return {"n_edges": n, "arrival_rate": round(rate_for_load(base, rho), 7), "horizon": spec.horizon[rho],
            "n_regions": regions_for(n)}


def check_axes(spec: Any, sizes: tuple[int, ...] | None, loads: tuple[float, ...] | None, what: str) -> set[int]:
    """The sizes to keep (``sizes``, default all of the map's); ``ValueError`` naming ``what`` (the map) when a size
    or load is not one of the map's."""
    keep = set(spec.sizes if sizes is None else sizes)
    unknown = keep - set(spec.sizes)
    if unknown:
        raise ValueError(f"{what}: sizes {sorted(unknown)} are not in the map's N {list(spec.sizes)}")
    if loads is not None and set(loads) - set(spec.loads):
        raise ValueError(f"{what}: loads {sorted(set(loads) - set(spec.loads))} are not in the map's rho "
                         f"{sorted(spec.loads)}")
    return keep


def grid_experiment(spec: Any, name: str, train: dict[str, Any], evals: tuple[dict[str, Any], ...],
                    methods: tuple[str, ...], seed: int, n: int) -> Experiment:
    """One grid experiment of a map: ``methods`` trained (or run) at ``train`` with ``seed``, evaluated at each of
    ``evals`` (none: the training point) with the map's episodes at N = ``n``."""
    return Experiment(name, spec.base, kind="grid", grid=(train,), eval_grid=evals, methods=methods, seeds=(seed,),
                      episodes=spec.episodes(n))


def cumulative_stages(stages: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """The sizes of each stage with those before it: ``((20, 200), (2000,))`` -> ``[(20, 200), (20, 200, 2000)]``."""
    out: list[tuple[int, ...]] = []
    have: tuple[int, ...] = ()
    for stage in stages:
        have = (*have, *stage)
        out.append(have)
    return out


def experiments(spec: MapSpec, sizes: tuple[int, ...] | None = None, loads: tuple[float, ...] | None = None,
                retrain: bool = True) -> tuple[Experiment, ...]:
    """The map's experiments in the order they run (module docstring): stage, seed, load. ``sizes``: only these N
    (the trained N = ``spec.source`` cells come with any larger N, since its models are evaluated there);
    ``loads``: only these rho; ``retrain=False``: no retraining above the source N (the transferred models and the
    non-learned methods only: the cheap part of a stage)."""
    keep = check_axes(spec, sizes, loads, "crossover")
    heads = tuple({"head_bookkeeping_s": h} for h in spec.heads)
    exps: list[Experiment] = []

    def grid(*args: Any) -> None:
        exps.append(grid_experiment(spec, *args))

    for stage in spec.stages:
        for seed in spec.seeds:
            for rho in (r for r in spec.loads if loads is None or r in loads):
                for n in stage:
                    if n not in keep:
                        continue
                    here = point(spec, n, rho)
                    if n in spec.trained and (retrain or n == spec.source):
                        grid("trained", here, (), (*EDGE_LEARNED, *REFERENCES), seed, n)
                        grid("trained", here, heads, HEAD_METHODS, seed, n)
                    elif n in spec.trained:  # not retrained here: the non-learned methods still run at this N
                        grid("trained", here, (), REFERENCES, seed, n)
                        grid("trained", here, heads, ("CRL-greedy",), seed, n)
                    if n in spec.eval_n and rho in spec.eval_n[n] and n != spec.source:
                        source = point(spec, spec.source, rho)
                        grid("evaluated", source, (here,), EDGE_LEARNED, seed, n)
                        grid("evaluated", source, tuple({**here, **h} for h in heads), HEAD_LEARNED, seed, n)
                        if n not in spec.trained:  # the non-learned methods once per point
                            grid("evaluated", here, (), REFERENCES, seed, n)
                            grid("evaluated", here, heads, ("CRL-greedy",), seed, n)
    return tuple(exps)


CROSSOVER_PROFILES = ("crossover", "crossover-tiny")


def crossover_profile(name: str = "crossover", sizes: tuple[int, ...] | None = None,
                      rounds: int | None = None, loads: tuple[float, ...] | None = None,
                      retrain: bool = True) -> Profile:
    """The ``crossover`` profile (the map) or ``crossover-tiny``; ``sizes`` / ``loads``: only these N and rho (a
    stage, a part run first); ``rounds``: another training budget (a separate cache key: models trained at another
    budget are not reused); ``retrain=False``: no retraining above N = 20 (``experiments``)."""
    spec = map_spec(name)
    return Profile(name, rounds=rounds or spec.rounds, seeds=spec.seeds, eval_episodes=spec.eval_episodes,
                   eval_every=None, curve_seeds=(), report="crossover", hparams=spec.hparams,
                   learner_hparams=spec.learner_hparams, experiments=experiments(spec, sizes, loads, retrain))


def stage_sizes(name: str = "crossover") -> list[tuple[int, ...]]:
    """The cumulative sizes of each stage: ``[(20, 200), (20, 200, 2000), ...]``."""
    return cumulative_stages(map_spec(name).stages)


SLIM_DROP = ("checkpoint/replay.npz", "checkpoint/demos.npz", "tb")
"""What ``slim_models`` removes from a finished model directory: the replay buffer, the warm start's demonstrations
(``crl_idqn``) and the TensorBoard logs (none is read by evaluation; only a resumed training would need the buffers,
and a finished model is never resumed)."""


def slim_models(out: str | Path) -> int:
    """Remove ``SLIM_DROP`` from every finished model under ``out/cache/models`` (one with ``DONE``); returns the
    bytes freed. The committed cache then holds the policies (tens of kB each) but no buffers."""
    import shutil

    freed = 0
    for done in Path(out, "cache", "models").glob("*/DONE"):
        for rel in SLIM_DROP:
            path = done.parent / rel
            if path.is_dir():
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
            elif path.is_file():
                freed += path.stat().st_size
                path.unlink()
    return freed
