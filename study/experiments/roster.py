"""The one roster: every method of the comparison, each with its roles; every list of methods is a filter over it.

A method's *roles* say where the study uses it (``Method``): whether it learns, consults the cluster head, is one of
SROLE's configurations, is a baseline SROLE is compared against (and one of the paper's two, ``headline``), and its
row among the key methods the README's results table shows. A new method is one ``Method`` in ``ROSTER``: every table,
sweep and report that shows methods of its roles picks it up. The methods themselves are described in
``study.experiments.profiles``; the lists below are the study's only lists of method names (a test greps ``study/``
and ``scripts/`` for others).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("learned", "heuristic", "reference", "bound", "fluid-bound", "optimum")
"""What a method runs (``study.experiments.episodes.run_episodes``): a trained policy, a heuristic, the greedy
reference, the lower bound, the fluid LP bound, the CP-SAT optimum of the contention-free schedule class."""
OFFLINE_KINDS = ("fluid-bound", "optimum")
"""Kinds computed offline from a whole episode (a solver per episode): only the optimality study runs them."""


@dataclass(frozen=True)
class Method:
    """One scheduler of the comparison, with its roles.

    ``learned`` methods train ``algo`` (``hparams`` added to the learner's) and are evaluated behind
    ``shield``; ``heuristic`` ones evaluate ``policy`` (an ``agents.harness.evaluate`` policy name) behind ``shield``;
    ``reference`` is the greedy reference and ``bound`` the derived lower bound; ``fluid-bound`` and ``optimum``
    (``OFFLINE_KINDS``) solve the whole episode (``hparams`` of an ``optimum``: ``time_limit_factor``, a multiple of
    the profile's solver time limit). ``tune_as`` names the method whose tuned YAML this one uses (an ablation
    shares its parent's tuning).
    """

    name: str
    kind: str
    algo: str | None = None
    policy: str | None = None
    shield: str = "none"
    hparams: Mapping[str, Any] = field(default_factory=dict)
    tune_as: str | None = None
    centralized: bool = False
    """Schedules at the cluster head (CRL): the head env's algo default applies."""
    eval_shields: tuple[str, ...] = ()
    """Evaluate the trained model behind each of these shields (rows named ``<name> [eval <shield>]``) instead
    of behind its training shield: the factorial ablation's {trained without, with} x {evaluated without, with}."""
    consults_head: bool = False
    """Role: its decisions wait in the cluster head's queue (CRL, CRL-greedy): evaluated at every head service time."""
    srole: bool = False
    """Role: one of SROLE's configurations, compared against the baselines."""
    baseline: bool = False
    """Role: SROLE is compared against it in the independent-bootstrap report."""
    paired: bool = False
    """Role: SROLE is compared against it in the paired comparison over training seeds."""
    headline: int = 0
    """Role: the paper's baselines, at this place in the paper's order (1 = MARL, 2 = CRL); 0 for the others."""
    key: int = 0
    """Role: one of the comparison's key methods, at this row of the tables that show only them (the README's
    results table, the crossover map); 0 for the others."""
    counterpart: str | None = None
    """Role (learned methods): the non-learned method with the same or less information that it must not lose to
    (METHODS rule 9)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "heuristic" and not self.policy:
            raise ValueError(f"method {self.name}: a heuristic method needs a policy")
        if self.eval_shields and self.kind != "learned":
            raise ValueError(f"method {self.name}: eval_shields applies to learned methods only")
        if self.counterpart is not None and self.kind != "learned":
            raise ValueError(f"method {self.name}: a counterpart applies to learned methods only")

    @property
    def learned(self) -> bool:
        return self.kind == "learned"

    @property
    def offline(self) -> bool:
        """Computed offline from the whole episode (the optimality study's optimum and fluid LP bound)."""
        return self.kind in OFFLINE_KINDS

    @property
    def ablation(self) -> bool:
        """A cell of the shield's factorial ablation (evaluated behind several shields)."""
        return bool(self.eval_shields)


ROSTER: tuple[Method, ...] = (
    Method("CRL", "learned", algo="crl_idqn", tune_as="MARL", centralized=True, consults_head=True, baseline=True,
           paired=True, headline=2, key=1, counterpart="CRL-greedy"),
    Method("CRL-greedy", "heuristic", policy="crl_greedy", consults_head=True, baseline=True, paired=True, key=2),
    Method("MARL", "learned", baseline=True, paired=True, headline=1, key=3, counterpart="least_loaded"),
    Method("SROLE-central", "learned", shield="central", srole=True, key=4, counterpart="least_loaded+central"),
    Method("SROLE-decentralized", "learned", shield="decentralized", srole=True, key=5),
    Method("SROLE-central-noprefs", "learned", shield="central", hparams={"shield_preferences": False},
           tune_as="SROLE-central", baseline=True),
    Method("least_loaded+central", "heuristic", policy="least_loaded", shield="central", baseline=True, paired=True,
           key=7),
    Method("random+central", "heuristic", policy="random", shield="central", baseline=True),
    Method("least_loaded", "heuristic", policy="least_loaded", baseline=True, paired=True, key=6),
    Method("random", "heuristic", policy="random", baseline=True),
    Method("local", "heuristic", policy="local", baseline=True),
    Method("greedy-reference", "reference", baseline=True, paired=True, key=8),
    Method("lower-bound", "bound", key=9),
    Method("ABL-trained-none", "learned", tune_as="MARL", eval_shields=("none", "central")),
    Method("ABL-trained-central", "learned", shield="central", tune_as="MARL", eval_shields=("none", "central")),
    Method("optimal", "optimum"),
    Method("optimal-longer", "optimum", hparams={"time_limit_factor": 3}),
    Method("fluid-lp-bound", "fluid-bound"),
)
"""Every method of the comparison, in table order (the order of every table that shows all methods)."""

METHODS: dict[str, Method] = {m.name: m for m in ROSTER}
"""Method name -> Method (learned methods' algos are placeholders, resolved per profile and scenario)."""


def names(keep: Callable[[Method], bool] = lambda m: True, order: Callable[[Method], Any] | None = None,
          among: Iterable[Method] = ROSTER) -> tuple[str, ...]:
    """The names of the methods ``keep`` accepts, in roster order (or sorted by ``order``, ties in roster order)."""
    kept = [m for m in among if keep(m)]
    return tuple(m.name for m in (sorted(kept, key=order) if order else kept))


def paper_first(method: Method) -> tuple[int, int]:
    """Sort key: the paper's baselines first in the paper's order (MARL, CRL), then the rest in roster order."""
    return (0, method.headline) if method.headline else (1, 0)


METHOD_NAMES = names()
"""Every method of the comparison, in table order."""
LEARNED = names(lambda m: m.learned)
ABLATION = names(lambda m: m.ablation)
"""The factorial ablation of the shield: one learner and one set of hyperparameters (MARL's tuned values),
trained without / behind the central shield, each evaluated without and behind it (four cells)."""
ALL = names(lambda m: not m.ablation and not m.offline)
"""Every method of the comparison but the ablation's (which has an experiment of its own) and the offline ones (the
optimality study's)."""
OFFLINE = names(lambda m: m.offline)
"""The optimality study's solver rows: the class optimum, the same again with a longer time limit (how much the best
found schedule still moves), the fluid LP bound."""
SROLE = names(lambda m: m.srole)
BASELINES = names(lambda m: m.baseline, order=lambda m: m.tune_as in SROLE)
"""Methods SROLE is compared against (probability of improvement, differences with CIs); SROLE's own variant last."""
HEADLINE_BASELINES = names(lambda m: m.headline > 0, order=lambda m: m.headline)
"""The paper's comparison: SROLE against MARL and against CRL (the figures: ``study/analysis/paper.json``)."""
PAIRED_BASELINES = names(lambda m: m.paired, order=paper_first)
"""Baselines SROLE is compared with by paired differences over training seeds."""
PAPER_LEARNED = names(lambda m: m.learned and (m.srole or m.headline > 0))
"""The paper's learned methods: CRL, MARL and SROLE's two configurations."""
HEAD_METHODS = names(lambda m: m.consults_head)
"""Methods that consult the head: evaluated at every head service time."""
HEAD_LEARNED = names(lambda m: m.consults_head and m.learned)
EDGE_LEARNED = names(lambda m: m.learned and not m.consults_head and (m.srole or m.headline > 0))
"""Learned methods at the edges (MARL, SROLE): they never consult the head."""
HEAD_BASELINES = names(lambda m: m.headline > 0 or m.consults_head, order=paper_first)
"""The paper's two baselines and the head without learning (MARL, CRL, CRL-greedy)."""
KEY_METHODS = names(lambda m: m.key > 0, order=lambda m: m.key)
"""The comparison's key methods in the order of the tables that show only them."""
REFERENCE_KINDS = names(lambda m: m.kind == "reference")
"""Full-knowledge references (not bounds)."""
COUNTERPARTS = tuple((m.name, m.counterpart) for m in ROSTER if m.counterpart)
"""(learned method, the non-learned method with the same or less information): METHODS rule 9 says the first must
not lose."""
