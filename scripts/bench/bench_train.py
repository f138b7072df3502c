"""Benchmark training: agent-steps/s of the learners and where their time goes (cProfile, grouped by module).

For each algo (default: IDQN, IPPO and shared MaskablePPO) it trains a short run on a scenario (default
``paper``, 50 edges) behind a shield (default ``central``: the SROLE-central configuration) twice from the
same seed: once plain, for the agent-steps/s (an agent-step is one agent's action in one round, so a
round is N agent-steps), and once under ``cProfile`` for the shares of time:

| share | what it holds |
|---|---|
| ``env`` | the simulator and the PettingZoo env (``srole_env``), including reset |
| ``shield`` | the shield (``shields``): reading the round, resolving it, its latency model |
| ``adapter`` | the array view and SB3 vec-env adapter (``agents/common/array_env.py``, ``vec_env.py``) |
| ``inference`` | policy forward passes to act: preferences/probabilities/Q-values, values, SB3's ``forward`` |
| ``gradient`` | the learners' update steps (IDQN/IPPO ``update``, SB3 ``train``): batches, backward, optimizer |
| ``logging`` | episode logs, TensorBoard, checkpoints |
| ``loop`` | the rest: the learners' own loops (rollout buffers, exploration, SB3's ``collect_rollouts``), setup |

Each profiled function's own time goes to its category; time in library code (NumPy, torch, SB3,
builtins) goes to the category of the first-party code that called it, split over several callers in
proportion to their share of its time (gprof's assumption, so shares are approximate where one library
function serves several categories). The profiler slows Python-heavy code more than torch kernels, so
the shares lean towards Python overhead; the agent-steps/s come from the plain run.

    python scripts/bench/bench_train.py                           # ~20-40 s per algo and run on 2 cores
    python scripts/bench/bench_train.py --algos idqn --rounds 400 --shield none
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.harness.train import train  # noqa: E402
from srole_env import make_config  # noqa: E402

CATEGORIES = ("env", "shield", "adapter", "inference", "gradient", "logging", "loop")
DEFAULT_ROUNDS = {"idqn": 600, "ippo": 1000, "maskable_ppo": 1000}

_GRADIENT = {("agents/learners/idqn.py", "update"), ("agents/learners/ippo.py", "update"),
             ("agents/learners/replay.py", "sample"),
             ("sb3_contrib/ppo_mask/ppo_mask.py", "train"),
             ("stable_baselines3/ppo/ppo.py", "train"), ("stable_baselines3/dqn/dqn.py", "train")}
_INFERENCE = {("agents/learners/idqn.py", "preferences"), ("agents/learners/ippo.py", "preferences"),
              ("agents/learners/ippo.py", "values"),
              ("agents/learners/sb3/learners.py", "sb3_preferences"), ("agents/common/policy.py", "preferences"),
              ("sb3_contrib/common/maskable/policies.py", "forward"),
              ("sb3_contrib/common/maskable/policies.py", "predict_values"),
              ("stable_baselines3/common/policies.py", "forward"),
              ("stable_baselines3/common/policies.py", "predict_values")}

_MODULE_METHODS = {"forward", "logits", "value", "as_tensor"}


def category(key: tuple[str, int, str]) -> str | None:
    """Category of a profiled function (file, line, name), or None for library code (attributed to callers)."""
    path, _, name = key
    path = path.replace("\\", "/")
    for suffix, fn in _GRADIENT:
        if path.endswith(suffix) and name == fn:
            return "gradient"
    for suffix, fn in _INFERENCE:
        if path.endswith(suffix) and name == fn:
            return "inference"
    if "site-packages" not in path:
        rel = path[len(str(ROOT)) + 1:] if path.startswith(str(ROOT)) else path
        if rel == "agents/learners/optim.py":
            return "gradient"  # Adam, clipping, Polyak (agents.learners.optim)
        if rel == "agents/learners/networks.py" or (rel.startswith("agents/") and name in _MODULE_METHODS):
            return None  # network forward passes: used by acting and by updates, so they go to their callers
        if rel.startswith("srole_env/"):
            return "env"
        if rel.startswith("shields/"):
            return "shield"
        if rel in ("agents/common/array_env.py", "agents/common/vec_env.py"):
            return "adapter"
        if rel in ("agents/common/run_dir.py", "agents/common/context.py") or name == "save":
            return "logging"
        if rel.startswith("agents/"):
            return "loop"
    if "torch/utils/tensorboard" in path or "tensorboard/" in path:
        return "logging"
    return None


def shares(stats: pstats.Stats, detail: dict[tuple[str, str], float] | None = None) -> dict[str, float]:
    """Seconds per category (see module docstring); ``detail`` collects seconds per (category, function)."""
    raw = stats.stats  # key -> (cc, nc, tt, ct, callers{caller: (cc, nc, tt, ct)})
    memo: dict[Any, dict[str, float]] = {}

    def split(key: Any, depth: int = 0) -> dict[str, float]:
        """Fractions of a library function's time that belong to each category (through its callers)."""
        cat = category(key)
        if cat is not None:
            return {cat: 1.0}
        if key in memo:
            return memo[key] or {}  # None: on the current path (recursion, e.g. nested torch modules)
        memo[key] = None
        callers = raw.get(key, (0, 0, 0.0, 0.0, {}))[4]
        total = sum(edge[3] for edge in callers.values())
        out: dict[str, float] = defaultdict(float)
        if callers and total > 0 and depth < 200:
            for caller, edge in callers.items():
                for c, f in split(caller, depth + 1).items():
                    out[c] += f * edge[3] / total
        norm = sum(out.values())  # renormalize over the callers that lead somewhere outside the recursion
        if norm > 0:
            memo[key] = {c: f / norm for c, f in out.items()}
        elif callers and total > 0:  # every caller is on the current path: decided by the outer frames
            del memo[key]
            return {}
        else:  # a root: the profiled call itself
            memo[key] = {"loop": 1.0}
        return memo[key]

    seconds: dict[str, float] = defaultdict(float)
    for key, (_, _, tt, _, callers) in raw.items():
        cat = category(key)
        total = sum(edge[2] for edge in callers.values())
        if cat is not None:
            parts = {cat: tt}
        elif not callers or total <= 0:
            parts = {"loop": tt}
        else:
            parts = defaultdict(float)
            for caller, edge in callers.items():
                for c, f in split(caller).items():
                    parts[c] += tt * f * edge[2] / total
        for c, sec in parts.items():
            seconds[c] += sec
            if detail is not None:
                detail[(c, pstats.func_std_string(key))] = sec
    return dict(seconds)


