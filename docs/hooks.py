"""MkDocs hook: a page line ``<!-- table: KIND PATH -->`` becomes the Markdown table that the project's own
code generates from the committed results at PATH (the same functions that write the README's tables)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tables come from this checkout's code, installed or not
    sys.path.insert(0, str(ROOT))
MARKER = re.compile(r"^<!-- table: (\S+) (\S+) -->$", re.MULTILINE)


def render_table(kind: str, path: str) -> str:
    """The table of ``kind`` (``methods``: ``study.analysis.report.readme_tables``; ``emulation``:
    ``study.experiments.emulation_profile.readme_table``; ``decisive``: ``study.analysis.decisive.readme_section``;
    ``gaps``
    and ``regime``: ``study.analysis.ceiling``) from the committed results at ``path`` (repo-relative)."""
    if kind == "methods":
        from study.analysis.report import readme_tables

        return readme_tables(ROOT / path)
    if kind == "emulation":
        from study.experiments.emulation_profile import readme_table

        return readme_table(ROOT / path)
    if kind == "decisive":
        from study.analysis.decisive import readme_section

        return readme_section(ROOT / path)
    if kind == "gaps":
        from study.analysis.ceiling import gaps_table

        return gaps_table(ROOT / path)
    if kind == "regime":
        from study.analysis.ceiling import regime_table

        return regime_table(ROOT / path)
    raise ValueError(f"unknown table kind {kind!r} (methods, emulation, decisive, gaps, regime)")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace every table marker of a page by its generated table."""
    return MARKER.sub(lambda m: render_table(m.group(1), m.group(2)), markdown)
