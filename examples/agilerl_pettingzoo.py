"""AgileRL on the edge cluster: IPPO trained by AgileRL's own on-policy runner, the masks read from the infos.

AgileRL's multi-agent algorithms take PettingZoo parallel envs and read each agent's action mask from
``infos[agent]["action_mask"]``, which ``action_mask_in_info=True`` provides; ``obs_format="flat"`` gives one
Box per agent. The edges ``edge_0 ... edge_{N-1}`` share one prefix, so AgileRL groups them: one actor and one
critic for all. ``agilerl.training.train_multi_agent_on_policy`` (AgileRL's documented runner, with its
evolutionary population; one member here) trains on ``agilerl.vector.PzDummyVecEnv``.
``--shield central|decentralized`` puts a shield between AgileRL and the env.

Pinned: agilerl 2.58.0 (the ``agilerl`` extra; it pins pettingzoo 1.26.1, hence a venv of its own). Two bugs
of that release need workarounds:

* its package imports ``peft`` (``agilerl.distributed.expert_parallel``, reached from ``agilerl.algorithms``)
  without declaring it, so ``import agilerl.algorithms`` fails with ``No module named 'peft'``: the ``agilerl``
  extra adds ``peft`` (setup.cfg);
* ``IPPO.extract_action_masks`` tests ``None in group_masks`` on the list of masks, which raises "The truth value
  of an array with more than one element is ambiguous" when the masks are NumPy arrays (as ours, and any
  Gymnasium space sample, are): ``ListMasks`` below hands them over as lists of ints.

    python examples/agilerl_pettingzoo.py --steps 2000
    python examples/agilerl_pettingzoo.py --steps 2000 --shield central
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from agilerl.algorithms import IPPO
from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy
from agilerl.vector import PzDummyVecEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper

from srole_env import parallel_env


def _list_masks(infos: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a: {**info, "action_mask": [int(v) for v in info["action_mask"]]} for a, info in infos.items()}


class ListMasks(BaseParallelWrapper):
    """AgileRL 2.58 bug workaround: the infos' NumPy action masks as lists of ints (``None in masks`` raises on
    arrays in ``IPPO.extract_action_masks``)."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, _list_masks(infos)

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        return obs, rewards, terminations, truncations, _list_masks(infos)


def make_env(scenario: str, horizon: int, shield: str) -> ListMasks:
    """The flat parallel env with masks in the infos, behind ``shield`` unless ``none``, masks as lists."""
    env = parallel_env(scenario, obs_format="flat", action_mask_in_info=True, horizon=horizon)
    if shield != "none":
        from shields import make_shield

        env = make_shield(env, shield)
    return ListMasks(env)


def masked_share(agent: IPPO, env: ListMasks, seed: int) -> float:
    """The share of masked actions the trained agent takes over one episode (0 when AgileRL applied the masks)."""
    obs, infos = env.reset(seed=seed)
    masked = taken = 0
    while env.agents:
        actions, *_ = agent.get_action(obs={a: o[None] for a, o in obs.items()}, infos=infos)
        actions = {a: int(np.asarray(actions[a]).ravel()[0]) for a in env.agents}
        masked += sum(infos[a]["action_mask"][actions[a]] == 0 for a in env.agents)
        taken += len(actions)
        obs, _, _, _, infos = env.step(actions)
    return masked / max(taken, 1)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train IPPO with AgileRL's runner; print and return the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=50, help="decision rounds per episode")
    p.add_argument("--steps", type=int, default=2000, help="env steps (rounds of all agents)")
    p.add_argument("--learn-step", type=int, default=128, help="rounds per IPPO update")
    p.add_argument("--evo-steps", type=int, default=None, help="rounds between evolution steps (default: --steps)")
    p.add_argument("--shield", choices=("none", "central", "decentralized"), default="none")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002 - AgileRL's population and runner draw from the global RNG
    env = PzDummyVecEnv(make_env(args.scenario, args.horizon, args.shield))
    env.reset(seed=args.seed)
    agent_ids = list(env.agents)
    population = IPPO.population(size=1, observation_space=[env.single_observation_space(a) for a in agent_ids],
                                 action_space=[env.single_action_space(a) for a in agent_ids], agent_ids=agent_ids,
                                 learn_step=args.learn_step, batch_size=min(64, args.learn_step), device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        population, fitness = train_multi_agent_on_policy(env, "srole_edge_cluster", "IPPO", population,
                                                          max_steps=args.steps, evo_steps=args.evo_steps or args.steps,
                                                          eval_loop=1, verbose=False)
    share = masked_share(population[0], make_env(args.scenario, args.horizon, args.shield), args.seed + 1000)
    if share > 0:
        warnings.warn(f"examples/agilerl_pettingzoo.py: IPPO took a masked action {share:.0%} of the time: the masks"
                      " did not reach it (check infos[agent]['action_mask'])", UserWarning, stacklevel=2)
    figures = {"steps": float(np.ravel(population[0].steps)[-1]), "fitness": float(np.ravel(fitness)[-1]),
               "masked_share": share}
    print(f"agilerl ippo: {int(figures['steps'])} rounds (shield {args.shield}), fitness {figures['fitness']:.2f}, "
          f"masked actions {share:.1%}")
    return figures


if __name__ == "__main__":
    main()
