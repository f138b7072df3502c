"""Equal tuning of the four learned methods (``docs/ceiling.md``, the crossover map), the four studies side by side on
one machine.

Runs ``srole tune`` for MARL, SROLE-central, SROLE-decentralized and CRL (CRL chooses among crl_idqn,
crl_maskable_ppo and crl_dqn; the others among idqn, ippo, maskable_ppo) as four concurrent processes, each
asking ``--workers / 4`` trials at a time: every study gets the same ``--trials`` (default 16) over a 4-dimensional
search space (``study.experiments.tuning.search_dimensions``), every trial trained on 3 seeds (50,000, 51,000,
52,000: disjoint from every evaluation seed of ``srole reproduce``) and scored on tuning episodes 50,001-50,003, at the
decisive scenario (``paper``, N = 20) with the crossover map's horizon. Each study writes its YAML to
``--out/paper/<method>.yaml`` (default: the package's ``study/experiments/tuned``) and logs to ``--logs``.

Resumable: every study appends its finished trials to ``--out/paper/<method>.journal.jsonl``; the same command run
again (after a kill, on another machine with the journals copied) resumes each study where it stopped, and a
finished study only rewrites its YAML. Logs are appended to, so a resumed run keeps the earlier sessions' lines.

The fair study's tuned set (the crossover map's settings: N = 20, horizon 200, 4,000 rounds, 16 trials, 3 training
seeds, 3 episodes) lives in ``study/experiments/tuned_fair/paper/`` beside its journals, apart from the committed
``tuned/paper`` the profiles read today; on a shared machine, one trial at a time per study:

    setsid nohup nice -n 19 python scripts/experiments/tune_all.py --workers 3 \
        --methods MARL SROLE-central SROLE-decentralized --out study/experiments/tuned_fair \
        --logs results/tune_fair_logs > results/tune_fair_logs/tune_all.out 2>&1 &

Four studies of K/4 workers each rather than one after another at K: TPE learns from each finished batch, so
batches of 4 over 16 trials (4 rounds of feedback) search better than one batch of 16.

    nice -n 10 python scripts/experiments/tune_all.py --workers 16 --rounds 4000        # the lead's 16-core run
    python scripts/experiments/tune_all.py --workers 4 --trials 1 --rounds 100 --out /tmp/tuned   # a smoke test
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from study.experiments.roster import PAPER_LEARNED

ROOT = Path(__file__).resolve().parents[2]
STUDIES = PAPER_LEARNED
"""The paper's learned methods, slowest first (roster order: the head learner, CRL, steps once per decision)."""


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """``(method, argv)`` of each study's ``srole tune`` command."""
    per = max(1, args.workers // len(args.methods))
    out = []
    for method in args.methods:
        cmd = [sys.executable, "-m", "srole_cli.main", "tune", "--method", method, "--scenario", "paper",
               "--set", f"n_edges={args.n_edges}", "--set", f"horizon={args.horizon}", "--trials", str(args.trials),
               "--rounds", str(args.rounds), "--train-seeds", "3", "--episodes", str(args.episodes),
               "--workers", str(per), "--no-progress", "--threads", "1"]
        if args.out:
            cmd += ["--out", args.out]
        if args.work_dir:
            cmd += ["--work-dir", str(Path(args.work_dir) / method)]
        out.append((method, cmd))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=16, help="cores in all (each study gets workers / 4)")
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--rounds", type=int, default=4000, help="training rounds per trial and seed")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--n-edges", type=int, default=20)
    p.add_argument("--horizon", type=int, default=200)
    p.add_argument("--methods", nargs="+", default=list(STUDIES), choices=STUDIES)
    p.add_argument("--out", default=None, help="root of the tuned YAMLs (default: study/experiments/tuned)")
    p.add_argument("--work-dir", default=None, help="trial run directories (default: temporary)")
    p.add_argument("--logs", default="results/tune_logs")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = p.parse_args(argv)
    todo = commands(args)
    if args.dry_run:
        for _, cmd in todo:
            print(" ".join(cmd))
        return 0
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    procs = []
    for method, cmd in todo:
        log = open(logs / f"{method}.log", "a")  # noqa: SIM115 - closed below, after the process ends
        procs.append((method, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
        print(f"tune_all: started {method}: {' '.join(cmd)}", flush=True)
    failed = []
    for method, proc, log in procs:
        rc = proc.wait()
        log.close()
        print(f"tune_all: {method} finished (rc {rc}) at {(time.perf_counter() - start) / 60:.1f} min; "
              f"log {logs / (method + '.log')}", flush=True)
        if rc:
            failed.append(method)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
