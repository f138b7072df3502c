"""The recipes in ``examples/`` run, with tiny budgets, each through its library's own adapter."""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("algo", ["ppo", "maskable"])
def test_sb3_through_supersuit_trains_and_evaluates(algo: str):
    pytest.importorskip("supersuit")
    figures = _load("sb3_supersuit").main(["--algo", algo, "--timesteps", "160", "--horizon", "8",
                                           "--n-envs", "1", "--n-steps", "8", "--eval-episodes", "1"])
    assert figures["timesteps"] >= 160 and math.isfinite(figures["mean_return"])
    if algo == "maskable":
        assert figures["masked_share"] == 0.0  # MaskablePPO got the masks from VecActionMasks


def test_tianshou_pettingzoo_env_collects_whole_episodes():
    pytest.importorskip("tianshou")
    figures = _load("tianshou_pettingzoo").main(["--horizon", "3", "--episodes", "1"])
    assert figures["episodes"] == 1 and figures["steps"] == 3 * 10  # 3 rounds of the 10 edges, one at a time
    assert figures["masked_share"] == 0.0  # Tianshou read the mask from the Dict observation


def test_torchrl_wrapper_passes_its_spec_check_and_rolls_out_masked():
    pytest.importorskip("torchrl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = _load("torchrl_pettingzoo").main(["--rounds", "4"])
    assert figures["rounds"] == 4 and figures["masked_share"] == 0.0


@pytest.mark.parametrize("masked", [False, True])
def test_rllib_parallel_pettingzoo_env_trains_on_the_flat_format(masked: bool):
    pytest.importorskip("ray.rllib")
    args = ["--iterations", "1", "--horizon", "4", "--batch", "16"] + (["--masked"] if masked else [])
    figures = _load("rllib_pettingzoo").main(args)
    assert figures["env_steps"] >= 16
