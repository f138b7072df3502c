"""skrl on the edge cluster through its own ``PettingZooWrapper``: MAPPO (centralized critic) or IPPO, masked.

skrl wraps the parallel env as it comes (``skrl.envs.wrappers.torch.wrap_env(env, wrapper="pettingzoo")``) and
reads the global state from the env's ``state_space`` / ``state()`` (every edge's observation concatenated):
MAPPO's critic is sized by it, so without a ``state_space`` skrl reports the state as ``None`` and MAPPO
cannot be built. The env uses ``obs_format="flat"`` (one Box per agent, the action mask as its last A entries),
since skrl flattens a Dict observation in its own key order. skrl has no action masking of its own: the
policy below (skrl's ``CategoricalMixin``) adds ``log(mask)`` to its logits, so masked actions are never
sampled (``--unmasked`` drops that, and warns: masked actions are legal here but overload their edge).
``--shield central|decentralized`` puts a shield between skrl's wrapper and the env. Every edge shares one
policy and one critic (the same model objects in every agent's slot).

Pinned: skrl 2.1.1 (the ``skrl`` extra). Two of its config defaults need a workaround, both set below with a
comment: its multi-agent configs reject their own default empty kwargs dicts (``MultiAgentCfg.expand`` reads
any dict as per-agent values: "Specified keys (set()) do not match possible agents"), so each agent gets its
own empty dict; and ``ExperimentCfg.directory=""`` writes TensorBoard files and checkpoints under ``./runs``
of the working directory, so the recipe points it at a temporary directory and switches both writers off.
``SequentialTrainerCfg(headless=True)`` keeps the trainer from calling ``env.render()`` every step.

    python examples/skrl_pettingzoo.py --algo mappo --timesteps 2000
    python examples/skrl_pettingzoo.py --algo ippo --shield central --timesteps 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import warnings
from collections.abc import Sequence

import torch
from skrl.envs.wrappers.torch import wrap_env
from skrl.memories.torch import RandomMemory
from skrl.models.torch import CategoricalMixin, DeterministicMixin, Model
from skrl.multi_agents.torch.ippo import IPPO, IPPO_CFG
from skrl.multi_agents.torch.mappo import MAPPO, MAPPO_CFG
from skrl.trainers.torch import SequentialTrainer

from srole_env import parallel_env


class MaskedPolicy(CategoricalMixin, Model):
    """A shared MLP over one edge's flat observation; ``log(mask)`` on the logits (the last A inputs) when masked."""

    def __init__(self, observation_space, action_space, device, masked: bool = True) -> None:
        Model.__init__(self, observation_space=observation_space, action_space=action_space, device=device)
        CategoricalMixin.__init__(self, unnormalized_log_prob=True)
        self.n_actions = int(action_space.n)
        self.masked = masked
        self.net = torch.nn.Sequential(torch.nn.Linear(self.num_observations, 64), torch.nn.Tanh(),
                                       torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, self.n_actions))

    def compute(self, inputs, role=""):
        obs = inputs["observations"]
        logits = self.net(obs)
        if self.masked:
            mask = obs[:, -self.n_actions:] > 0.5
            logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        return logits, {}


class Critic(DeterministicMixin, Model):
    """A value MLP over the global state (MAPPO: ``inputs["states"]``) or one edge's observation (IPPO)."""

    def __init__(self, observation_space, state_space, action_space, device, centralized: bool) -> None:
        Model.__init__(self, observation_space=observation_space, state_space=state_space, action_space=action_space,
                       device=device)
        DeterministicMixin.__init__(self)
        self.centralized = centralized
        n_in = self.num_states if centralized else self.num_observations
        self.net = torch.nn.Sequential(torch.nn.Linear(n_in, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))

    def compute(self, inputs, role=""):
        return self.net(inputs["states"] if self.centralized else inputs["observations"]), {}


def make_env(scenario: str, horizon: int, shield: str):
    """The flat parallel env (behind ``shield`` unless ``none``) in skrl's PettingZoo wrapper."""
    env = parallel_env(scenario, obs_format="flat", horizon=horizon)
    if shield != "none":
        from shields import make_shield

        env = make_shield(env, shield)
    return wrap_env(env, wrapper="pettingzoo")


