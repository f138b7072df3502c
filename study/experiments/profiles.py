"""The paper's comparison as data: methods, experiments and profiles (budgets), each a named entry.

Add your own experiment by adding an ``Experiment`` to a profile (or a profile to ``PROFILES``), or pass
``srole reproduce --profile FILE.yaml`` with the same fields (see ``load_profile``).

**One budget unit.** Every learned method (CRL at the head, MARL and SROLE at the edges) trains for
``Profile.rounds`` simulated decision rounds of the same cluster, at every N and every load: a round is
one env step of the simulator whatever the method's view (the head decides that round's tasks one by
one; the edge agents decide in parallel). Every method is evaluated on the same evaluation seeds.

**Learners and hyperparameters.** A learned method takes its algo and hyperparameters from the tuned
YAML (``study.experiments.tuning.load_tuned(method, scenario)``, the same Optuna budget for every method) when
one is committed for the scenario, and from the profile's defaults otherwise; ``summary.md`` says which.

**Methods** (names used everywhere; ``study.experiments.roster.ROSTER`` holds them with their roles):

* ``CRL``: the IDQN learner at the cluster head (algo ``crl_idqn``: each head decision credited with its own
  edge's rewards, as a MARL agent's), with MARL's tuned hyperparameters, the head's action mask and the
  cluster state the head collects; the paper's centralized baseline at its strongest. (``srole tune --method
  CRL`` chooses among ``crl_idqn``, ``crl_maskable_ppo`` and ``crl_dqn``; that study was not rerun for this
  round, and the committed ``CRL.yaml`` holds the older MaskablePPO study.)
* ``CRL-greedy``: the same head with a non-learned earliest-finish rule (``crl_greedy``), paying the same
  head latency: what the head achieves without learning.
* ``MARL``: per-edge learners without a shield (the same learner-selection procedure as SROLE's).
* ``SROLE-central`` / ``SROLE-decentralized``: the same learners behind the central / regional shields.
* ``SROLE-central-noprefs``: SROLE-central with the learner's preference order withheld from the shield
  (hyperparameter ``shield_preferences: false``): what the preferences add.
* ``least_loaded+central``, ``random+central``: heuristics behind the central shield: what the shield
  gives without learning.
* ``least_loaded``, ``random``, ``local``: heuristics without a shield.
* ``greedy-reference``: a full-knowledge greedy scheduler with no decision latency
  (``agents.baselines.greedy_reference``), a reference, not a bound.
* ``lower-bound``: every job alone on its fastest candidates (``references.bound``), tested never to be beaten.

**Experiments.** ``kind="methods"`` trains and evaluates ``methods`` at every sweep point;
``kind="shield_overhead"`` runs least-loaded play behind each shield and records decision latency and
messages; ``kind="sensitivity"`` evaluates the methods trained on ``base`` at each value of each model
assumption in ``assumptions`` (an evaluation-time sweep: the policies are not retrained per value);
``kind="grid"`` trains at ``base`` plus each mapping of ``grid`` (a cross product of fields, e.g. N x load) and
evaluates each trained model at that config plus each mapping of ``eval_grid`` (e.g. larger N, another head
service time; default: the training config itself).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srole_env.config import load_data_file
from study.experiments.roster import ABLATION, ALL, KEY_METHODS, METHOD_NAMES, METHODS, PAPER_LEARNED, Method, names

REPORTS = ("bootstrap", "paired", "regime", "crossover", "fair", "optimality")
"""The reports a profile can pick (``Profile.report``): the independent-bootstrap comparison, the paired comparison
over training seeds, the regime map, the crossover map, the fair map and the optimality study (their writers:
``study.reproduce.REPORTS``)."""


@dataclass(frozen=True)
class Experiment:
    """A grid of cluster configs (``base`` plus each value of ``sweep`` in turn) x methods x seeds.

    ``assumptions`` (``kind="sensitivity"`` only) maps a config field to the values to evaluate it at.
    """

    name: str
    base: Mapping[str, Any]
    sweep: str | None = None
    values: tuple[Any, ...] = ()
    methods: tuple[str, ...] = ()
    kind: str = "methods"
    regions: tuple[int, ...] = (2, 4)
    assumptions: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    episodes: int | None = None
    """Evaluation episodes per seed for this experiment (default: the profile's ``eval_episodes``)."""
    grid: tuple[Mapping[str, Any], ...] = ()
    """``kind="grid"``: training configs, each ``base`` plus one of these mappings (its fields form the point)."""
    eval_grid: tuple[Mapping[str, Any], ...] = ()
    """``kind="grid"``: evaluate each trained model at its training config plus each of these (default ``({},)``)."""
    seeds: tuple[int, ...] | None = None
    """Training seeds of this experiment (default: the profile's ``seeds``)."""
    eval_seed: int | None = None
    """The first evaluation episode's seed (episode ``e``: ``eval_seed + e``) whatever the training seed; None: the
    study's own, disjoint from training seeds (``study.experiments.plan.EVAL_SEED_OFFSET``)."""

    def __post_init__(self) -> None:
        if self.kind not in ("methods", "shield_overhead", "sensitivity", "grid"):
            raise ValueError(f"experiment {self.name}: kind must be methods, shield_overhead, sensitivity or grid, "
                             f"got {self.kind!r}")
        if self.kind == "grid" and not self.grid:
            raise ValueError(f"experiment {self.name}: a grid experiment needs grid points")
        unknown = [m for m in self.methods if m not in METHOD_NAMES]
        if unknown:
            raise ValueError(f"experiment {self.name}: unknown method(s) {unknown}; known: {list(METHOD_NAMES)}")
        if self.kind == "sensitivity" and not self.assumptions:
            raise ValueError(f"experiment {self.name}: a sensitivity experiment needs assumptions")
        if isinstance(self.assumptions, Mapping):  # from YAML: {field: [values]}
            object.__setattr__(self, "assumptions", tuple((k, tuple(v)) for k, v in self.assumptions.items()))

    def cells(self) -> list[dict[str, Any]]:
        """The cluster configs (dicts with ``scenario`` plus overrides) of the grid."""
        if self.sweep is None:
            return [dict(self.base)]
        return [{**self.base, self.sweep: value} for value in self.values]

    def describe_base(self) -> str:
        """The sweep's base scenario and N for titles, e.g. ``paper scenario, N=25, horizon 100``."""
        base = dict(self.base)
        from srole_env import make_config

        cfg = make_config(**base)
        parts = [f"{base.get('scenario', 'small')} scenario"]
        if self.sweep != "n_edges":
            parts.append(f"N={cfg.n_edges}")
        if self.sweep != "arrival_rate":
            parts.append(f"load {cfg.arrival_rate:g} jobs/s/edge")
        parts.append(f"horizon {cfg.horizon} rounds")
        return ", ".join(parts)


@dataclass(frozen=True)
class Profile:
    """Budgets and experiments of one reproduction run.

    ``rounds``: simulated decision rounds of training for every learned method. ``eval_every``: rounds
    between evaluations on the fixed ``curve_seeds`` during training (learning curves), ``curve_episodes``
    episodes each. ``hparams``: per-algo defaults used when no tuned YAML exists.
    """

    name: str
    rounds: int
    seeds: tuple[int, ...]
    eval_episodes: int
    experiments: tuple[Experiment, ...]
    marl_algo: str = "idqn"
    crl_algo: str = "crl_maskable_ppo"
    hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    eval_every: int | None = None
    curve_seeds: tuple[int, ...] = (900_000, 900_001)
    curve_episodes: int = 1
    jobs_experiment: str = "methods"
    """The experiment whose per-job JCTs are kept (the JCT distribution figure)."""
    learner_hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per algo, hyperparameters set on top of the tuned (or default) ones for every method using it: the
    profile's common choices (network size, learning-rate decay), the same for every learned method."""
    paired: bool = False
    """Report paired comparisons over training seeds, the ablation, per-run convergence and the replication
    check (``study.analysis.paired_report``) instead of the independent-bootstrap report."""
    tuned_root: str | None = None
    """Where its tuned YAMLs live (``<root>/<scenario>/<method>.yaml``); None: the package's ``tuned/``. With a root,
    every learned method reads its own study there first (``study.experiments.plan.resolve_learner``)."""
    report: str | None = None
    """The report this profile writes, one of ``REPORTS`` (``study.reproduce.REPORTS`` maps each to its writer); None:
    ``paired`` if ``paired`` else ``bootstrap``."""
    tuned_scenario: str | None = None
    """The scenario whose tuned YAMLs the learned methods read; None: their training config's scenario."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings of the offline methods and of the report: ``solver`` (``references.optimal.solve_offline``'s keyword
    arguments for an ``optimum`` method) and what the report says of the instances (the optimality study)."""

    def __post_init__(self) -> None:
        if self.paired and len(self.seeds) < 2:
            raise ValueError(f"profile {self.name}: a paired profile needs at least 2 seeds")
        for name in ("rounds", "eval_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"profile {self.name}: {name} must be a positive int, got {value!r}")
        if not self.seeds:
            raise ValueError(f"profile {self.name}: seeds must not be empty")
        if self.report is not None and self.report not in REPORTS:
            raise ValueError(f"profile {self.name}: report must be one of {list(REPORTS)}, got {self.report!r}")

    @property
    def report_name(self) -> str:
        """The key of ``REPORTS`` whose writer reports this profile."""
        return self.report or ("paired" if self.paired else "bootstrap")

    def methods(self) -> dict[str, Method]:
        """Method name -> Method."""
        return dict(METHODS)

    def default_algo(self, method: Method) -> str:
        """The profile's algo for a learned method (when no tuned YAML exists)."""
        return self.crl_algo if method.centralized else self.marl_algo


SWEEP = names(lambda m: m.name in KEY_METHODS and m.kind != "reference")
"""Methods of the scalability and load sweeps: the key methods but the greedy reference (the ablations run at the
methods experiment's point)."""
QUICK_SWEEP = names(lambda m: m.name in SWEEP and m.shield != "decentralized")
SENSITIVITY_METHODS = PAPER_LEARNED

SENSITIVITY_PAPER: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("oversubscription_efficiency", (None, 0.5, 0.75, 1.0)),
    ("memory_overcommit", ("oom_kill", "thrash")),
    ("checkpoint_interval_s", (None, 60.0, 600.0)),
    ("head_device", (None, "raspberry_pi4", "jetson_nano", "nuc_i7")),
    ("report_bytes", (2048.0, 65_536.0, 1_048_576.0)),
    ("n_edges", (50, 200, 1000)),
)
"""Each assumption that sets a collision's cost or the head's cost (``docs/reproducing.md``), with its values."""


def _experiments(horizon: int, n: int, sizes: tuple[int, ...], rates: tuple[float, ...],
                 overhead_sizes: tuple[int, ...], regions: tuple[int, ...], sweep_methods: tuple[str, ...],
                 sensitivity: tuple[tuple[str, tuple[Any, ...]], ...],
                 scenario: str = "paper", overhead_episodes: int | None = None) -> tuple[Experiment, ...]:
    base = {"scenario": scenario, "n_edges": n, "horizon": horizon}
    experiments = [
        Experiment("methods", base, methods=ALL),
        Experiment("scalability", base, sweep="n_edges", values=sizes, methods=sweep_methods),
        Experiment("load", base, sweep="arrival_rate", values=rates, methods=sweep_methods),
        Experiment("shield_overhead", base, sweep="n_edges", values=overhead_sizes, kind="shield_overhead",
                   regions=regions, episodes=overhead_episodes),
    ]
    if sensitivity:
        experiments.append(Experiment("sensitivity", base, methods=SENSITIVITY_METHODS, kind="sensitivity",
                                      assumptions=sensitivity))
    return tuple(experiments)


TINY_BASE = {"scenario": "small", "n_edges": 6, "horizon": 12, "arrival_rate": 0.02}
TINY_IDQN = {"learning_starts": 64, "eps_decay_rounds": 20, "batch_size": 16, "hidden": [16]}
DECISIVE_BASE = {"scenario": "paper", "n_edges": 20, "horizon": 50}
"""The cell the learners were tuned on (``study/experiments/tuned/paper``)."""
DECISIVE_LOADS = (0.0075, 0.015, 0.04)
"""Arrival rates (jobs/s/edge) at which ``least_loaded`` keeps the mean utilisation near 0.2, 0.5 and 0.75 on
``DECISIVE_BASE`` (measured: 0.20, 0.51, 0.76; its utilisation saturates near 0.78 however high the load)."""
DECISIVE_ROUNDS = 4_000
DECISIVE_IDQN = {"hidden": [64, 64]}
"""Common choice for every IDQN-family learner of the decisive profile: gradient steps dominate the cost, and
a 64x64 network reached the 128x128 one's JCT at 6,000 rounds (69.4 against about 71 s, MARL, one seed).
``DECISIVE_ROUNDS`` is what the 2-core budget allowed for 10 seeds x 3 loads; the convergence report says which
runs had not converged by then (most had not: a longer budget is the next step)."""
DECISIVE = names(lambda m: m.name in KEY_METHODS or (m.kind == "heuristic" and m.shield == "none"))
"""Methods of the decisive comparison at the base load: the key methods and every unshielded heuristic (the ablation
runs there too)."""
DECISIVE_BUSY = names(lambda m: m.name in DECISIVE and m.shield != "decentralized")
"""Methods at the busy loads: SROLE-decentralized is left out there for the 2-core budget (the regime map
covers it across loads)."""
REPLICATION = names(lambda m: m.srole or m.consults_head or m.headline > 0
                    or (m.policy == "least_loaded" and m.shield == "none"))
"""Methods of the replication on seeds 10-19: both SROLEs, the baselines their verdicts compare against, and
``least_loaded`` (the heuristic a learned baseline must beat)."""
OPTIMALITY = names(lambda m: m.name in DECISIVE_BUSY and m.kind != "bound")
"""Methods the optimality study (``study.experiments.optimality_profile``) runs on each small instance beside the
CP-SAT optimum: the decisive comparison's methods at its busy loads, the bound aside (the study has its own bounds)."""
FIRST = names(lambda m: m.key > 0 and not (m.kind == "heuristic" and m.shield != "none"))
"""Methods of the first run: the key methods but the heuristic behind the shield (CRL, MARL and both SROLEs with the
baselines their verdicts need)."""
PROFILES: dict[str, Profile] = {
    # The README's first command (the default profile): the decisive comparison's base-load cell, paired, at half
    # its budget and seeds, in minutes on 2 cores; ``--profile paper`` is the paper-scale run.
    "first": Profile(
        "first", rounds=DECISIVE_ROUNDS // 2, seeds=(0, 1, 2, 3, 4), eval_episodes=10, eval_every=500,
        curve_seeds=(900_000,), curve_episodes=2,
        learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN}, paired=True,
        experiments=(
            Experiment("methods", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[:1], methods=FIRST),
        ),
    ),
    "tiny": Profile(  # tests: seconds
        "tiny", rounds=40, seeds=(0, 1), eval_episodes=1, eval_every=20, curve_seeds=(900_000,),
        hparams={"idqn": TINY_IDQN, "crl_idqn": TINY_IDQN},
        experiments=(
            Experiment("methods", TINY_BASE, methods=ALL),
            Experiment("scalability", TINY_BASE, sweep="n_edges", values=(4, 6),
                       methods=("MARL", "SROLE-central", "least_loaded", "lower-bound")),
            Experiment("load", TINY_BASE, sweep="arrival_rate", values=(0.005, 0.01),
                       methods=("MARL", "SROLE-decentralized", "lower-bound")),
            Experiment("shield_overhead", TINY_BASE, sweep="n_edges", values=(10, 20), kind="shield_overhead",
                       regions=(2,)),
            Experiment("sensitivity", TINY_BASE, methods=("MARL", "SROLE-central"), kind="sensitivity",
                       assumptions=(("report_bytes", (2048.0, 1_048_576.0)), ("n_edges", (6, 12)))),
        ),
    ),
    # Every experiment kind at a small budget: 16 min of compute, 8 min wall on 2 quiet cores (docs/benchmarks.md).
    "quick": Profile(
        "quick", rounds=2000, seeds=(0, 1, 2, 3, 4), eval_episodes=10, eval_every=250, curve_seeds=(900_000,),
        experiments=_experiments(
            horizon=50, n=20, sizes=(10, 20, 40), rates=(0.004, 0.0075, 0.011), overhead_sizes=(10, 50, 200, 1000),
            regions=(2, 4, 16), sweep_methods=QUICK_SWEEP, overhead_episodes=1,
            sensitivity=(("oversubscription_efficiency", (None, 0.5)), ("memory_overcommit", ("oom_kill", "thrash")),
                         ("head_device", (None, "raspberry_pi4")), ("report_bytes", (2048.0, 1_048_576.0)),
                         ("n_edges", (20, 200))),
        ),
    ),
    # The decisive comparison (docs/results-paper.md): paired over 10 training seeds at three loads (retrained at each)
    # and the shield's factorial ablation; replication on seeds 0-4 against 5-9.
    "paper": Profile(
        "paper", rounds=DECISIVE_ROUNDS, seeds=tuple(range(10)), eval_episodes=10,
        eval_every=250, curve_seeds=(900_000,), curve_episodes=5,
        learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN}, paired=True,
        experiments=(
            Experiment("methods", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[:1], methods=DECISIVE),
            Experiment("methods-busy", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[1:],
                       methods=DECISIVE_BUSY),
            Experiment("ablation", DECISIVE_BASE, methods=ABLATION),
        ),
    ),
    # The decisive comparison again on disjoint training seeds 10-19 (METHODS rule 10): the methods its verdicts
    # compare and the ablation, the same budget, loads and hyperparameters;
    # ``study.analysis.paired_tables.replication_across`` sets its verdicts beside the ``paper`` run's.
    "paper-replication": Profile(
        "paper-replication", rounds=DECISIVE_ROUNDS, seeds=tuple(range(10, 20)), eval_episodes=10,
        eval_every=250, curve_seeds=(900_000,), curve_episodes=5,
        learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN}, paired=True,
        experiments=(
            Experiment("methods", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[:1],
                       methods=REPLICATION),
            Experiment("methods-busy", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[1:],
                       methods=tuple(m for m in REPLICATION if m != "SROLE-decentralized")),
            Experiment("ablation", DECISIVE_BASE, methods=ABLATION),
        ),
    ),
    # The base load of the decisive comparison at 4x the budget, on the same seeds and evaluation episodes: whether
    # the runs converge given more rounds, and whether the verdicts change when they do.
    "paper-long": Profile(
        "paper-long", rounds=4 * DECISIVE_ROUNDS, seeds=tuple(range(10)), eval_episodes=10,
        eval_every=500, curve_seeds=(900_000,), curve_episodes=5,
        learner_hparams={"idqn": DECISIVE_IDQN, "crl_idqn": DECISIVE_IDQN}, paired=True,
        experiments=(
            Experiment("methods", DECISIVE_BASE, sweep="arrival_rate", values=DECISIVE_LOADS[:1],
                       methods=REPLICATION),
        ),
    ),
    "paper-tiny": Profile(  # tests: the paired report end to end in seconds
        "paper-tiny", rounds=40, seeds=(0, 1, 2, 3), eval_episodes=2, eval_every=10, curve_seeds=(900_000,),
        curve_episodes=1, paired=True,
        hparams={"idqn": TINY_IDQN, "crl_idqn": TINY_IDQN}, learner_hparams={"idqn": {"lr_end_fraction": 0.5}},
        experiments=(
            Experiment("methods", TINY_BASE, sweep="arrival_rate", values=(0.01, 0.03),
                       methods=("MARL", "SROLE-central", "CRL-greedy", "least_loaded", "lower-bound")),
            Experiment("ablation", TINY_BASE, methods=ABLATION),
        ),
    ),
    "full": Profile(  # the round-2 full budgets over every experiment kind: hours
        "full", rounds=20_000, seeds=tuple(range(10)), eval_episodes=20, eval_every=1000,
        curve_seeds=(900_000, 900_001, 900_002), curve_episodes=1,
        experiments=_experiments(
            horizon=200, n=50, sizes=(10, 25, 50, 100), rates=(0.004, 0.006, 0.0075, 0.009, 0.011),
            overhead_sizes=(10, 50, 100, 500, 1000, 5000), regions=(2, 4, 8, 16), sweep_methods=SWEEP,
            sensitivity=SENSITIVITY_PAPER,
        ),
    ),
}