def _train(algo: str, shield: str, scenario: str, rounds: int, seed: int, out: Path) -> int:
    """Train one short run; returns the agent-steps it took (at least rounds x N)."""
    n = make_config(scenario).n_edges
    params = inspect.signature(train).parameters
    budget = {"rounds": rounds} if "rounds" in params else {"timesteps": rounds * n}
    train(algo, shield, scenario, seed=seed, out_dir=out, device="cpu", progress=False, **budget)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    return int(state.get("timesteps", rounds * n))  # PPO-style learners finish their last rollout


def bench(algo: str, args: argparse.Namespace) -> dict[str, Any]:
    rounds = args.rounds or DEFAULT_ROUNDS.get(algo, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        _train(algo, args.shield, args.scenario, 2, args.seed, Path(tmp) / "warmup")  # imports, first calls
        start = time.perf_counter()
        steps = _train(algo, args.shield, args.scenario, rounds, args.seed, Path(tmp) / "plain")
        wall = time.perf_counter() - start
        row: dict[str, Any] = {"algo": algo, "rounds": steps // make_config(args.scenario).n_edges, "wall_s": wall,
                               "agent_steps_s": steps / wall}
        if args.no_profile:
            return row
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.runcall(_train, algo, args.shield, args.scenario, rounds, args.seed, Path(tmp) / "profiled")
        row["profiled_s"] = time.perf_counter() - start
    detail: dict[tuple[str, str], float] = {}
    seconds = shares(pstats.Stats(prof), detail)
    total = sum(seconds.values())
    row.update({c: seconds.get(c, 0.0) / total for c in CATEGORIES})
    if args.top:
        print(f"--- {algo}: per category, the {args.top} functions with the most own time attributed to it")
        for c in CATEGORIES:
            top = sorted(((sec, fn) for (cc, fn), sec in detail.items() if cc == c), reverse=True)[: args.top]
            print(f"  {c}: {100 * seconds.get(c, 0.0) / total:.1f}%")
            for sec, fn in top:
                print(f"    {100 * sec / total:5.1f}%  {fn}")
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["idqn", "ippo", "maskable_ppo"])
    parser.add_argument("--shield", default="central", help="none, central or decentralized")
    parser.add_argument("--scenario", default="paper")
    parser.add_argument("--rounds", type=int, default=0, help="training rounds per run (default: per algo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-profile", action="store_true", help="only the plain run (agent-steps/s)")
    parser.add_argument("--top", type=int, default=0, help="also print the top functions of each profile")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for algo in args.algos:
        rows.append(bench(algo, args))
        r = rows[-1]
        print(f"{algo}: {r['rounds']} rounds in {r['wall_s']:.1f} s, {r['agent_steps_s']:,.0f} agent-steps/s",
              flush=True)
    print()
    print(f"scenario {args.scenario}, shield {args.shield}, torch threads 1; shares from cProfile (see docstring)")
    print("| algo | rounds | agent-steps/s | " + " | ".join(CATEGORIES) + " |")
    print("|---|---:|---:|" + "---:|" * len(CATEGORIES))
    for r in rows:
        cells = " | ".join(f"{100 * r[c]:.0f}%" if c in r else "-" for c in CATEGORIES)
        print(f"| {r['algo']} | {r['rounds']} | {r['agent_steps_s']:,.0f} | {cells} |")


if __name__ == "__main__":
    main()
