"""RLlib on the edge cluster through its own ``ParallelPettingZooEnv`` (new API stack, PPO, one shared policy).

With ``obs_format="flat"`` every agent's observation is one Box (the mask as its last A entries), for
which RLlib builds its default MLP encoder: no custom model or connector is needed. ``--masked`` swaps
in ``agents.learners.rllib_adapter.MaskedPPOTorchRLModule`` (RLlib's default PPO module plus ``log(mask)`` on the
logits, reading the mask from those last A entries), so masked actions are never sampled.
``srole train-rllib`` (``agents.learners.rllib_adapter``) is the full version: shields, per-agent policies,
checkpoints loaded back as SROLE policies.

    python examples/rllib_pettingzoo.py --iterations 5
"""

from __future__ import annotations

import argparse
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
    return ParallelPettingZooEnv(parallel_env(env_config.get("scenario", "small"), obs_format="flat",
                                              horizon=int(env_config.get("horizon", 100))))


def build_config(scenario: str, horizon: int, batch: int, masked: bool, seed: int) -> PPOConfig:
    """PPO, every agent mapped to one shared module, sampling in the driver (no remote env runners)."""
    module_class = None
    if masked:
        from agents.learners.rllib_adapter import MaskedPPOTorchRLModule

        module_class = MaskedPPOTorchRLModule
    spec = RLModuleSpec(module_class=module_class, model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config={"scenario": scenario, "horizon": horizon})
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
    p.add_argument("--masked", action="store_true", help="mask the logits (MaskedPPOTorchRLModule)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    started = not ray.is_initialized()
    if started:
        # address="local": a new Ray instance for this run, never a cluster someone else started on the host
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    register_env(ENV_NAME, make_env)
    algo = build_config(args.scenario, args.horizon, args.batch, args.masked, args.seed).build_algo()
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
