"""The README's results tables equal what the project's code generates from the committed tables
(``docs/results/paper`` by ``study.analysis.paired_report.readme_section``, ``docs/results/optimality`` by
``study.analysis.optimality_tables``, ``docs/results/regime`` by ``study.analysis.regime_tables``, the emulation CSV),
and the summary tables agree with the committed per-seed rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from study.analysis import bootstrap_report, bootstrap_tables

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "quick"

pytestmark = pytest.mark.skipif(not (RESULTS / "methods_summary.csv").exists(),
                                reason="docs/results/quick/ is not committed yet (run `srole reproduce --profile quick "
                                       "--out docs/results/quick --drop-models` and commit it without cache/)")


PAPER = ROOT / "docs" / "results" / "paper"


def test_quick_docs_page_is_generated_from_the_committed_tables():
    assert "<!-- table: methods docs/results/quick -->" in (ROOT / "docs" / "results.md").read_text()
    assert bootstrap_report.readme_tables(RESULTS)  # the committed tables still build the page's table


@pytest.mark.skipif(not (PAPER / "methods_summary.csv").exists(), reason="docs/results/paper/ not committed")
def test_readme_decisive_section_is_generated_from_the_committed_tables():
    from study.analysis import paired_report

    assert paired_report.readme_section(PAPER) in (ROOT / "README.md").read_text()


@pytest.mark.skipif(not (PAPER / "methods.csv").exists(), reason="docs/results/paper/ not committed")
def test_decisive_summary_matches_the_per_seed_rows():
    from study.analysis import paired_tables

    rows = pd.read_csv(PAPER / "methods.csv")
    table = pd.read_csv(PAPER / "methods_summary.csv")
    again = bootstrap_tables.summarize(rows, ["arrival_rate", "method"], paired_tables.LEVELS)
    merged = table.merge(again, on=["arrival_rate", "method"], suffixes=("", "_again"))
    assert len(merged) == len(table)
    for metric in ("mean_jct_all", "collisions", "median_utilization"):
        pd.testing.assert_series_equal(merged[metric], merged[f"{metric}_again"], check_names=False)


def test_readme_gaps_table_is_generated_from_the_committed_csv():
    from study.analysis.optimality_tables import gaps_table

    assert gaps_table(ROOT / "docs" / "results" / "optimality") in (ROOT / "README.md").read_text()


def test_summary_table_matches_the_per_seed_rows():
    rows = pd.read_csv(RESULTS / "methods.csv")
    table = pd.read_csv(RESULTS / "methods_summary.csv").set_index("method")
    again = bootstrap_tables.summarize(rows, ["method"]).set_index("method")
    for metric in ("mean_jct_all", "collisions", "median_utilization"):
        pd.testing.assert_series_equal(table[metric], again.loc[table.index, metric], check_names=False)


def test_readme_sim_to_real_table_is_generated_from_the_committed_csv():
    from study.experiments.emulation_profile import readme_table

    table = readme_table(ROOT / "docs" / "results" / "emulation" / "sim_vs_emulation.csv")
    assert table in (ROOT / "README.md").read_text()


def test_readme_regime_table_is_generated_from_the_committed_csv():
    from study.analysis.regime_tables import readme_table as regime_table

    assert regime_table(ROOT / "docs" / "results" / "regime") in (ROOT / "README.md").read_text()


CROSSOVER = ROOT / "docs" / "results" / "crossover"


@pytest.mark.skipif(not (CROSSOVER / "points.csv").exists(), reason="docs/results/crossover/ not committed")
def test_readme_crossover_figures_come_from_the_committed_tables():
    readme = (ROOT / "README.md").read_text()
    points = pd.read_csv(CROSSOVER / "points.csv")
    greedy = points[(points["method"] == "CRL-greedy") & (points["n_edges"] == 10_000) & (points["rho"] == 0.5)]
    slow, fast = greedy[greedy["head_service_s"] == 0.01].iloc[0], greedy[greedy["head_service_s"] < 0.001].iloc[0]
    assert f"about {round(slow['head_backlog_max'], -3):,.0f} decisions over" in readme
    assert f"mean JCT rises to {slow['mean_jct_all']:.0f} s ({fast['mean_jct_all']:.0f} s" in readme
    comp = pd.read_csv(CROSSOVER / "crossover.csv")
    there = comp[(comp["n_edges"] == 10_000) & (comp["baseline"] == "CRL-greedy") & (comp["head_service_s"] == 0.01)
                 & (comp["metric"] == "mean_jct_all")]
    low, high = (f"{100 * v:.0f}" for v in sorted(there["paired_reduction"]))
    assert set(there["verdict"]) == {"better"} and f"SROLE is {low}-{high}% below it there" in readme
