"""The fair map's profiles: the paper's question under one cost model for every request a host serves (METHODS rule
16): cluster size N x offered load rho x ``request_s``, every method at every point; ``study.analysis.fair_report``
reads the rows.

**Axes.** N = 20, 200, 2,000, 10,000, 50,000 (50,000 at rho 0.8 only, cost); rho = 0.2, 0.5, 0.8; ``request_s`` (the
ASSUMED per-request part of ``srole_env.core.host_cost``, ``docs/host_cost.md``) = 0, 1, 3, 10, 30 ms, applied through
the one config field to the cluster head's decisions (CRL, CRL-greedy) and to every shield host's checks (SROLE-central,
SROLE-decentralized, least_loaded+central) alike; the measured compute per request (``request_compute``) is on. The
methods that use no host (MARL, least_loaded, greedy-reference) are evaluated once per (N, rho) and paired with the
host methods at each ``request_s``. Learned methods train at ``TRAIN_REQUEST_S`` (1 ms, the low end of Kubernetes'
measured per-pod times) and are evaluated at every ``request_s`` (not retrained per value, as the crossover map).

**Tuning.** Learned methods read ``study/experiments/tuned_fair/paper/`` (equal budgets, each method its own study;
``Profile.tuned_root``); a method without its own YAML there (CRL until its study ends) falls back to ``tune_as``'s
(MARL's), and the run's ``learners`` say so (``FALLBACK``; ``tuning_notes`` lists it before the run).

**Transfer.** Models trained at N = 20 run unchanged at every larger N (policy ``transferred``) and are retrained at
N = 200 and 2,000 (``retrained``), side by side there.

**Seeds.** ``SEEDS`` (0-4) everywhere, ``CITED_SEEDS`` (0-9) at ``CITED`` (the points the README's reading
cites): the seed sets are data of the profile (``FairSpec.seeds_at``, ``FairSpec.halves``), so the verdicts there
are checked on both halves (0-4 against 5-9). The other axes, regions, horizon and stage order are the crossover map's
(``study.experiments.crossover_profile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.experiments.crossover_profile import (
    HORIZON,
    LOADS,
    SIZES,
    STAGES,
    MapAxes,
    check_axes,
    cumulative_stages,
    grid_experiment,
    point,
)
from study.experiments.profiles import DECISIVE_IDQN, DECISIVE_ROUNDS, Experiment, Profile
from study.experiments.roster import METHODS, names

TUNED_FAIR = Path(__file__).resolve().parent / "tuned_fair"
"""The fair map's tuned set (``study/experiments/tuned_fair/README.md``)."""

ALL_METHODS = names(lambda m: m.key > 0 and m.kind != "bound", order=lambda m: m.key)
"""CRL, CRL-greedy, MARL, SROLE-central, SROLE-decentralized, least_loaded, least_loaded+central, greedy-reference."""
HOST_METHODS = names(lambda m: m.name in ALL_METHODS and (m.consults_head or m.shield != "none"),
                     order=lambda m: m.key)
"""Methods whose decisions or checks a host serves: evaluated at every ``request_s``."""
FREE_METHODS = tuple(m for m in ALL_METHODS if m not in HOST_METHODS)
"""Methods no host serves (MARL, least_loaded, greedy-reference): evaluated once per (N, rho)."""
LEARNED = names(lambda m: m.name in ALL_METHODS and m.learned)
REQUESTS = (0.0, 0.001, 0.003, 0.01, 0.03)
"""``request_s`` swept (seconds per request on a server core, ``docs/host_cost.md``): the measured compute alone,
then Kubernetes' ``scheduler_perf`` range (about 1-3 ms per pod at 500-5,000 nodes) to past the head's saturation."""
TRAIN_REQUEST_S = 0.001
"""``request_s`` the learned methods train at (ASSUMPTION: the low end of the measured per-pod times)."""
SEEDS = (0, 1, 2, 3, 4)
CITED_SEEDS = tuple(range(10))
CITED: tuple[tuple[int, float], ...] = ((200, 0.2), (200, 0.5), (200, 0.8), (2000, 0.5), (2000, 0.8),
                                        (10_000, 0.5), (10_000, 0.8), (50_000, 0.8))
