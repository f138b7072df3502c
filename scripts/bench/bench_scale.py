"""Benchmark: every method's evaluation episode at scale, against an older tree, and round cost against N.

    python scripts/bench/bench_scale.py                         # trains tiny policies, then everything
    python scripts/bench/bench_scale.py --before /work/before   # also time that tree's code, side by side
    python scripts/bench/bench_scale.py --marl RUN --crl RUN --sizes 20 200 2000 --skip-episodes

**Episodes.** One evaluation episode (``evaluate(policy, shield, paper with n_edges=N, horizon=H)``, 1 episode, seed
0) at N = 10,000 and H = 200 for MARL (an ``idqn`` policy, no shield), SROLE-central and SROLE-decentralized (the
same policy behind each shield: the policy's weights do not change the cost), least_loaded, CRL (a ``crl_idqn``
policy) and CRL-greedy. Each case runs in a fresh process on one core (torch and BLAS on one thread) with the tree's
own code (``PYTHONPATH``); start-up is excluded: the worker first evaluates the same case at N = 20 for 3 rounds
(imports, numba's cache, the policy's load; ``scipy.spatial``, the k-d tree's, imported too), then times the
episode, reset included, in CPU seconds of the process (what one core spends: on a shared machine the other
processes' time slices are left out) and wall seconds. With ``--before TREE`` each case runs with that tree's code
right after this one's (interleaved), the table gives both, their ratio and whether the two episodes' figures agree
(mean JCT, tasks placed, head decisions: the same decisions give the same numbers). ``--repeat K`` runs this tree's
case in K fresh processes and reports the median (the machine's run-to-run spread is +-10%).

**Round cost against N.** For each N: a fresh process builds the env (``reset`` timed apart), plays
``--warm`` rounds so queues fill, then times ``--rounds`` rounds: the bare array fast path, each shield
(least_loaded actions and preferences), the cluster head (``crl_greedy`` on the compiled loop,
``CentralizedSchedulingEnv.decide_round``), and the MARL policy's batched forward for all N agents, in CPU
milliseconds per round (``time.process_time``; the wall figure is in the worker's output). Peak
memory is the process's ``ru_maxrss``. The last lines check that N = 100,000 stays within 4 GiB and that the
cost per round grows no faster than N log N between the two largest sizes.

``--edges-per-region X`` gives the episodes ``n_regions = max(4, round(N / X))`` (the crossover study's 12.5: 4,000
regions at N = 50,000) and adds SROLE-decentralized's ratio to SROLE-central and its peak memory; ``--methods``
runs only the methods named (e.g. ``SROLE-central SROLE-decentralized``).

Policies: ``--marl`` / ``--crl`` run directories, else tiny ones trained here (``srole train --algo idqn`` and
``--algo crl_idqn`` at N = 20 for ``--train-rounds`` rounds; the speed does not depend on how well they learned).
Output is Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
METHODS = (("MARL", "marl", "none"), ("SROLE-central", "marl", "central"),
           ("SROLE-decentralized", "marl", "decentralized"), ("least_loaded", "least_loaded", "none"),
           ("CRL (crl_idqn)", "crl", "none"), ("CRL-greedy", "crl_greedy", "none"))
ROUND_MODES = ("bare", "central", "decentralized", "head", "marl_forward")


# ---------------------------------------------------------------------- workers (run with a tree's own code)
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load_shield_kernel(shield: str) -> None:
    """Load the shield kernel now behind a shield, so the timed rounds run it from the first (steady state, not the
    ski rental); trees before ``shields.kernel.load`` load it on the first round anyway."""
    from shields import kernel

    if shield != "none" and hasattr(kernel, "load"):
        kernel.load()


def _import_kdtree() -> None:
    """Import ``scipy.spatial`` now: trees with the k-d tree neighbour search (beyond 2,048 edges) import it on the
    first large reset, about 0.9 s on the 2-core machine, a process's start-up like numba's (excluded); a tree
    without it pays nothing either way."""
    import scipy.spatial  # noqa: F401


def _moved() -> bool:
    """True in trees after the house move (``agents/harness``); decided by the files, because the editable
    install's finder would resolve a missing submodule from the installed checkout instead of failing."""
    return (Path.cwd() / "agents" / "harness").is_dir()


def _evaluate_fn():
    if _moved():
        from agents.harness.evaluate import evaluate
    else:  # trees before the house move
        from agents.evaluate import evaluate
    return evaluate


