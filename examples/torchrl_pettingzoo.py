"""TorchRL on the edge cluster through its own ``PettingZooWrapper``: specs checked, a masked policy rolled out,
and one MAPPO update with a centralized critic on the global state.

TorchRL groups the N edges into one group ``edge`` (agent names ``edge_i``) and reads the Dict
observation as it comes: ``("edge", "observation", "observation")`` [N, D] and ``("edge", "action_mask")``
[N, A] (bool); the infos land in ``("edge", "info")``; with ``return_state=True`` the global state
(``state()``, every edge's observation concatenated) is at ``"state"`` [N * D], its spec built from the env's
``state_space``. The default infos hold scalars only, with the same keys after reset and step, so
``check_env_specs`` passes. The policy is one MLP shared by every edge, sampling from a ``MaskedCategorical``
over the mask, the actor of TorchRL's multi-agent PPO tutorial; the critic is centralized: one MLP from the
global state to every edge's value, sized by ``state_space``. The recipe computes GAE and takes one
``ClipPPOLoss`` step on the rollout; that tutorial's collector and loop train on.
``--shield central|decentralized`` puts a shield between TorchRL's wrapper and the env.

    python examples/torchrl_pettingzoo.py --rounds 50
    python examples/torchrl_pettingzoo.py --rounds 50 --shield decentralized
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from tensordict.nn import TensorDictModule
from torchrl.envs import check_env_specs
from torchrl.envs.libs.pettingzoo import PettingZooWrapper
from torchrl.modules import MLP, MaskedCategorical, MultiAgentMLP, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss, ValueEstimators

from srole_env import parallel_env

GROUP = "edge"
OBS = (GROUP, "observation", "observation")


def make_env(scenario: str, horizon: int, seed: int, shield: str = "none") -> PettingZooWrapper:
    """The parallel env (behind ``shield`` unless ``none``) in TorchRL's wrapper (one group of N agents, integer
    actions, the global state at ``"state"``)."""
    env = parallel_env(scenario, horizon=horizon)
    if shield != "none":
        from shields import make_shield

        env = make_shield(env, shield)
    return PettingZooWrapper(env, categorical_actions=True, return_state=True, seed=seed)


class StateCritic(torch.nn.Module):
    """A centralized critic: the global state [*, S] -> every edge's value [*, N, 1]."""

    def __init__(self, state_dim: int, n_agents: int) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.net = MLP(in_features=state_dim, out_features=n_agents, depth=2, num_cells=64,
                       activation_class=torch.nn.Tanh)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state).unsqueeze(-1)


def make_critic(env: PettingZooWrapper) -> TensorDictModule:
    """``StateCritic`` sized by the state spec (the env's ``state_space``), writing ``("edge", "state_value")``."""
    state_dim = env.observation_spec["state"].shape[-1]
    return TensorDictModule(StateCritic(state_dim, len(env.group_map[GROUP])), in_keys=["state"],
                            out_keys=[(GROUP, "state_value")])


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


def mappo_step(policy: ProbabilisticActor, critic: TensorDictModule, rollout) -> float:
    """One MAPPO update on ``rollout``: GAE from the centralized critic, TorchRL's clipped PPO loss, one Adam step."""
    loss = ClipPPOLoss(actor_network=policy, critic_network=critic, entropy_coeff=0.01, normalize_advantage=False)
    loss.set_keys(reward=(GROUP, "reward"), action=(GROUP, "action"), value=(GROUP, "state_value"),
                  sample_log_prob=(GROUP, "action_log_prob"), done=(GROUP, "done"), terminated=(GROUP, "terminated"))
    loss.make_value_estimator(ValueEstimators.GAE, gamma=0.99, lmbda=0.95)
    data = rollout.clone()
    n_agents = data[GROUP, "action"].shape[-1]
    for key in ("done", "terminated"):  # the env-level flags, expanded to the group as the tutorial does
        data.set(("next", GROUP, key), data.get(("next", key)).unsqueeze(-1).expand(*data.batch_size, n_agents, 1))
    with torch.no_grad():
        loss.value_estimator(data, params=loss.critic_network_params, target_params=loss.target_critic_network_params)
    optim = torch.optim.Adam(loss.parameters(), lr=3e-4)
    losses = loss(data)
    total = losses["loss_objective"] + losses["loss_critic"] + losses["loss_entropy"]
    total.backward()
    optim.step()
    return float(total.detach())


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Check the specs, roll out one episode with the masked policy; print and return its figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="small")
    p.add_argument("--rounds", type=int, default=50, help="horizon: decision rounds per episode")
    p.add_argument("--shield", choices=("none", "central", "decentralized"), default="none")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    env = make_env(args.scenario, args.rounds, args.seed, args.shield)
    check_env_specs(env)
    policy = make_policy(env)
    critic = make_critic(env)
    with torch.no_grad():
        rollout = env.rollout(args.rounds + 5, policy=policy, break_when_any_done=True)
    loss_value = mappo_step(policy, critic, rollout)
    action = rollout[GROUP, "action"]
    mask = rollout[GROUP, "action_mask"]
    taken_mask = mask.gather(-1, action.unsqueeze(-1)).squeeze(-1)
    reward = rollout["next", GROUP, "reward"]
    figures = {"rounds": float(rollout.batch_size[0]), "mean_reward": float(reward.mean()),
               "masked_share": float((~taken_mask).float().mean()), "loss": loss_value,
               "state_dim": float(env.observation_spec["state"].shape[-1])}
    print(f"torchrl: {int(figures['rounds'])} rounds of {action.shape[-1]} edges (shield {args.shield}), mean reward "
          f"per agent-round {figures['mean_reward']:.3f}, masked actions {figures['masked_share']:.1%}; one MAPPO "
          f"step with a critic on the {int(figures['state_dim'])}-value state, loss {loss_value:.3f}")
    return figures


if __name__ == "__main__":
    main()
