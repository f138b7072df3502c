"""Build hook: ship the benchmark's reference results (``docs/results/benchmark``) as package data.

The reference results live beside the other committed results under ``docs/results/benchmark`` (the leaderboard
and the docs read them there); a built package copies them into ``study/benchmark/reference_results`` so that a
non-editable install (``pip install .``) scores with its paired part and rank (``study.benchmark.score``).
Everything else is declared in ``setup.cfg``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "docs" / "results" / "benchmark"
TARGET = Path("study") / "benchmark" / "reference_results"


class BuildPyWithReferences(build_py):
    """``build_py`` that also copies the reference results (``<suite>/<task>/<method>.json``) into the build."""

    def run(self) -> None:
        super().run()
        if not SOURCE.is_dir():  # an sdist without them: the package scores without references, and says so
            return
        for src in sorted(SOURCE.glob("*/*/*.json")):
            dst = Path(self.build_lib) / TARGET / src.relative_to(SOURCE)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildPyWithReferences})
