"""RLlib on the edge cluster through its own ``ParallelPettingZooEnv`` (new API stack, PPO, one shared policy).

With ``obs_format="flat"`` every agent's observation is one Box (the mask as its last A entries), for
which RLlib builds its default MLP encoder: no custom model or connector is needed. By default the recipe
uses ``agents.learners.rllib.adapter.MaskedPPOTorchRLModule`` (RLlib's default PPO module plus ``log(mask)`` on
the logits, reading the mask from those last A entries), so masked actions are never sampled; ``--unmasked``
trains RLlib's plain module, which samples masked actions (legal here, but each overloads its edge), and warns.
``--shield central|decentralized`` puts a shield between RLlib's wrapper and the env.

Ray: the recipe starts its own local Ray (``ray.init(address="local")``). A bare ``ray.init()`` joins any Ray
cluster already running on the host (``RAY_ADDRESS`` or a ``ray start`` someone else left behind) and runs
there, with that cluster's resources, packages and working directory: not what a user expects.
``srole train-rllib`` (``agents.learners.rllib.adapter``) is the full version: shields, per-agent policies,
checkpoints loaded back as SROLE policies.

    python examples/rllib_pettingzoo.py --iterations 5
    python examples/rllib_pettingzoo.py --iterations 5 --shield central
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import Any

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

from srole_env import parallel_env

ENV_NAME = "srole_edge_cluster_flat"
POLICY = "shared"


def make_env(env_config: dict[str, Any]) -> ParallelPettingZooEnv:
    """RLlib's own PettingZoo wrapper around the flat-observation parallel env."""
    env = parallel_env(env_config.get("scenario", "small"), obs_format="flat",
                       horizon=int(env_config.get("horizon", 100)))
    shield = env_config.get("shield", "none")
    if shield != "none":
        from shields import make_shield

        env = make_shield(env, shield)
    return ParallelPettingZooEnv(env)


def build_config(scenario: str, horizon: int, batch: int, masked: bool, seed: int, shield: str = "none") -> PPOConfig:
    """PPO, every agent mapped to one shared module, sampling in the driver (no remote env runners)."""
    module_class = None
    if masked:
        from agents.learners.rllib.adapter import MaskedPPOTorchRLModule

        module_class = MaskedPPOTorchRLModule
    spec = RLModuleSpec(module_class=module_class, model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config={"scenario": scenario, "horizon": horizon, "shield": shield})
        .env_runners(num_env_runners=0)
        .multi_agent(policies={POLICY}, policy_mapping_fn=lambda agent_id, *args, **kwargs: POLICY)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={POLICY: spec}))
        .training(train_batch_size_per_learner=batch, minibatch_size=min(128, batch), num_epochs=2)
        .debugging(seed=seed)
    )


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train a few PPO iterations; print and return the last iteration's figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--batch", type=int, default=1000, help="env steps (rounds) per iteration")
    p.add_argument("--unmasked", action="store_true",
                   help="RLlib's plain PPO module (samples masked actions; warns) instead of MaskedPPOTorchRLModule")
    p.add_argument("--shield", choices=("none", "central", "decentralized"), default="none")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    if args.unmasked:
        warnings.warn("examples/rllib_pettingzoo.py --unmasked: RLlib's default PPO module ignores the action mask in"
                      " the flat observation and samples masked actions (placed anyway: the edge overloads, or a"
                      " shield rewrites them); the default (MaskedPPOTorchRLModule) never samples them.",
                      UserWarning, stacklevel=2)
    started = not ray.is_initialized()
    if started:
        # address="local": a new Ray instance for this run, never a cluster someone else started on the host
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    register_env(ENV_NAME, make_env)
    algo = build_config(args.scenario, args.horizon, args.batch, not args.unmasked, args.seed, args.shield).build_algo()
    try:
        for _ in range(args.iterations):
            result = algo.train()
        runners = result["env_runners"]
        figures = {"env_steps": float(runners["num_env_steps_sampled_lifetime"]),
                   "episode_return_mean": float(runners.get("episode_return_mean", float("nan")))}
    finally:
        algo.stop()
        if started:
            ray.shutdown()
    print(f"rllib: {int(figures['env_steps'])} rounds sampled, mean episode return (all agents) "
          f"{figures['episode_return_mean']:.2f}")
    return figures


if __name__ == "__main__":
    main()
