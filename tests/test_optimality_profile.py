"""The optimality study is a profile of the study (``study.experiments.optimality_profile``): its cells run every
method on each instance's episode (evaluation seed 0, one training per N), the solver and bounds as roster methods,
and ``srole reproduce --cached-only`` rebuilds the same ``gaps.csv`` and ``summary.md`` from the cache."""

from __future__ import annotations

import pandas as pd
import pytest

from study.experiments.optimality_profile import (
    EVAL_SEED,
    TRAIN_SEED_BASE,
    optimality_profile,
    optimality_spec,
)
from study.experiments.plan import build_cells
from study.experiments.roster import ALL, OFFLINE


def test_the_profile_runs_every_method_on_each_instance_with_one_training_per_n(tmp_path) -> None:
    profile = optimality_profile("optimality", tmp_path)
    cells = build_cells(profile, tmp_path)
    spec = optimality_spec("optimality")
    learned = [c for c in cells if c.algo]
    assert {(c.method["name"], c.seed) for c in learned} == {
        (m, TRAIN_SEED_BASE + n) for m in ("CRL", "MARL", "SROLE-central") for n in (10, 20)}
    assert all(len(c.evals) == 3 and c.train_config["horizon"] == 50 and "trace_path" not in c.train_config
               for c in learned)  # trained once per N on Poisson arrivals, evaluated on its 3 instances
    assert all(e.seed == EVAL_SEED and e.config["trace_path"] for c in cells for e in c.evals)
    longer = [c for c in cells if c.method["name"] == "optimal-longer"]
    assert len(longer) == len(spec.instances) and longer[0].hparams["time_limit_s"] == 3 * spec.time_limit_s
    assert not set(OFFLINE) & set(ALL)  # the solver rows stay out of every other profile's methods
    assert len(list((tmp_path / "cache" / "traces").glob("*.csv"))) == len(spec.instances)


def test_unknown_profiles_and_bad_settings_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown optimality profile"):
        optimality_profile("optimality-huge", tmp_path)
    with pytest.raises(ValueError, match="time_limit_s must be positive"):
        optimality_profile("optimality", tmp_path, time_limit_s=0)
    with pytest.raises(ValueError, match="no cluster layout"):
        optimality_profile("optimality", tmp_path, instances=((7, 0.01, 1),))


@pytest.mark.optimal  # OR-Tools: the nox session optimal, not the main suite
def test_tiny_profile_end_to_end_and_rebuilt_from_the_cache(tmp_path) -> None:
    pytest.importorskip("ortools", reason="the offline optimum needs the 'optimal' extra (OR-Tools)")
    from study.reproduce import reproduce

    profile = optimality_profile("optimality-tiny", tmp_path)
    reproduce(profile, tmp_path, progress=False)
    gaps = pd.read_csv(tmp_path / "gaps.csv")
    spec = optimality_spec("optimality-tiny")
    assert len(gaps) == len(spec.instances) * (1 + len(spec.methods))
    assert (gaps["mean_jct"] >= gaps["lower_bound"]).all()  # the fluid LP bound is never beaten
    assert (gaps.loc[gaps["method"] == "optimal", "gap"].abs() < 1e-9).all()
    first = ((tmp_path / "gaps.csv").read_text(), (tmp_path / "summary.md").read_text())
    assert "Time-limit check: on N6-" in first[1]
    reproduce(profile, tmp_path, progress=False, cached_only=True)
    assert ((tmp_path / "gaps.csv").read_text(), (tmp_path / "summary.md").read_text()) == first
