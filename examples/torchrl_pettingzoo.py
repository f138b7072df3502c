"""TorchRL on the edge cluster through its own ``PettingZooWrapper``: specs checked, a masked policy rolled out.

TorchRL groups the N edges into one group ``edge`` (agent names ``edge_i``) and reads the Dict
observation as it comes: ``("edge", "observation", "observation")`` [N, D] and ``("edge", "action_mask")``
[N, A] (bool); the infos land in ``("edge", "info")``. The
default infos hold scalars only, with the same keys after reset and step, so ``check_env_specs`` passes.
The policy is one MLP shared by every edge, sampling from a ``MaskedCategorical`` over the mask, the
actor of TorchRL's multi-agent PPO tutorial; plug it into that tutorial's loss and collector to train.

    python examples/torchrl_pettingzoo.py --rounds 50
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from tensordict.nn import TensorDictModule
from torchrl.envs import check_env_specs
from torchrl.envs.libs.pettingzoo import PettingZooWrapper
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor

from srole_env import parallel_env

GROUP = "edge"
OBS = (GROUP, "observation", "observation")


def make_env(scenario: str, horizon: int, seed: int) -> PettingZooWrapper:
    """The parallel env in TorchRL's wrapper (one group of N agents, integer actions)."""
    return PettingZooWrapper(parallel_env(scenario, horizon=horizon), categorical_actions=True, seed=seed)


def make_policy(env: PettingZooWrapper) -> ProbabilisticActor:
    """A shared MLP over each edge's observation, sampling only unmasked actions."""
    obs_dim = env.observation_spec[OBS].shape[-1]
    n_agents = len(env.group_map[GROUP])
    n_actions = int(env.full_action_spec[GROUP, "action"].space.n)
    net = MultiAgentMLP(n_agent_inputs=obs_dim, n_agent_outputs=n_actions, n_agents=n_agents, centralized=False,
                        share_params=True, depth=2, num_cells=64, activation_class=torch.nn.Tanh)
    logits = TensorDictModule(net, in_keys=[OBS], out_keys=[(GROUP, "logits")])
    return ProbabilisticActor(logits, in_keys={"logits": (GROUP, "logits"), "mask": (GROUP, "action_mask")},
                              out_keys=[(GROUP, "action")], distribution_class=MaskedCategorical,
                              return_log_prob=True)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Check the specs, roll out one episode with the masked policy; print and return its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="small")
    p.add_argument("--rounds", type=int, default=50, help="horizon: decision rounds per episode")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    env = make_env(args.scenario, args.rounds, args.seed)
    check_env_specs(env)
    policy = make_policy(env)
    with torch.no_grad():
        rollout = env.rollout(args.rounds + 5, policy=policy, break_when_any_done=True)
    action = rollout[GROUP, "action"]
    mask = rollout[GROUP, "action_mask"]
    taken_mask = mask.gather(-1, action.unsqueeze(-1)).squeeze(-1)
    reward = rollout["next", GROUP, "reward"]
    figures = {"rounds": float(rollout.batch_size[0]), "mean_reward": float(reward.mean()),
               "masked_share": float((~taken_mask).float().mean())}
    print(f"torchrl: {int(figures['rounds'])} rounds of {action.shape[-1]} edges, mean reward per agent-round "
          f"{figures['mean_reward']:.3f}, masked actions {figures['masked_share']:.1%}")
    return figures


if __name__ == "__main__":
    main()
