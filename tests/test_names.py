"""One list per kind of name: ``srole_common.names`` agrees with each registry (learners, heuristics, shields), the
roster's methods use only registered names, and no module of the study or the scripts defines its own list of
method names (every list of methods is a filter over ``study.experiments.roster``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from srole_common import names
from study.experiments.roster import METHOD_NAMES, METHODS, ROSTER, Method
from study.experiments.roster import names as roster_names

ROOT = Path(__file__).resolve().parents[1]
ROSTER_FILE = ROOT / "study" / "experiments" / "roster.py"


def test_shield_kinds_are_the_shield_registry() -> None:
    import shields

    assert shields.SHIELD_KINDS == names.SHIELDS
    assert set(names.SHIELDS) == {"none", *shields.SHIELD_CLASSES}


def test_heuristic_names_are_the_heuristic_registries() -> None:
    from agents.baselines.crl_greedy import EarliestFinishHead
    from agents.baselines.heuristics import HEURISTICS

    assert HEURISTICS == names.HEURISTIC_NAMES
    assert names.CENTRAL_HEURISTIC_NAMES == (EarliestFinishHead.name,)


def test_algo_names_are_the_learner_registry() -> None:
    from agents.harness.registry import LEARNERS

    assert tuple(LEARNERS) == names.ALGO_NAMES


def test_roster_uses_registered_names_only() -> None:
    for m in ROSTER:
        assert m.shield in names.SHIELDS and set(m.eval_shields) <= set(names.SHIELDS), m.name
        if m.kind == "heuristic":
            assert m.policy in names.HEURISTIC_NAMES + names.CENTRAL_HEURISTIC_NAMES, m.name
        if m.algo is not None:
            assert m.algo in names.ALGO_NAMES, m.name
        if m.counterpart is not None:
            assert METHODS[m.counterpart].kind != "learned", m.name
    assert len(set(METHOD_NAMES)) == len(METHOD_NAMES)


def test_roles_filter_the_roster_in_its_order() -> None:
    srole = roster_names(lambda m: m.srole)
    assert srole == ("SROLE-central", "SROLE-decentralized")
    assert roster_names(lambda m: m.headline > 0, order=lambda m: m.headline) == ("MARL", "CRL")
    with pytest.raises(ValueError, match="counterpart"):
        Method("x", "heuristic", policy="local", counterpart="local")


def _method_lists(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, target, method names) of each module-level assignment whose value is a literal tuple, list, set or
    dict (keys) holding two or more of the roster's method names."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
            items = value.elts
        elif isinstance(value, ast.Dict):
            items = [k for k in value.keys if k is not None]
        else:
            continue
        hits = [e.value for e in items if isinstance(e, ast.Constant) and e.value in METHODS]
        if len(hits) >= 2:
            found.append((node.lineno, ast.unparse(targets[0]), hits))
    return found


def test_no_module_defines_its_own_method_list() -> None:
    offenders = {}
    for folder in ("study", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROSTER_FILE:
                continue
            for line, target, hits in _method_lists(path):
                offenders[f"{path.relative_to(ROOT)}:{target}"] = (line, hits)
    assert not offenders, f"method lists outside the roster (filter it instead): {offenders}"


def test_the_grep_finds_a_list(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('MINE = ("MARL", "CRL", "x")\nONE = ("MARL",)\nKEYS = {"MARL": 1, "least_loaded": 2}\n'
                      'def f():\n    local = ("MARL", "CRL")\n')
    assert [(t, h) for _, t, h in _method_lists(module)] == [("MINE", ["MARL", "CRL"]),
                                                             ("KEYS", ["MARL", "least_loaded"])]