def build(env, algo: str, rollouts: int, masked: bool, out_dir: str):
    """skrl's MAPPO or IPPO with one policy and one critic shared by every edge."""
    agents = env.possible_agents
    first = agents[0]
    centralized = algo == "mappo"
    policy = MaskedPolicy(env.observation_space(first), env.action_space(first), env.device, masked)
    critic = Critic(env.observation_space(first), env.state_space(first), env.action_space(first), env.device,
                    centralized)
    models = {a: {"policy": policy, "value": critic} for a in agents}
    memories = {a: RandomMemory(memory_size=rollouts, num_envs=env.num_envs, device=env.device) for a in agents}
    cls, cfg_cls = (MAPPO, MAPPO_CFG) if centralized else (IPPO, IPPO_CFG)
    cfg = cfg_cls(rollouts=rollouts, learning_epochs=2, mini_batches=1, learning_rate=3e-4)
    # skrl 2.1.1 bug: MultiAgentCfg.expand() reads every dict-valued field as per-agent values, so the default
    # empty kwargs ({} for learning_rate_scheduler_kwargs and the *_preprocessor_kwargs) fail with "Specified keys
    # (set()) do not match possible agents"; give each agent its own empty kwargs instead
    for field in dataclasses.fields(cfg):
        if getattr(cfg, field.name) == {}:
            setattr(cfg, field.name, {a: {} for a in agents})
    # skrl default 2 of 2: ExperimentCfg.directory="" writes TensorBoard runs and checkpoints into ./runs
    cfg.experiment.directory = out_dir
    cfg.experiment.write_interval = 0
    cfg.experiment.checkpoint_interval = 0
    return cls(possible_agents=agents, models=models, memories=memories, cfg=cfg,
               observation_spaces=env.observation_spaces, action_spaces=env.action_spaces,
               state_spaces=env.state_spaces, device=env.device)


def masked_share(env, agent, episodes: int) -> float:
    """The share of masked actions the trained policy samples over ``episodes`` episodes."""
    taken = masked = 0
    n_actions = int(env.action_space(env.possible_agents[0]).n)
    policy = agent.policies[env.possible_agents[0]]
    for _ in range(episodes):
        observations, _ = env.reset()
        while env.agents:
            actions = {}
            with torch.no_grad():
                for uid in env.agents:
                    act, _ = policy.act({"observations": observations[uid]}, role="policy")
                    actions[uid] = act
                    masked += int(observations[uid][0, -n_actions + int(act)] < 0.5)
                    taken += 1
            observations, *_ = env.step(actions)
    return masked / max(taken, 1)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train with skrl's SequentialTrainer; print and return the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", choices=("mappo", "ippo"), default="mappo")
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=50, help="decision rounds per episode")
    p.add_argument("--timesteps", type=int, default=2000, help="env steps (rounds of all agents)")
    p.add_argument("--rollouts", type=int, default=32, help="rounds per update")
    p.add_argument("--shield", choices=("none", "central", "decentralized"), default="none")
    p.add_argument("--unmasked", action="store_true", help="no log(mask) on the logits (samples masked actions)")
    p.add_argument("--eval-episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    env = make_env(args.scenario, args.horizon, args.shield)
    with tempfile.TemporaryDirectory() as out_dir:
        agent = build(env, args.algo, args.rollouts, not args.unmasked, out_dir)
        # headless: SequentialTrainerCfg's default (False) calls env.render() at every step
        trainer = SequentialTrainer(env=env, agents=agent,
                                    cfg={"timesteps": args.timesteps, "headless": True, "disable_progressbar": True,
                                         "close_environment_at_exit": False})
        trainer.train()
        share = masked_share(env, agent, args.eval_episodes)
    if share > 0:
        warnings.warn(f"examples/skrl_pettingzoo.py: the unmasked policy sampled a masked action {share:.0%} of the"
                      " time (placed anyway: the edge overloads, or a shield rewrites it); drop --unmasked.",
                      UserWarning, stacklevel=2)
    figures = {"timesteps": float(args.timesteps), "masked_share": share,
               "state_dim": float(env.state_space(env.possible_agents[0]).shape[0])}
    print(f"skrl {args.algo}: {args.timesteps} rounds of {len(env.possible_agents)} edges "
          f"(shield {args.shield}), state {int(figures['state_dim'])} values, masked actions {share:.1%}")
    return figures


if __name__ == "__main__":
    main()
