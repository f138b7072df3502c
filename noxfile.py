"""Test sessions in their own virtualenvs (nox): the main suite, and one session per RL-library integration.

The RL libraries pin things differently (RLlib 2.60 wants gymnasium 1.2; AgileRL and BenchMARL pin their own
torchrl, pettingzoo or numpy ranges), so no single environment holds them all, and none of them may change the
packages the main job (``pip install -e ".[study]"``) runs with. Each session therefore builds its own venv:

* ``torch==2.13.0`` first (the build the configured index offers: on this project's machines a local CPU wheel),
* then ``pip install -e ".[study]"`` (the main job's packages: the light install plus the ``study`` extra), recorded,
* then the session's extras; ``tests`` fails if they changed a version the main job installed, the library
  sessions log what their library moved (e.g. RLlib's gymnasium) so it is said, not hidden.

Sessions: ``tests`` (``ruff check .``, the main pytest suite, ``mkdocs build --strict``) and one per library
(``sb3``, ``rllib``, ``tianshou``, ``torchrl``, ``skrl``, ``agilerl``, ``benchmarl``), which runs the tests
marked with that library's pytest marker (the recipe in ``examples/`` and its adapters' tests), and ``optimal``
(the CP-SAT optimum's tests). Every test runs in exactly one session.
``nox`` runs them all, ``tests`` first (the result that matters most comes first); ``nox -s rllib`` one.
``.ci/run`` runs all of them and closes with the main suite's pytest line.
"""

from __future__ import annotations

import os

import nox

TORCH = "torch==2.13.0"
"""Installed first in every session, so no later requirement pulls another torch build."""
MAIN_JOB = ".[study]"
"""The main job's install (README): the env and shields (``pip install .``) plus the study's extra."""

LIBRARIES = {
    "sb3": ("sb3", "sb3"),
    "rllib": ("rllib", "rllib"),
    "tianshou": ("tianshou", "tianshou"),
    "torchrl": ("torchrl", "torchrl"),
    "skrl": ("skrl", "skrl"),
    "agilerl": ("agilerl", "agilerl"),
    "benchmarl": ("benchmarl", "benchmarl"),
    "optimal": ("optimal", "optimal"),
}
"""Session name -> (its setup.cfg extras besides ``test``, the pytest marker of the tests it runs). ``optimal`` is
no RL library but gets a session too: OR-Tools pins protobuf<7, which the main job's tensorboard otherwise gets as
7.x, so the solver's tests cannot join the main suite without moving a main-job package."""
MARKERS = tuple(LIBRARIES)
"""Every session marker (pyproject.toml); the main suite runs the tests that carry none of them."""

nox.options.sessions = ["tests", *LIBRARIES]
nox.options.error_on_external_run = True


def _versions(session: nox.Session) -> dict[str, str] | None:
    """name -> version of every distribution in the session's venv (``pip list`` as JSON); None when nox
    skips installs (``--no-install`` on a reused venv), so there is nothing new to compare."""
    import json

    out = session.run_install("python", "-m", "pip", "list", "--format=json", silent=True, log=False)
    if out is None:
        return None
    return {row["name"].lower().replace("_", "-"): row["version"] for row in json.loads(out)}


def _install(session: nox.Session, extras: str, strict: bool) -> None:
    """torch first, then the main job's packages, then ``extras``; compare the main job's versions."""
    session.install(TORCH)
    session.install("-e", MAIN_JOB, TORCH)  # TORCH again: no requirement may swap the build (torchvision pins torch)
    main_job = _versions(session)
    session.install("-e", f".[study,{extras}]", TORCH)
    now = _versions(session)
    if main_job is None or now is None:
        return
    moved = {name: (old, now.get(name)) for name, old in main_job.items() if now.get(name) != old}
    if not moved:
        session.log(f"[{extras}] left every package of the main job (pip install -e {MAIN_JOB}) at its version")
        return
    lines = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in sorted(moved.items()))
    if strict:
        session.error(f"the extras [{extras}] changed packages the main job installed: {lines}")
    session.warn(f"this session's extras [{extras}] moved packages of the main job (here only): {lines}")


def _pytest_args(session: nox.Session) -> list[str]:
    """Extra pytest arguments after ``--`` on the nox command line; ``-q`` by default."""
    return list(session.posargs) or ["-q", "-rs"]


@nox.session
def tests(session: nox.Session) -> None:
    """Lint, the main test suite (every test not marked with a library) and the documentation site."""
    _install(session, "test,docs,cells", strict=True)
    session.run("ruff", "check", ".")
    not_libraries = " or ".join(MARKERS)
    session.run("python", "-m", "pytest", "-m", f"not ({not_libraries})", *_pytest_args(session))
    site = os.environ.get("SITE_DIR", os.path.join(session.create_tmp(), "site"))
    session.run("mkdocs", "build", "--strict", "--site-dir", site)


def _library_session(name: str, extras: str, markers: str) -> None:
    """Define the nox session ``name``: ``test`` and its ``extras`` installed, the tests marked ``markers`` run."""

    def run(session: nox.Session) -> None:
        _install(session, f"test,{extras}", strict=False)
        session.run("python", "-m", "pytest", "-m", markers, *_pytest_args(session))

    run.__doc__ = f"The {name} integration: its recipe in examples/ and its tests ({markers}), in a venv of its own."
    nox.session(name=name)(run)


for _name, (_extras, _markers) in LIBRARIES.items():
    _library_session(_name, _extras, _markers)