LAZY_PROFILES = ("regime", "regime-tiny")
"""Profiles built on demand (``study.experiments.regime_profile.regime_profile``): the regime map
(``docs/ceiling.md``)."""


def load_profile(name_or_path: str) -> Profile:
    """A named profile, or one from a YAML/JSON file with the ``Profile`` fields (experiments as mappings).

    A file is checked whole before anything runs (``study.experiments.validate``): unknown keys, wrong types and
    out-of-range values, every cluster config its cells build and the hyperparameters of each algo; the
    ``ValueError`` names the file, the key and the reason."""
    from study.experiments.validate import check_profile, check_profile_file

    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"profile: a profile name or a file path, got {name_or_path!r}")
    name_or_path = str(name_or_path)
    if name_or_path in PROFILES:
        return PROFILES[name_or_path]
    if name_or_path in LAZY_PROFILES:  # built by study.experiments.regime_profile (which imports this module), not here
        raise ValueError(f"profile: {name_or_path!r} is built by study.experiments.regime_profile.regime_profile "
                         "(srole reproduce and scripts/experiments/regime_map.py resolve it)")
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"profile: unknown profile {name_or_path!r}; choose one of {sorted(PROFILES)} or a file")
    data = load_data_file(path)  # a malformed file: ValueError naming it and the line
    if data is None:
        raise ValueError(f"profile {path}: the file is empty; it must hold a mapping of Profile fields")
    if not isinstance(data, dict):
        raise ValueError(f"profile {path}: must hold a mapping of Profile fields, got {type(data).__name__}")
    check_profile_file(data, path, [f.name for f in dataclasses.fields(Profile)],
                       [f.name for f in dataclasses.fields(Experiment)], METHOD_NAMES)
    data = dict(data)
    try:
        experiments = tuple(
            Experiment(**{k: tuple(v) if isinstance(v, list) else v for k, v in e.items()})
            for e in data.pop("experiments", [])
        )
        for key in ("seeds", "curve_seeds"):
            if key in data:
                data[key] = tuple(data[key])
        if "seeds" not in data:
            data["seeds"] = (0,)
        profile = Profile(experiments=experiments, **{"name": path.stem, **data})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"profile {path}: {exc}") from exc
    check_profile(profile, path)
    return profile


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """A JSON-serialisable form of ``profile`` (written beside the results)."""
    return dataclasses.asdict(profile)
