"""The episode's figures are exactly the recorded ones (``tests/data/episode_ledger.json``).

The fixture was recorded by ``scripts/fixtures/episode_ledger.py`` from the simulator that kept every finished
job and task in its tables; the simulator now folds finished jobs into the episode's ledger and drops them, and
``metrics()`` and ``job_times()`` must read the same numbers, bit for bit.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("episode_ledger", ROOT / "scripts" / "fixtures" / "episode_ledger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MOD = _module()
RECORDED = json.loads(MOD.DATA.read_text())


def test_fixture_covers_every_case():
    assert set(RECORDED) == {f"{name}/seed={seed}" for name in MOD.CASES for seed in MOD.SEEDS}
    assert any(r["metrics"]["oom_kills"] > 0 for r in RECORDED.values())
    assert any(not all(r["done"]) for r in RECORDED.values()), "some jobs are still open at the horizon"


@pytest.mark.parametrize("name", sorted(MOD.CASES))
def test_metrics_and_job_times_equal_the_recorded_ones(name):
    for seed in MOD.SEEDS:
        now = MOD.play(name, seed)
        then = RECORDED[f"{name}/seed={seed}"]
        assert now["metrics"] == then["metrics"], f"{name} seed {seed}: metrics differ"
        assert now["job_times"] == then["job_times"], f"{name} seed {seed}: job times differ"
        assert now["done"] == then["done"], f"{name} seed {seed}: completed jobs differ"
