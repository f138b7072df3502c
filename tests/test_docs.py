"""The documentation site's sources: every nav page exists, the results tables are generated from the
committed tables by the README's code, and the README stays a short front page."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_LIMIT = 15_000


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    pages = _nav_pages(config["nav"])
    assert len(pages) >= 15
    for page in pages:
        assert (DOCS / page).is_file(), page
    written = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if not p.match("results/**/summary.md")}
    assert written <= set(pages), written - set(pages)


def test_results_pages_are_generated_by_the_readme_code():
    from study.analysis.bootstrap_report import readme_tables
    from study.experiments.emulation_profile import readme_table

    hooks = _hooks()
    page = hooks.on_page_markdown((DOCS / "results.md").read_text())
    assert readme_tables(DOCS / "results" / "quick") in page and "<!-- table:" not in page
    page = hooks.on_page_markdown((DOCS / "emulation.md").read_text())
    assert readme_table(DOCS / "results" / "emulation" / "sim_vs_emulation.csv") in page
    with pytest.raises(ValueError, match="unknown table kind"):
        hooks.render_table("nonsense", "docs/results/quick")


def test_readme_is_a_short_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme) <= README_LIMIT, len(readme)
    for name in ("SuperSuit", "AgileRL", 'pip install -e ".[study]"', "python -m pytest -q"):
        assert name in readme, name
    assert "same figures on any machine" not in readme and "deterministic per machine" in readme
    block = re.search(r"<!-- results:begin.*?-->(.*)<!-- results:end -->", readme, re.DOTALL)
    assert block and "| method |" in block.group(1)  # the results sit in one delimited block
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link


def test_every_output_of_the_committed_results_is_documented():
    from study.analysis.bootstrap_report import OUTPUTS

    patterns = [re.compile("^" + re.escape(o).replace(re.escape("<experiment>"), r"[a-z_]+")
                           .replace(re.escape("<k>"), r"\d+") + "$") for o in OUTPUTS]
    for path in (DOCS / "results" / "quick").iterdir():
        name = f"{path.name}/" if path.is_dir() else path.name  # cache/ where a local run left it
        assert any(p.match(name) for p in patterns), name
    listed = (DOCS / "reproducing.md").read_text()
    for output in ("runs.json", "jct_quantiles.csv", "sensitivity_effect.csv", "profile.json", "cache/"):
        assert output in listed and output in OUTPUTS, output


def test_the_readme_example_runs():
    code = re.search(r"## Example\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL).group(1)
    assert len(code.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(code.replace("print(", "result = ("), "README example", "exec"), namespace)
    assert namespace["result"]["collisions"] == 0 and namespace["result"]["rounds"] > 0  # behind the central shield
