"""The README's results equal what the project's code generates from the committed tables (``docs/results/paper``
by ``study.analysis.paired_report.readme_section``, ``docs/results/fair_map`` by
``study.analysis.fair_readme.readme_section``), the ceiling page keeps its generated tables, and the summary tables
agree with the committed per-seed rows."""

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


def test_ceiling_page_renders_the_gaps_and_regime_tables_from_the_committed_csv():
    from study.analysis.optimality_tables import gaps_table
    from study.analysis.regime_tables import readme_table

    page = (ROOT / "docs" / "ceiling.md").read_text()
    for marker in ("<!-- table: gaps docs/results/optimality -->", "<!-- table: regime docs/results/regime -->"):
        assert marker in page, marker
    assert "| method |" in gaps_table(ROOT / "docs" / "results" / "optimality")
    assert "| comparison |" in readme_table(ROOT / "docs" / "results" / "regime")


def test_summary_table_matches_the_per_seed_rows():
    rows = pd.read_csv(RESULTS / "methods.csv")
    table = pd.read_csv(RESULTS / "methods_summary.csv").set_index("method")
    again = bootstrap_tables.summarize(rows, ["method"]).set_index("method")
    for metric in ("mean_jct_all", "collisions", "median_utilization"):
        pd.testing.assert_series_equal(table[metric], again.loc[table.index, metric], check_names=False)


FAIR = ROOT / "docs" / "results" / "fair_map"


@pytest.mark.skipif(not (FAIR / "points.csv").exists(), reason="docs/results/fair_map/ not committed")
def test_readme_fair_map_section_is_generated_from_the_committed_tables():
    from study.analysis.fair_readme import readme_section

    assert readme_section(FAIR) in (ROOT / "README.md").read_text()
