"""The results manifest (``docs/results/manifest.yaml``) and the paper's figures (``study/analysis/paper.json``):
read safely, checked, and the only place the reports learn which run plays which role and what the paper says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from study.analysis import paired_report
from study.analysis.manifest import ROLES, load_manifest, manifest_beside, write_manifest
from study.analysis.paper import METRICS, PAPER_FILE, paper_figures

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def test_the_committed_manifest_names_every_committed_results_directory():
    manifest = load_manifest(RESULTS / "manifest.yaml")
    committed = {p.resolve() for p in RESULTS.iterdir() if p.is_dir()}
    assert set(manifest.roles.values()) == committed
    assert manifest.role_of(RESULTS / "paper") == "decisive"
    assert manifest.role_of(RESULTS / "emulation" / "sim_vs_emulation.csv") == "emulation"
    assert manifest.role_of(ROOT / "docs") is None


@pytest.mark.parametrize("text, needle", [
    ("- paper\n", "mapping"),
    ("winner: paper\n", "unknown role 'winner'"),
    ("decisive: /etc\n", "relative"),
    ("decisive: ../x\n", "relative"),
    ("decisive: nowhere\n", "not a directory"),
    ("decisive: [unclosed\n", "not valid YAML"),
    ("decisive: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
])
def test_a_bad_manifest_is_refused_naming_the_file_and_role(tmp_path, text, needle):
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(needle)):
        load_manifest(path)


def test_readme_section_reads_companions_from_the_manifest_only(tmp_path):
    # a folder named like a companion run but absent from the manifest is not read
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper-replication").mkdir()
    write_manifest(tmp_path / "manifest.yaml", {"decisive": "paper"})
    manifest = manifest_beside(tmp_path / "paper")
    assert manifest is not None and manifest.get("replication") is None and manifest.get("decisive").name == "paper"
    with pytest.raises(ValueError, match="unknown results role"):
        manifest.get("replica")
    # a companion the manifest names but that holds no comparisons is an error, not a silent omission
    write_manifest(tmp_path / "manifest.yaml", {"decisive": "paper", "replication": "paper-replication"})
    with pytest.raises(ValueError, match="replication directory .* holds no comparisons.csv"):
        paired_report._companion(manifest_beside(tmp_path / "paper"), "replication", tmp_path / "paper")
    with pytest.raises(ValueError, match="unknown results role"):
        write_manifest(tmp_path / "m.yaml", {"best": "paper"})


def test_every_manifest_role_is_described():
    assert all(isinstance(text, str) and text for text in ROLES.values())


def test_paper_figures_come_from_the_data_file():
    paper = paper_figures()
    data = json.loads(PAPER_FILE.read_text())
    assert paper.reductions == {m: data["reductions"][m]["value"] for m in METRICS}
    assert [paper.label(m) for m in METRICS] == [f"{round(100 * data['reductions'][m]['value'])}%" for m in METRICS]
    assert paper.against == tuple(data["against"]) and "abstract" in paper.source


def test_the_reports_carry_no_literal_paper_figures():
    # the paper's figures appear in study/ only in the data file (docstring examples of the format aside)
    pattern = re.compile(r"\b(59|48|29) ?%|0\.(59|48|29)\b")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "study").rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and not re.search(r"0\.59 (=|->)|'59%'|59% lower", line)]
    assert hits == []


@pytest.mark.parametrize("change, needle", [
    (lambda d: d["reductions"].pop("collisions"), "exactly"),
    (lambda d: d["reductions"]["mean_jct_all"].update(value=59), "fraction"),
    (lambda d: d["reductions"]["mean_jct_all"].update(value="59%"), "fraction"),
    (lambda d: d.pop("source"), "source"),
    (lambda d: d.update(against="MARL"), "against"),
])
def test_a_bad_paper_file_is_refused_naming_the_key(tmp_path, change, needle):
    data = json.loads(PAPER_FILE.read_text())
    change(data)
    path = tmp_path / "paper.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=needle):
        paper_figures(path)
