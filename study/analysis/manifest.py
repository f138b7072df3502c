"""The results manifest: which committed results directory plays which role in the README's and the docs'
results sections (``docs/results/manifest.yaml``).

The reports never open a folder by its name: ``decisive.readme_section`` finds the replication, the longer
budget and the quick run through the manifest, and the docs hook (``docs/hooks.py``) checks every table marker's
path against it. The file is a flat YAML mapping ``role: path`` (paths relative to the manifest's folder),
read with ``yaml.safe_load`` (loading never runs code); ``ROLES`` lists the roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from srole_common.persist import atomic_write

MANIFEST_NAME = "manifest.yaml"
"""The manifest's file name in a results folder (``docs/results/manifest.yaml``)."""
ROLES: dict[str, str] = {
    "decisive": "the paired comparison the README reports (srole reproduce --profile paper)",
    "replication": "the same comparison on disjoint training seeds (--profile paper-replication)",
    "long_budget": "the same seeds at a longer training budget (--profile paper-long)",
    "quick": "the quick profile: independent bootstrap, fewer seeds and rounds (--profile quick)",
    "optimality": "gaps to the CP-SAT optimum (srole reproduce --profile optimality)",
    "regime": "the regime map (--profile regime)",
    "emulation": "the simulator against the Ray emulation (srole emulate)",
    "head_latency": "the cluster head's decision latency against N (scripts/bench/head_latency.py)",
    "sim_vs_emulation": "heuristics in the simulator and the emulation (scripts/experiments/sim_vs_emulation.py)",
    "benchmark": "reference results of every method on every benchmark task "
                 "(scripts/experiments/benchmark_references.py)",
    "crossover": "the crossover map of head and shield bottlenecks (--profile crossover)",
    "fair_map": "the paper's question under one cost model for head and shields (scripts/experiments/fair_map.py)",
}
"""Every role a manifest may name, with what plays it."""


@dataclass(frozen=True)
class ResultsManifest:
    """Role -> results directory (absolute paths), read from ``path``."""

    path: Path
    roles: dict[str, Path]

    def get(self, role: str) -> Path | None:
        """The directory playing ``role``, None where the manifest names none."""
        if role not in ROLES:
            raise ValueError(f"unknown results role {role!r}; roles: {sorted(ROLES)}")
        return self.roles.get(role)

    def role_of(self, path: str | Path) -> str | None:
        """The role of the directory that is or holds ``path`` (a results folder or a file in one), or None."""
        target = Path(path).resolve()
        for role, folder in self.roles.items():
            if target == folder or folder in target.parents:
                return role
        return None


def load_manifest(path: str | Path) -> ResultsManifest:
    """The manifest at ``path``, checked: a mapping of known roles to relative paths inside the manifest's folder
    that exist; else a ``ValueError`` naming the file and the role."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"results manifest {str(path)!r} does not exist") from None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"results manifest {str(path)!r} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"results manifest {str(path)!r} must be a mapping role: path, got {type(data).__name__}")
    base = path.parent.resolve()
    roles = {}
    for role, rel in data.items():
        if role not in ROLES:
            raise ValueError(f"{path}: unknown role {role!r}; roles: {sorted(ROLES)}")
        if not isinstance(rel, str) or not rel or PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise ValueError(f"{path}: {role} must be a path relative to the manifest's folder, got {rel!r}")
        folder = (base / rel).resolve()
        if not folder.is_dir():
            raise ValueError(f"{path}: {role}: {rel!r} is not a directory beside the manifest")
        roles[str(role)] = folder
    return ResultsManifest(path=path, roles=roles)


def manifest_beside(results_dir: str | Path) -> ResultsManifest | None:
    """The manifest of the folder that holds ``results_dir`` (``<parent>/manifest.yaml``), None without one."""
    path = Path(results_dir).resolve().parent / MANIFEST_NAME
    return load_manifest(path) if path.is_file() else None


def as_manifest(manifest: ResultsManifest | str | Path) -> ResultsManifest:
    """``manifest`` itself, or the manifest read from a path."""
    return manifest if isinstance(manifest, ResultsManifest) else load_manifest(manifest)


def write_manifest(path: str | Path, roles: dict[str, str]) -> Path:
    """Write a manifest ``role: relative path`` to ``path`` (checked by reading it back)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown results role(s) {unknown}; roles: {sorted(ROLES)}")
    text = "".join(f"{role}: {rel}\n" for role, rel in roles.items())
    out = atomic_write(path, text)
    load_manifest(out)
    return out