"""(N, rho) points the README's reading may cite: 10 seeds there (the report flags a cited figure with fewer). The
sizes around the head's saturation at the loads where it is reached within the map (``docs/host_cost.md``'s
first-order table) and N = 200, where transfer and retraining stand side by side."""
EVAL_N: dict[int, tuple[float, ...]] = {200: LOADS, 2000: LOADS, 10_000: LOADS, 50_000: (0.8,)}
TRAINED_N = (20, 200, 2000)
CURVE = (500, (900_000,), 5)
"""Every training's learning curve: 5 episodes on a fixed seed every 500 rounds, 8 points over 4,000 rounds, so the
convergence test (``agents.harness.convergence.flatness``: the last third, at least 4 points of at least 5
episodes) reads the last 4."""


@dataclass(frozen=True, kw_only=True)
class FairSpec(MapAxes):
    """The axes, seed sets and budgets of one fair-map profile: the map's, the ``request_s`` sweep and its training
    value, and the cited points with their seeds."""

    requests: tuple[float, ...]
    train_request_s: float
    cited_seeds: tuple[int, ...]
    cited: tuple[tuple[int, float], ...]
    curve: tuple[int, tuple[int, ...], int] | None = None
    """Learning curves of every training (METHODS rule 4): ``(eval_every, curve_seeds, curve_episodes)``."""

    def __post_init__(self) -> None:
        if len(self.requests) < 4:
            raise ValueError(f"fair map: at least 4 request_s values are needed, got {list(self.requests)}")
        if not set(self.seeds) <= set(self.cited_seeds):
            raise ValueError("fair map: the cited points' seeds must include every other point's seeds")
        for n, rho in self.cited:
            if not self.runs(n, rho):
                raise ValueError(f"fair map: cited point N={n} rho {rho} is not a point of the map")

    def runs(self, n: int, rho: float) -> bool:
        """Whether (N, rho) is a point of the map (trained there, or the source models evaluated there)."""
        return rho in self.loads and (n in self.trained or rho in self.eval_n.get(n, ()))

    def seeds_at(self, n: int, rho: float) -> tuple[int, ...]:
        """The training seeds evaluated at (N, rho): ``cited_seeds`` at a cited point, else ``seeds``."""
        return self.cited_seeds if (n, rho) in self.cited else self.seeds

    def halves(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The two disjoint seed halves a cited point's verdicts are replicated on: ``seeds`` and the rest."""
        return self.seeds, tuple(s for s in self.cited_seeds if s not in self.seeds)

    def source_seeds(self, rho: float) -> tuple[int, ...]:
        """Seeds the source N's models are needed for at load rho (the most any point of that load uses)."""
        return max((self.seeds_at(n, rho) for n in self.sizes if self.runs(n, rho)), key=len)


TINY_REQUEST_S = (0.0, 0.01, 0.3, 2.0)
"""``fair-map-tiny``'s sweep: the last slow enough that the tiny cluster's head and central shield saturate."""


def fair_spec(name: str = "fair-map") -> FairSpec:
    """The axes of ``fair-map`` (the map) or ``fair-map-tiny`` (tests: seconds)."""
    if name == "fair-map":
        return FairSpec(base={"scenario": "paper", "request_compute": True}, sizes=SIZES, loads=LOADS,
                        trained=TRAINED_N, source=20, eval_n=EVAL_N, requests=REQUESTS,
                        train_request_s=TRAIN_REQUEST_S, seeds=SEEDS, cited_seeds=CITED_SEEDS, cited=CITED,
                        horizon=HORIZON, rounds=DECISIVE_ROUNDS, eval_episodes=2, large_episodes=1, large_from=2000,
                        stages=STAGES, learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN},
                        curve=CURVE)
    if name == "fair-map-tiny":
        tiny_idqn = {"learning_starts": 48, "eps_decay_rounds": 12, "batch_size": 16, "hidden": [16]}
        return FairSpec(base={"scenario": "small", "request_compute": True}, sizes=(6, 12), loads=(0.8,),
                        trained=(6, 12), source=6, eval_n={12: (0.8,)}, requests=TINY_REQUEST_S,
                        train_request_s=0.01, seeds=(0, 1, 2), cited_seeds=tuple(range(6)), cited=((12, 0.8),),
                        horizon={0.8: 16}, rounds=12, eval_episodes=1, large_episodes=1, large_from=12,
                        stages=((6, 12),), hparams={"idqn": tiny_idqn, "crl_idqn": tiny_idqn},
                        curve=(3, (900_000,), 1))
    raise ValueError(f"profile: unknown fair-map profile {name!r}; choose one of {list(FAIR_PROFILES)}")


FAIR_PROFILES = ("fair-map", "fair-map-tiny")


