"""Stable-Baselines3 on the edge cluster through SuperSuit: MaskablePPO (the default), or plain PPO.

The recipe of PettingZoo's SB3 tutorials, unchanged but for two env options: ``obs_format="flat"`` (one
Box per agent, the action mask as its last A entries, which ``MlpPolicy`` takes) and, for MaskablePPO,
``srole_env.wrappers.sb3.VecActionMasks`` (``action_masks()`` from those last A entries). The wrapper
also marks every episode end as a time limit (``TimeLimit.truncated``): SuperSuit folds truncation into
``done``, and our episodes end only at the horizon, so without it SB3 would not bootstrap there.
All agents share one policy (SuperSuit makes each agent one entry of the vector env).

Plain PPO (``--algo ppo``) does not see the mask as a mask: its greedy policy picks masked actions (82-91%
of them in our runs). Masked actions are legal but unsafe here (the task is placed and its edge overloads;
a shield would rewrite them), so the recipe warns with the share it measured.

    python examples/sb3_supersuit.py --timesteps 20000              # MaskablePPO
    python examples/sb3_supersuit.py --algo ppo --timesteps 20000   # unmasked: warns
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence

import numpy as np
import supersuit as ss
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from srole_env import parallel_env
from srole_env.wrappers.sb3 import VecActionMasks


def make_vec_env(scenario: str, n_envs: int, horizon: int) -> VecActionMasks:
    """``n_envs`` copies of the flat-observation parallel env as one SB3 VecEnv (one entry per agent)."""
    env = parallel_env(scenario, obs_format="flat", horizon=horizon)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, n_envs, num_cpus=0, base_class="stable_baselines3")
    return VecActionMasks(venv)  # action_masks() for MaskablePPO; the horizon reported as truncation


def evaluate(model: PPO | MaskablePPO, venv: VecActionMasks, episodes: int, seed: int) -> dict[str, float]:
    """Greedy episodes of ``model``: the mean per-agent episode return and the share of masked actions taken."""
    masked = taken = 0
    returns = []
    venv.seed(seed)
    obs = venv.reset()
    for _ in range(episodes):
        total, done = np.zeros(venv.num_envs), False
        while not done:
            masks = venv.action_masks()
            kwargs = {"action_masks": masks} if isinstance(model, MaskablePPO) else {}
            actions, _ = model.predict(obs, deterministic=True, **kwargs)
            masked += int((~masks[np.arange(len(actions)), actions]).sum())
            taken += len(actions)
            obs, rewards, dones, _ = venv.step(actions)
            total += rewards
            done = bool(dones.all())
        returns.append(float(total.mean()))
    return {"mean_return": float(np.mean(returns)), "masked_share": masked / max(taken, 1)}


def warn_if_unmasked(algo: str, masked_share: float) -> None:
    """Warn when an unmasked learner's greedy policy took masked actions (each one overloads an edge here)."""
    if masked_share > 0:
        warnings.warn(
            f"examples/sb3_supersuit.py: {algo} with MlpPolicy on the flat observation does not apply the action mask;"
            f" its greedy policy took a masked action {masked_share:.0%} of the time (placed anyway, the edge"
            " overloads; a shield would rewrite it). Use --algo maskable (sb3_contrib.MaskablePPO + VecActionMasks).",
            UserWarning,
            stacklevel=2,
        )


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train, evaluate, print and return the evaluation figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", choices=("maskable", "ppo"), default="maskable",
                   help="maskable: sb3_contrib.MaskablePPO (masks from VecActionMasks); ppo: unmasked, warns")
    p.add_argument("--scenario", default="small")
    p.add_argument("--horizon", type=int, default=100, help="decision rounds per episode")
    p.add_argument("--timesteps", type=int, default=20_000, help="agent-steps (N per env round)")
    p.add_argument("--n-envs", type=int, default=2, help="env copies (each gives N agents)")
    p.add_argument("--n-steps", type=int, default=64, help="rounds per rollout")
    p.add_argument("--eval-episodes", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    venv = make_vec_env(args.scenario, args.n_envs, args.horizon)
    algo = MaskablePPO if args.algo == "maskable" else PPO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SuperSuit's vec env has no render_mode
        model = algo("MlpPolicy", venv, n_steps=args.n_steps, batch_size=min(256, args.n_steps * venv.num_envs),
                     seed=args.seed, verbose=0)
        model.learn(args.timesteps)
    figures = evaluate(model, make_vec_env(args.scenario, 1, args.horizon), args.eval_episodes, args.seed + 1000)
    warn_if_unmasked(args.algo, figures["masked_share"])
    print(f"{args.algo}: {model.num_timesteps} agent-steps; greedy mean return per agent "
          f"{figures['mean_return']:.2f}, masked actions {figures['masked_share']:.1%}")
    return {**figures, "timesteps": float(model.num_timesteps)}


if __name__ == "__main__":
    main()
