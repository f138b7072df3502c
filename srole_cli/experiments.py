"""The paper's comparison as data: methods, experiments and profiles (budgets), each a named entry.

Add your own experiment by adding an ``Experiment`` to a profile (or a profile to ``PROFILES``), or pass
``srole reproduce --spec FILE.yaml`` with the same fields (see ``load_profile``).

Budget parity: every learned method gets the same ``timesteps``: agent-steps (rounds x N) for MARL and
SROLE, head decisions for CRL. A head decision is made only for an edge with a pending task, while MARL
agent-steps include idle agents' steps, so at equal timesteps CRL sees more simulated rounds, which
favours CRL. Every method is evaluated on the same evaluation seeds (the same clusters and job arrivals).

MARL and SROLE use the same learner (IDQN by default: in the learner comparison on `small` it was the
strongest both without and behind a shield); CRL uses SB3 PPO on the cluster head's env.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Method:
    """One scheduler of the comparison: a learned ``algo`` (trained first), a heuristic, or the oracle."""

    name: str
    kind: str  # "learned", "heuristic" or "oracle"
    algo: str | None = None  # learned: an agents.registry algo
    policy: str | None = None  # heuristic: an agents.heuristics name
    shield: str = "none"

    def __post_init__(self) -> None:
        if self.kind not in ("learned", "heuristic", "oracle"):
            raise ValueError(f"method {self.name}: kind must be learned, heuristic or oracle, got {self.kind!r}")
        if self.kind == "learned" and not self.algo:
            raise ValueError(f"method {self.name}: a learned method needs an algo")
        if self.kind == "heuristic" and not self.policy:
            raise ValueError(f"method {self.name}: a heuristic method needs a policy")


def paper_methods(marl_algo: str = "idqn", crl_algo: str = "crl_ppo") -> dict[str, Method]:
    """The methods of the paper's comparison, plus heuristics and the oracle bound."""
    return {
        m.name: m
        for m in (
            Method("CRL", "learned", algo=crl_algo),
            Method("MARL", "learned", algo=marl_algo),
            Method("SROLE-central", "learned", algo=marl_algo, shield="central"),
            Method("SROLE-decentralized", "learned", algo=marl_algo, shield="decentralized"),
            Method("random", "heuristic", policy="random"),
            Method("local", "heuristic", policy="local"),
            Method("least_loaded", "heuristic", policy="least_loaded"),
            Method("round_robin", "heuristic", policy="round_robin"),
            Method("oracle", "oracle"),
        )
    }


@dataclass(frozen=True)
class Experiment:
    """A grid of cluster configs (``base`` plus each value of ``sweep`` in turn) x methods x seeds.

    ``kind="methods"`` trains/evaluates ``methods`` in every cell; ``kind="shield_overhead"`` runs the
    ``least_loaded`` heuristic behind each shield in every cell (with ``regions`` region counts for the
    decentralized one) and records decision latency and messages.
    """

    name: str
    base: dict[str, Any]
    sweep: str | None = None
    values: tuple[Any, ...] = ()
    methods: tuple[str, ...] = ()
    kind: str = "methods"
    regions: tuple[int, ...] = (2, 4)

    def cells(self) -> list[dict[str, Any]]:
        """The cluster configs (dicts with ``scenario`` plus overrides) of the grid."""
        if self.sweep is None:
            return [dict(self.base)]
        return [{**self.base, self.sweep: value} for value in self.values]


@dataclass(frozen=True)
class Profile:
    """Budgets and experiments of one reproduction run."""

    name: str
    timesteps: int
    seeds: tuple[int, ...]
    eval_episodes: int
    experiments: tuple[Experiment, ...]
    marl_algo: str = "idqn"
    crl_algo: str = "crl_ppo"
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Optional per-algo hyperparameters (the same for every method using that algo)."""

    def methods(self) -> dict[str, Method]:
        """Method name -> Method for this profile's algorithms."""
        return paper_methods(self.marl_algo, self.crl_algo)


ALL = ("CRL", "MARL", "SROLE-central", "SROLE-decentralized", "random", "local", "least_loaded", "round_robin",
       "oracle")
CORE = ("CRL", "MARL", "SROLE-central", "SROLE-decentralized", "least_loaded", "oracle")


def _experiments(horizon: int, sizes: tuple[int, ...], load_n: int, rates: tuple[float, ...],
                 overhead_sizes: tuple[int, ...], regions: tuple[int, ...]) -> tuple[Experiment, ...]:
    paper = {"scenario": "paper", "horizon": horizon}
    return (
        Experiment("methods", paper, methods=ALL),
        Experiment("scalability", paper, sweep="n_edges", values=sizes, methods=CORE),
        Experiment("load", {**paper, "n_edges": load_n}, sweep="arrival_rate", values=rates, methods=CORE),
        Experiment("shield_overhead", paper, sweep="n_edges", values=overhead_sizes, kind="shield_overhead",
                   regions=regions),
    )


PROFILES: dict[str, Profile] = {
    "tiny": Profile(  # smoke test: seconds
        "tiny", timesteps=600, seeds=(0,), eval_episodes=1,
        experiments=(
            Experiment("methods", {"scenario": "small", "horizon": 12}, methods=ALL),
            Experiment("scalability", {"scenario": "small", "horizon": 12}, sweep="n_edges", values=(6, 10),
                       methods=("MARL", "SROLE-central", "oracle")),
            Experiment("load", {"scenario": "small", "horizon": 12}, sweep="arrival_rate", values=(0.005, 0.01),
                       methods=("MARL", "SROLE-decentralized")),
            Experiment("shield_overhead", {"scenario": "small", "horizon": 12}, sweep="n_edges", values=(10, 20),
                       kind="shield_overhead", regions=(2,)),
        ),
    ),
    "quick": Profile(  # the README's main command: <= 10 minutes on 2 cores
        "quick", timesteps=30_000, seeds=(0, 1), eval_episodes=2,
        experiments=_experiments(horizon=100, sizes=(10, 25, 50), load_n=25, rates=(0.004, 0.0075, 0.011),
                                 overhead_sizes=(10, 50, 200, 1000), regions=(2, 4, 16)),
    ),
    "paper": Profile(  # the full budgets: hours
        "paper", timesteps=1_000_000, seeds=(0, 1, 2, 3, 4), eval_episodes=5,
        experiments=_experiments(horizon=500, sizes=(10, 25, 50, 100), load_n=50,
                                 rates=(0.004, 0.006, 0.0075, 0.009, 0.011),
                                 overhead_sizes=(10, 50, 100, 500, 1000, 5000), regions=(2, 4, 8, 16)),
    ),
}


def load_profile(name_or_path: str) -> Profile:
    """A named profile, or one from a YAML/JSON file with the ``Profile`` fields (experiments as mappings)."""
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(f"profile: unknown profile {name_or_path!r}; choose one of {sorted(PROFILES)} or a file")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"profile: {path} must hold a mapping of Profile fields")
    try:
        experiments = tuple(
            Experiment(**{k: tuple(v) if isinstance(v, list) else v for k, v in e.items()})
            for e in data.pop("experiments", [])
        )
        data["seeds"] = tuple(data.get("seeds", (0,)))
        return Profile(experiments=experiments, **{"name": path.stem, **data})
    except TypeError as exc:
        raise ValueError(f"profile: {path}: {exc}") from exc


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """A JSON-serialisable form of ``profile`` (written beside the results)."""
    return dataclasses.asdict(profile)