def worker_episode(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    evaluate = _evaluate_fn()
    from srole_env import make_config

    policy, shield = job["policy"], job["shield"]
    _load_shield_kernel(shield)  # numba's start-up belongs to the excluded start-up
    _import_kdtree()
    evaluate(policy, shield, make_config("paper", n_edges=20, horizon=3), 1, 0, "cpu")  # start-up, excluded
    regions = {"n_regions": job["n_regions"]} if job.get("n_regions") else {}
    cfg = make_config("paper", n_edges=job["n"], horizon=job["horizon"], **regions)
    start, cpu = time.perf_counter(), time.process_time()
    result = evaluate(policy, shield, cfg, 1, job.get("seed", 0), "cpu")
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    keys = ("mean_jct", "mean_jct_all", "tasks_placed", "head_decisions", "episode_return", "interventions")
    return {"seconds": seconds, "cpu_s": cpu_s, "peak_mib": _peak_mib(), **{k: result.get(k) for k in keys},
            "code": str(Path(sys.modules[evaluate.__module__].__file__).resolve())}


def worker_rounds(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from agents.baselines.heuristics import make_heuristic
    from agents.common.array_env import ArrayEnv, make_parallel_env
    from srole_env import CentralizedSchedulingEnv, make_config

    n, mode, warm, rounds = job["n"], job["mode"], job["warm"], job["rounds"]
    cfg = make_config("paper", n_edges=n, horizon=warm + rounds + 5)
    out: dict[str, Any] = {}
    if mode == "head":
        from srole_env.core.head_kernel import HeadRule

        small = CentralizedSchedulingEnv(make_config("paper", n_edges=20, horizon=3))
        small.reset(seed=0)
        small.decide_round(HeadRule("earliest_finish"))  # numba's cache, excluded
        env = CentralizedSchedulingEnv(cfg)
        start = time.perf_counter()
        env.reset(seed=0)
        out["reset_s"] = time.perf_counter() - start
        rule = HeadRule("earliest_finish")
        decided = 0

        def one() -> None:
            nonlocal decided
            before = env.metrics()["head_decisions"]
            if env.deciding_edge >= 0:
                env.decide_round(rule)
            decided += env.metrics()["head_decisions"] - before
    else:
        shield = mode if mode in ("central", "decentralized") else "none"
        _load_shield_kernel(shield)
        small = ArrayEnv(make_parallel_env(make_config("paper", n_edges=20, horizon=3), shield))
        small.reset(seed=0)
        small.step(np.zeros(20, dtype=np.int64))  # the shield kernel's numba cache, excluded
        env = ArrayEnv(make_parallel_env(cfg, shield))
        start = time.perf_counter()
        obs, mask = env.reset(seed=0)
        out["reset_s"] = time.perf_counter() - start
        heuristic = make_heuristic("least_loaded", 0)
        net = None
        if mode == "marl_forward":
            if _moved():
                from agents.harness.policies import load_policy
            else:
                from agents.policies import load_policy
            net = load_policy(job["policy"], "cpu", 0)[0]
        state = {"obs": obs, "mask": mask}

        def one() -> None:
            prefs = heuristic.preferences(state["obs"], state["mask"])
            step = env.step(np.argmax(prefs, axis=1), prefs if env.shielded else None)
            state["obs"], state["mask"] = step.obs, step.mask

    for _ in range(warm):
        one()
    if mode == "head":
        decided = 0
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "marl_forward":  # the policy's batched forward for all N agents, on the filled state
        for _ in range(rounds):
            net.preferences(state["obs"], state["mask"])
    else:
        for _ in range(rounds):
            one()
    out["ms_per_round"] = (time.process_time() - cpu) / rounds * 1e3
    out["wall_ms_per_round"] = (time.perf_counter() - start) / rounds * 1e3
    out["peak_mib"] = _peak_mib()
    out["tasks"] = int((env.sim if mode == "head" else env.base.sim).tasks.size)  # tasks in the system at the end
    if mode == "head":
        out["decisions_per_round"] = decided / rounds
    return out


# ---------------------------------------------------------------------- orchestration
def run_worker(tree: Path, kind: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``kind`` with ``tree``'s code in a fresh niced-as-we-are process on one thread."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(job)]
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"rc {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_tiny(algo: str, out: Path, rounds: int) -> Path:
    cmd = [sys.executable, "-m", "srole_cli.main", "train", "--algo", algo, "--scenario", "paper", "--set",
           "n_edges=20", "--rounds", str(rounds), "--seed", "0", "--out", str(out), "--no-progress"]
    subprocess.run(cmd, cwd=HERE, env={**os.environ, "PYTHONPATH": str(HERE)}, check=True, capture_output=True)
    return out


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key`` among those that have it (the lower middle of an even count), else the
    first (an error)."""
    timed = sorted((r for r in runs if key in r), key=lambda r: r[key])
    return timed[(len(timed) - 1) // 2] if timed else runs[0]


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{int(x):,}" if x.is_integer() and abs(x) >= 100 else f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _same(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = ("mean_jct_all", "tasks_placed", "head_decisions")
    diffs = [k for k in keys if a.get(k) != b.get(k) and not (a.get(k) is None and b.get(k) is None)]
    return "yes" if not diffs else "no (" + ", ".join(diffs) + ")"


def episodes_table(args: argparse.Namespace, policies: dict[str, str]) -> list[str]:
    before = Path(args.before) if args.before else None
    head = "| method | shield | this tree: CPU s | wall s |"
    head += " before: CPU s | wall s | before / this (CPU) | same figures |" if before else ""
    head += " peak MiB | mean JCT (all) | tasks placed | head decisions |"
    lines = [f"Episodes at N = {args.n:,}, {args.horizon} rounds (`paper`), one core (CPU seconds of the process: "
             "what one core spends, other processes' time slices left out; wall beside), start-up excluded:", "",
             head, "|" + "---|" * (head.count("|") - 1)]
    results: dict[str, dict[str, Any]] = {}
    spread: dict[str, list[Any]] = {}
    regions = max(4, round(args.n / args.edges_per_region)) if args.edges_per_region else None
    if regions:
        lines[0] = lines[0].replace("(`paper`)", f"(`paper`, {regions:,} regions)")
    for label, which, shield in METHODS:
        if args.methods and label not in args.methods:
            continue
        policy = policies.get(which, which)
        job = {"policy": policy, "shield": shield, "n": args.n, "horizon": args.horizon, "n_regions": regions}
        runs = [run_worker(HERE, "episode", job, args.timeout) for _ in range(args.repeat)]
        old = run_worker(before, "episode", job, args.timeout) if before else None
        now = _median_run(runs, "cpu_s")
        if len(runs) > 1:
            spread[label] = [r.get("cpu_s") for r in runs]
        results[label] = now
        row = f"| {label} | {shield} | {_fmt(now.get('cpu_s', now.get('error')))} | {_fmt(now.get('seconds'))} |"
        if before:
            ratio = old["cpu_s"] / now["cpu_s"] if "cpu_s" in now and "cpu_s" in old else None
            row += (f" {_fmt(old.get('cpu_s', old.get('error')))} | {_fmt(old.get('seconds'))} | {_fmt(ratio, 1)}x |"
                    f" {_same(now, old)} |")
        row += (f" {_fmt(now.get('peak_mib'), 0)} | {_fmt(now.get('mean_jct_all'))} | {_fmt(now.get('tasks_placed'))}"
                f" | {_fmt(now.get('head_decisions'))} |")
        lines.append(row)
        print(row, file=sys.stderr, flush=True)
    lines.append("")
    if spread:
        lines += [f"This tree's figures are the median of {args.repeat} fresh processes each; their CPU seconds: "
                  + "; ".join(f"{k} " + ", ".join(_fmt(x) for x in v) for k, v in spread.items()) + ".", ""]
    marl_s = results["MARL"].get("cpu_s") if "MARL" in results else None
    central = results.get("SROLE-central", {})
    for label, _, _ in METHODS:
        if label not in results:
            continue
        s = results[label].get("cpu_s")
        if label == "SROLE-decentralized" and s is not None and central.get("cpu_s"):
            ratio, peak = s / central["cpu_s"], results[label].get("peak_mib", math.inf)
            lines.append(f"* {label}: {ratio:.2f}x SROLE-central's episode (goal <= 1.5x: "
                         f"{'met' if ratio <= 1.5 else 'NOT met'}), peak {peak:,.0f} MiB (goal <= 2,048: "
                         f"{'met' if peak <= 2048 else 'NOT met'})")
            continue
        if s is None:
            lines.append(f"* {label}: {results[label].get('error')}")
        elif label.startswith("CRL") and marl_s is not None:
            lines.append(f"* {label}: {s:.2f} s = {s / marl_s:.2f}x the MARL episode (goal <= 2x): "
                         f"{'met' if s <= 2 * marl_s else 'NOT met'}")
        elif args.n == 10_000:
            lines.append(f"* {label}: {s:.2f} s (goal <= 5 s): {'met' if s <= 5 else 'NOT met'}")
        else:
            lines.append(f"* {label}: {s:.2f} s")
    return lines


def rounds_table(args: argparse.Namespace, policies: dict[str, str]) -> list[str]:
    head = ("| N | reset (s) | bare (ms/round) | central | decentralized | head, crl_greedy (ms/round) | "
            "head decisions/round | MARL forward (ms/round) | peak MiB (largest case) |")
    lines = [f"Round cost against N (`paper`, least_loaded play, {args.warm} rounds to fill the queues, then "
             f"{args.rounds} timed; CPU ms per round on one core, the median of {args.repeat} fresh processes; this "
             "tree):", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    per_n: dict[int, dict[str, dict[str, Any]]] = {}
    for n in args.sizes:
        res = {}
        for mode in ROUND_MODES:
            job = {"n": n, "mode": mode, "warm": args.warm, "rounds": args.rounds, "policy": policies["marl"]}
            runs = [run_worker(HERE, "rounds", job, args.timeout) for _ in range(args.repeat)]
            res[mode] = _median_run(runs, "ms_per_round")
        per_n[n] = res
        peak = max(r.get("peak_mib", 0.0) for r in res.values())
        cell = {m: _fmt(r.get("ms_per_round", r.get("error"))) for m, r in res.items()}
        row = (f"| {n:,} | {_fmt(res['bare'].get('reset_s'))} | {cell['bare']} | {cell['central']} | "
               f"{cell['decentralized']} | {cell['head']} | {_fmt(res['head'].get('decisions_per_round'), 0)} | "
               f"{cell['marl_forward']} | {_fmt(peak, 0)} |")
        lines.append(row)
        print(row, file=sys.stderr, flush=True)
    sizes = sorted(per_n)
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        limit = (b * math.log(b)) / (a * math.log(a))
        lines += ["", f"Growth from N = {a:,} to {b:,} (N log N allows {limit:.2f}x):"]
        for mode in ROUND_MODES:
            x, y = per_n[a][mode].get("ms_per_round"), per_n[b][mode].get("ms_per_round")
            ta, tb = per_n[a][mode].get("tasks"), per_n[b][mode].get("tasks")
            if x and y:
                load = f"; tasks in the system {ta:,} -> {tb:,} ({tb / ta:.1f}x)" if ta and tb else ""
                lines.append(f"* {mode}: {y / x:.2f}x ({'within' if y / x <= limit else 'ABOVE'} N log N){load}")
        peak = max(r.get("peak_mib", 0.0) for r in per_n[b].values())
        verdict = "met" if peak <= 4096 else "NOT met"
        lines.append(f"* peak memory at N = {b:,}: {peak:,.0f} MiB (goal <= 4096): {verdict}")
    return lines


def machine_lines() -> list[str]:
    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = [ln.split(":", 1)[1].strip() for ln in sh("lscpu").splitlines() if ln.startswith("Model name")]
    return [f"Machine: {model[0] if model else platform.processor()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; `uptime`: {sh('uptime')}"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="another checkout (e.g. /work/before) timed side by side")
    parser.add_argument("--marl", help="an idqn run directory (default: train a tiny one)")
    parser.add_argument("--crl", help="a crl_idqn run directory (default: train a tiny one)")
    parser.add_argument("--train-rounds", type=int, default=300)
    parser.add_argument("--n", type=int, default=10_000, help="cluster size of the episodes")
    parser.add_argument("--horizon", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2_000, 20_000, 100_000])
    parser.add_argument("--warm", type=int, default=20, help="rounds played before the timed ones")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per case")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes per episode case of this tree and "
                        "per round-cost case (the median is reported; the other tree's episodes run once)")
    parser.add_argument("--edges-per-region", type=float, default=None,
                        help="episodes with n_regions = max(4, round(N / this)) (the crossover study's 12.5)")
    parser.add_argument("--methods", nargs="+", default=None, help="episode methods to run (default: all)")
    parser.add_argument("--skip-episodes", action="store_true")
    parser.add_argument("--skip-rounds", action="store_true")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, job = args.worker[0], json.loads(args.worker[1])
        print(json.dumps((worker_episode if kind == "episode" else worker_rounds)(job)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    policies = {"marl": args.marl or str(train_tiny("idqn", tmp / "idqn", args.train_rounds)),
                "crl": args.crl or str(train_tiny("crl_idqn", tmp / "crl_idqn", args.train_rounds))}
    lines = ["# bench_scale", "", *machine_lines(), ""]
    if not args.skip_episodes:
        lines += episodes_table(args, policies) + [""]
    if not args.skip_rounds:
        lines += rounds_table(args, policies) + [""]
    lines += machine_lines()[0:1]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
