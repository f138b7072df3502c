"""The bad-input sweep (``tests/checks``) as tests: each of its cases, one bad input or fault, must end as it should
(a clear error naming the file, key or field, or a documented acceptance; a crafted file runs nothing). The cases that
could exhaust memory run in a child process under a 3 GiB address-space limit. ``python tests/checks/sweep.py
--verbose`` prints the same cases with the tally per class, on this checkout or any other."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from checks.sweep import Sweep, cases, classify, run_isolated

CASES = cases(Sweep(Path("/nonexistent-sweep-work")))  # building the list touches no file
NAMES = [c.name for c in CASES]


def test_case_names_are_unique_and_round_two_has_at_least_40():
    assert len(set(NAMES)) == len(NAMES)
    assert sum(c.group != "round 1" for c in CASES) >= 40


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Sweep:
    return Sweep(tmp_path_factory.mktemp("sweep"))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_ends_as_it_should(sweep: Sweep, name: str):
    case = next(c for c in cases(sweep) if c.name == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings naming a damaged row are part of some cases
        outcome, detail = run_isolated(name, sweep.work) if case.isolated else classify(case, sweep)
    assert outcome == "clear", f"{case.group} | {name}: {outcome}: {detail}"
