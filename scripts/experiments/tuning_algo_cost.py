"""CPU seconds of one tuning trial's parts on this machine (``docs/ceiling.md``, the crossover map): one training of
each learner the tuning studies choose among (MARL/SROLE: idqn, ippo, maskable_ppo, idqn behind each shield; CRL:
crl_idqn, crl_maskable_ppo, crl_dqn) for ``rounds`` rounds at the decisive scenario (``paper``, N = 20, horizon 200,
default hyperparameters, a 64x64 network for the IDQN family), and its 3 tuning evaluation episodes. Prints CSV rows
(``docs/results/crossover/cost_tuning_algos.csv``). A trial is 3 such trainings and evaluations
(``srole tune --train-seeds 3``).

    nice -n 10 python scripts/experiments/tuning_algo_cost.py 1000 > docs/results/crossover/cost_tuning_algos.csv
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

LEARNERS = (("idqn", "none"), ("ippo", "none"), ("maskable_ppo", "none"), ("idqn", "central"),
            ("idqn", "decentralized"), ("crl_idqn", "none"), ("crl_maskable_ppo", "none"), ("crl_dqn", "none"))
CONFIG = {"scenario": "paper", "n_edges": 20, "horizon": 200}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[0]) if args else 1000
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from agents.harness.evaluate import evaluate
    from agents.harness.train import train

    tmp = Path(tempfile.mkdtemp(prefix="tuning_cost_"))
    print("algo,shield,rounds,train_cpu_s,train_cpu_s_per_1000_rounds,eval_cpu_s_3_episodes,wall_s", flush=True)
    for algo, shield in LEARNERS:
        c0, w0 = time.process_time(), time.perf_counter()
        run = train(algo, shield, CONFIG, rounds=rounds, seed=50_000, out_dir=tmp / f"{algo}_{shield}", device="cpu",
                    progress=False, hparams={"hidden": [64, 64]} if "idqn" in algo else None)
        train_s = time.process_time() - c0
        c1 = time.process_time()
        evaluate(str(run), shield, CONFIG, 3, 50_001, "cpu")
        eval_s = time.process_time() - c1
        print(f"{algo},{shield},{rounds},{train_s:.2f},{1000 * train_s / rounds:.2f},{eval_s:.2f},"
              f"{time.perf_counter() - w0:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