def experiments(spec: FairSpec, sizes: tuple[int, ...] | None = None, loads: tuple[float, ...] | None = None,
                retrain: bool = True) -> tuple[Experiment, ...]:
    """The map's experiments in the order they run: stage, seed, load (a run cut short keeps whole seeds of every
    method at the cheap points first). ``sizes`` / ``loads``: only these; ``retrain=False``: no retraining above the
    source N. Learned host methods train at ``train_request_s`` and are evaluated at every ``request_s``."""
    keep = check_axes(spec, sizes, loads, "fair map")
    host_learned = tuple(m for m in HOST_METHODS if METHODS[m].learned)
    host_fixed = tuple(m for m in HOST_METHODS if not METHODS[m].learned)
    free_learned = tuple(m for m in FREE_METHODS if METHODS[m].learned)
    free_fixed = tuple(m for m in FREE_METHODS if not METHODS[m].learned)
    exps: list[Experiment] = []

    def grid(*args: Any) -> None:
        exps.append(grid_experiment(spec, *args))

    every = spec.cited_seeds
    for stage in spec.stages:
        for seed in every:
            for rho in (r for r in spec.loads if loads is None or r in loads):
                for n in stage:
                    if n not in keep or not spec.runs(n, rho):
                        continue
                    here = point(spec, n, rho)
                    reqs = tuple({**here, "request_s": r} for r in spec.requests)
                    trained_here = {**here, "request_s": spec.train_request_s}
                    if seed in spec.seeds_at(n, rho):
                        if n in spec.trained and (retrain or n == spec.source):
                            grid("trained", here, (), (*free_learned, *free_fixed), seed, n)
                            grid("trained", trained_here, reqs, host_learned, seed, n)
                            grid("trained", here, reqs, host_fixed, seed, n)
                        else:  # the non-learned methods once per point
                            grid("evaluated", here, (), free_fixed, seed, n)
                            grid("evaluated", here, reqs, host_fixed, seed, n)
                        if n != spec.source and rho in spec.eval_n.get(n, ()):
                            source = point(spec, spec.source, rho)
                            grid("evaluated", source, (here,), free_learned, seed, n)
                            grid("evaluated", {**source, "request_s": spec.train_request_s}, reqs, host_learned,
                                 seed, n)
                    elif n == spec.source and seed in spec.source_seeds(rho):  # models larger N's seeds need
                        grid("trained", here, (), free_learned, seed, n)
                        grid("trained", trained_here, reqs, host_learned, seed, n)
    return tuple(exps)


def fair_profile(name: str = "fair-map", sizes: tuple[int, ...] | None = None, rounds: int | None = None,
                 loads: tuple[float, ...] | None = None, retrain: bool = True) -> Profile:
    """The ``fair-map`` profile or ``fair-map-tiny``; ``sizes`` / ``loads``: only these N and rho (a stage);
    ``rounds``: another training budget (a separate cache key); ``retrain=False``: no retraining above the source N."""
    spec = fair_spec(name)
    return Profile(name, rounds=rounds or spec.rounds, seeds=spec.cited_seeds, eval_episodes=spec.eval_episodes,
                   eval_every=spec.curve[0] if spec.curve else None,
                   curve_seeds=spec.curve[1] if spec.curve else (),
                   curve_episodes=spec.curve[2] if spec.curve else 1, report="fair", hparams=spec.hparams,
                   learner_hparams=spec.learner_hparams, tuned_root=str(TUNED_FAIR),
                   experiments=experiments(spec, sizes, loads, retrain))


def stage_sizes(name: str = "fair-map") -> list[tuple[int, ...]]:
    """The cumulative sizes of each stage: ``[(20, 200), (20, 200, 2000), ...]``."""
    return cumulative_stages(fair_spec(name).stages)


def tuning_notes(scenario: str = "paper") -> list[str]:
    """One line per learned method: which tuned YAML of ``TUNED_FAIR`` it uses (its own, or a FALLBACK)."""
    from study.experiments.tuning import tuned_path

    out = []
    for m in LEARNED:
        method = METHODS[m]
        own = tuned_path(m, scenario, TUNED_FAIR)
        if own.is_file():
            out.append(f"{m}: its own study ({own.name})")
        elif method.tune_as and tuned_path(method.tune_as, scenario, TUNED_FAIR).is_file():
            out.append(f"{m}: FALLBACK to {method.tune_as}'s study (no {own.name} in tuned_fair yet)")
        else:
            out.append(f"{m}: FALLBACK to the profile's defaults (no tuned YAML in tuned_fair)")
    return out
