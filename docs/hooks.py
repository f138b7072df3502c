"""MkDocs hook: a page line ``<!-- table: KIND PATH -->`` becomes the Markdown table that the project's own
code generates from the committed results at PATH (the same functions that write the README's tables).

PATH must lie in a results directory named by the results manifest (``docs/results/manifest.yaml``,
``study.analysis.manifest``), and the ``decisive`` table takes that manifest to find its companion runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tables come from this checkout's code, installed or not
    sys.path.insert(0, str(ROOT))
MARKER = re.compile(r"^<!-- table: (\S+) (\S+) -->$", re.MULTILINE)
MANIFEST = ROOT / "docs" / "results" / "manifest.yaml"
"""Which committed results directory plays which role (read by ``study.analysis.manifest.load_manifest``)."""
KINDS = ("methods", "emulation", "decisive", "gaps", "regime")


def render_table(kind: str, path: str, manifest_path: Path = MANIFEST) -> str:
    """The table of ``kind`` (``methods``: ``study.analysis.bootstrap_report.readme_tables``; ``emulation``:
    ``study.experiments.emulation_profile.readme_table``; ``decisive``: ``study.analysis.paired_report.readme_section``;
    ``gaps``: ``study.analysis.optimality_tables.gaps_table``; ``regime``:
    ``study.analysis.regime_tables.readme_table``) from the committed results at ``path`` (repo-relative), which the
    manifest at ``manifest_path`` must list."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r} ({', '.join(KINDS)})")
    from study.analysis.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    source = ROOT / path
    if manifest.role_of(source) is None:
        raise ValueError(f"table marker path {path!r} is in no results directory of {manifest_path} "
                         f"(roles: {', '.join(sorted(manifest.roles))})")
    if kind == "methods":
        from study.analysis.bootstrap_report import readme_tables

        return readme_tables(source)
    if kind == "emulation":
        from study.experiments.emulation_profile import readme_table

        return readme_table(source)
    if kind == "decisive":
        from study.analysis.paired_report import readme_section

        return readme_section(source, manifest)
    if kind == "gaps":
        from study.analysis.optimality_tables import gaps_table

        return gaps_table(source)
    from study.analysis.regime_tables import readme_table

    return readme_table(source)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace every table marker of a page by its generated table."""
    return MARKER.sub(lambda m: render_table(m.group(1), m.group(2)), markdown)
