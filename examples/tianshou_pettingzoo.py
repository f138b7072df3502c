"""Tianshou on the edge cluster through its own ``PettingZooEnv`` (an AEC env: one agent acts at a time).

Tianshou reads the Dict observation as it comes: ``observation`` -> ``obs``, ``action_mask`` -> ``mask``.
Here every edge runs Tianshou's masked random algorithm under ``MultiAgentOffPolicyAlgorithm`` and a
``Collector`` gathers whole episodes into a replay buffer; put a learning algorithm (e.g. DQN on
``obs``) in any agent's slot to train it against the others, as in PettingZoo's Tianshou tutorial.

    python examples/tianshou_pettingzoo.py --episodes 2
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
from tianshou.algorithm.multiagent.marl import MultiAgentOffPolicyAlgorithm
from tianshou.algorithm.random import MARLRandomDiscreteMaskedOffPolicyAlgorithm
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv, PettingZooEnv

from srole_env import edge_cluster_v0


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Collect episodes with masked random agents; print and return the collector's figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=50)
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    def make() -> PettingZooEnv:
        return PettingZooEnv(edge_cluster_v0.env(args.scenario, horizon=args.horizon))

    env = make()
    agents = [MARLRandomDiscreteMaskedOffPolicyAlgorithm(action_space=env.action_space) for _ in env.agents]
    algorithm = MultiAgentOffPolicyAlgorithm(algorithms=agents, env=env)
    venv = DummyVectorEnv([make])
    venv.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 - Tianshou's random policy draws from the global RNG
    buffer = VectorReplayBuffer(total_size=args.episodes * args.horizon * len(env.agents) + 1, buffer_num=1)
    collector = Collector(algorithm, venv, buffer)
    collector.reset()
    stats = collector.collect(n_episode=args.episodes)
    data, _ = buffer.sample(0)  # every stored transition
    act = np.asarray(data.act, dtype=int)
    masked = ~np.asarray(data.obs.mask, dtype=bool)[np.arange(len(act)), act]
    figures = {"episodes": float(stats.n_collected_episodes), "steps": float(stats.n_collected_steps),
               "masked_share": float(masked.mean())}
    print(f"tianshou: {stats.n_collected_episodes} episodes, {stats.n_collected_steps} agent-steps, "
          f"masked actions {figures['masked_share']:.1%}")
    return figures


if __name__ == "__main__":
    main()
