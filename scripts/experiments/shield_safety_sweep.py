"""Seeded sweep of the shield safety property on the ``small`` and ``paper`` scenarios.

For every scenario and seed it plays one episode (``--rounds`` rounds) unshielded with random actions
and, for every shield kind and policy, one shielded episode with a priority rule and partition drawn
from the seed. Every shielded round is audited with ``shields.audit`` (overloads caused by new tasks,
missed alternatives, order violations, touched agents, needless rewrites: all must be 0), and the
audit also counts the collisions the agents' own joint action would have caused on those very states.

    python scripts/experiments/shield_safety_sweep.py --seeds 30 --rounds 200

Prints one row per scenario x shield x policy and exits with status 1 if any violation is found.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np

from agents.baselines.heuristics import make_heuristic
from shields import PARTITION_METHODS, PRIORITY_RULES, make_shield
from shields.audit import BREACHES, audit
from srole_env import parallel_env
from srole_env.round_state import round_state


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="episodes per scenario (seeds 0..seeds-1)")
    parser.add_argument("--rounds", type=int, default=200, help="rounds per episode (capped at the horizon)")
    parser.add_argument("--scenarios", nargs="+", default=["small", "paper"])
    parser.add_argument("--kinds", nargs="+", default=["central", "decentralized"])
    parser.add_argument("--policies", nargs="+", default=["random", "least_loaded"])
    return parser.parse_args(argv)


def unshielded_episode(scenario: str, seed: int, rounds: int) -> Counter:
    """Random play without a shield: the simulator's collisions and the overloads new tasks caused."""
    env = parallel_env(scenario)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    sim, out = env.sim, Counter()
    for _ in range(min(rounds, env.config.horizon)):
        state = round_state(sim)
        actions = rng.integers(0, sim.n_actions, sim.n_edges)
        found = audit(state, actions, actions)
        *_, result = env.step_arrays(actions)
        out["collisions"] += result.collisions
        out["overloads"] += found["overloads_unshielded"]
        out["rounds"] += 1
    return out


def shielded_episode(scenario: str, kind: str, policy: str, seed: int, rounds: int) -> Counter:
    """One audited shielded episode; the priority rule and partition vary with the seed."""
    rng = np.random.default_rng(seed)
    kwargs = {"priority": sorted(PRIORITY_RULES)[seed % len(PRIORITY_RULES)], "seed": seed}
    if kind == "decentralized":
        kwargs["partition"] = PARTITION_METHODS[seed % len(PARTITION_METHODS)]
    env = make_shield(parallel_env(scenario), kind, **kwargs)
    env.reset(seed=seed)
    heuristic = make_heuristic(policy, seed=seed)
    sim, out = env.unwrapped.sim, Counter()
    obs, mask = sim.observe(), sim.action_mask()
    for _ in range(min(rounds, env.unwrapped.config.horizon)):
        state = round_state(sim)
        prefs = heuristic.preferences(obs, mask)
        if rng.random() < 0.5:
            prefs = None  # half the rounds without preferences: least-loaded alternatives
            actions = heuristic.act(obs, mask)
        else:
            actions = np.argmax(prefs, axis=1)
        obs, mask, _, _, _, result = env.step_arrays(actions, prefs)
        report = env.last_report
        found = audit(state, actions, report["action"], prefs)
        for key in BREACHES:
            out[key] += found[key]
        out["collisions_avoided"] += found["collisions_unshielded"]
        out["sim_collisions"] += result.collisions
        out["interventions"] += report["interventions"]
        out["messages"] += report["messages"]
        out["rounds"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    violations = 0
    header = (f"{'scenario':<8} {'shield':<14} {'policy':<13} {'rounds':>7} {'violations':>10} "
              f"{'sim coll.':>9} {'coll. avoided':>13} {'interventions':>13} {'messages':>9}")
    print(header)
    print("-" * len(header))
    for scenario in args.scenarios:
        free = Counter()
        for seed in range(args.seeds):
            free += unshielded_episode(scenario, seed, args.rounds)
        print(f"{scenario:<8} {'none':<14} {'random':<13} {free['rounds']:>7} {'-':>10} {free['collisions']:>9} "
              f"{'-':>13} {'-':>13} {'-':>9}   (overloads caused by new tasks: {free['overloads']})")
        for kind in args.kinds:
            for policy in args.policies:
                total = Counter()
                for seed in range(args.seeds):
                    total += shielded_episode(scenario, kind, policy, seed, args.rounds)
                bad = sum(total[k] for k in BREACHES) + total["sim_collisions"]
                violations += bad
                print(f"{scenario:<8} {kind:<14} {policy:<13} {total['rounds']:>7} {bad:>10} "
                      f"{total['sim_collisions']:>9} {total['collisions_avoided']:>13} "
                      f"{total['interventions']:>13} {total['messages']:>9}")
                if bad:
                    print("    breaches:", {k: total[k] for k in BREACHES})
    print(f"\ntotal violations: {violations} (must be 0)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
