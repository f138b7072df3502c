"""The recipes in ``examples/`` run, with tiny budgets, each through its library's own adapter.

Each test carries its library's marker and runs in that library's nox session (its own venv, ``noxfile.py``),
not in the main suite, whose venv holds none of these libraries."""

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


def _run_recording(main, argv: list[str]) -> tuple[dict[str, float], list[str]]:
    """``main(argv)``'s figures and the messages of the UserWarnings our recipe raised (``examples/`` in them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = main(argv)
    return figures, [str(w.message) for w in caught if "examples/" in str(w.message)]


@pytest.mark.sb3
def test_sb3_maskable_ppo_is_the_default_and_never_takes_a_masked_action():
    figures, warned = _run_recording(_load("sb3_supersuit").main, [
        "--timesteps", "160", "--horizon", "8", "--n-envs", "1", "--n-steps", "8", "--eval-episodes", "1"])
    assert figures["timesteps"] >= 160 and math.isfinite(figures["mean_return"])
    assert figures["masked_share"] == 0.0 and not warned  # MaskablePPO got the masks from VecActionMasks


@pytest.mark.sb3
def test_sb3_plain_ppo_warns_exactly_when_it_took_masked_actions():
    figures, warned = _run_recording(_load("sb3_supersuit").main, [
        "--algo", "ppo", "--timesteps", "160", "--horizon", "8", "--n-envs", "1", "--n-steps", "8",
        "--eval-episodes", "1"])
    assert bool(warned) == (figures["masked_share"] > 0)
    assert all("MaskablePPO" in w and f"{figures['masked_share']:.0%}" in w for w in warned)


@pytest.mark.tianshou
def test_tianshou_pettingzoo_env_collects_whole_episodes():
    figures = _load("tianshou_pettingzoo").main(["--horizon", "3", "--episodes", "1"])
    assert figures["episodes"] == 1 and figures["steps"] == 3 * 10  # 3 rounds of the 10 edges, one at a time
    assert figures["masked_share"] == 0.0  # Tianshou read the mask from the Dict observation


@pytest.mark.torchrl
@pytest.mark.parametrize("shield", ["none", "decentralized"])
def test_torchrl_wrapper_passes_its_spec_check_and_trains_a_centralized_critic(shield: str):
    import srole_env

    env = srole_env.parallel_env("small")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = _load("torchrl_pettingzoo").main(["--rounds", "4", "--shield", shield])
    assert figures["rounds"] == 4 and figures["masked_share"] == 0.0
    assert figures["state_dim"] == env.state_space.shape[0] == env.config.n_edges * env.sim.obs_dim
    assert math.isfinite(figures["loss"])


@pytest.mark.rllib
@pytest.mark.parametrize("args", [[], ["--shield", "central"]])
def test_rllib_parallel_pettingzoo_env_trains_masked_by_default(args: list[str]):
    main = _load("rllib_pettingzoo").main
    figures, warned = _run_recording(main, ["--iterations", "1", "--horizon", "4", "--batch", "16", *args])
    assert figures["env_steps"] >= 16 and not warned


@pytest.mark.rllib
def test_rllib_unmasked_module_warns():
    main = _load("rllib_pettingzoo").main
    figures, warned = _run_recording(main, ["--iterations", "1", "--horizon", "4", "--batch", "16", "--unmasked"])
    assert figures["env_steps"] >= 16 and any("--unmasked" in w for w in warned)


@pytest.mark.skrl
@pytest.mark.parametrize("algo, shield", [("mappo", "none"), ("mappo", "central"), ("ippo", "decentralized")])
def test_skrl_trains_masked_with_the_global_state(algo: str, shield: str):
    import srole_env

    env = srole_env.parallel_env("small")
    figures, warned = _run_recording(_load("skrl_pettingzoo").main, [
        "--algo", algo, "--shield", shield, "--timesteps", "32", "--horizon", "8", "--rollouts", "16"])
    assert figures["state_dim"] == env.state_space.shape[0]  # MAPPO's critic sized by the env's state_space
    assert figures["masked_share"] == 0.0 and not warned


@pytest.mark.skrl
def test_skrl_unmasked_policy_warns_exactly_when_it_took_masked_actions():
    figures, warned = _run_recording(_load("skrl_pettingzoo").main, [
        "--algo", "ippo", "--unmasked", "--timesteps", "16", "--horizon", "8", "--rollouts", "16"])
    assert bool(warned) == (figures["masked_share"] > 0)


@pytest.mark.agilerl
@pytest.mark.parametrize("shield", ["none", "central"])
def test_agilerl_ippo_trains_through_its_runner_with_the_masks(shield: str):
    figures, warned = _run_recording(_load("agilerl_pettingzoo").main, [
        "--steps", "16", "--horizon", "8", "--learn-step", "16", "--shield", shield])
    assert figures["steps"] >= 16 and math.isfinite(figures["fitness"])
    assert figures["masked_share"] == 0.0 and not warned  # the masks reached IPPO through the infos


@pytest.mark.benchmarl
@pytest.mark.parametrize("algo, shield", [("ippo", "none"), ("mappo", "none"), ("mappo", "decentralized")])
def test_benchmarl_experiment_trains_the_srole_task_masked(algo: str, shield: str):
    import srole_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = _load("benchmarl_task").main(["--algo", algo, "--shield", shield, "--frames", "40",
                                                 "--frames-per-batch", "20", "--horizon", "10"])
    assert figures["frames"] >= 40 and figures["masked_share"] == 0.0
    state_dim = srole_env.parallel_env("small").state_space.shape[0]
    assert figures["critic_state_dim"] == (state_dim if algo == "mappo" else 0)  # MAPPO's critic reads the state
