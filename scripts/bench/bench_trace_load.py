"""Benchmark: time and peak memory of loading a large job trace CSV (``TraceWorkload``) and of converting a large pod
list (``srole_env.traces.convert_pod_trace``), for one or more source trees side by side (before/after).

    python scripts/bench/bench_trace_load.py                          # this tree, 10^6 rows
    python scripts/bench/bench_trace_load.py --trees /work/before . --rows 1000000

The files are written once (seeded, the same for every tree) into a temporary folder; each case runs in a fresh
``python`` process with the tree first on ``PYTHONPATH``, so every figure is one cold load. Peak memory is the
process's ``ru_maxrss`` (imports included) and, in brackets, its rise over the RSS right after the imports.
Goal: a 10^6-row trace in under 15 s and under 300 MB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

case, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
from srole_env import make_config
from srole_env.core.workload import TraceWorkload
from srole_env.traces import convert_pod_trace
base = rss_mb()
t0 = time.perf_counter()
if case == "trace":
    n = len(TraceWorkload(path, 1000, tuple(make_config("small").model_mix)))
else:
    convert_pod_trace(path, out, n_edges=20, arrival_rate=0.01, duration_s=1000.0)
    n = None
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_mb": peak, "rise_mb": peak - base, "rows": n}))
"""


def write_files(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A job trace and a pod list of ``rows`` rows each (seeded)."""
    rng = np.random.default_rng(seed)
    trace = folder / "trace.csv"
    arrival = np.sort(rng.uniform(0, 1e6, rows))
    origin = rng.integers(0, 1000, rows)
    models = np.array(["resnet18", "lenet5", "vgg16"])[rng.integers(0, 3, rows)]
    samples = rng.integers(50, 6000, rows)
    with trace.open("w") as fh:
        fh.write("arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n")
        for k in range(0, rows, 100_000):
            sl = slice(k, k + 100_000)
            fh.writelines(f"{a!r},{o},{m},{s},1,32,{t}\n" for a, o, m, s, t in
                          zip(arrival[sl].tolist(), origin[sl].tolist(), models[sl].tolist(), samples[sl].tolist(),
                              rng.integers(1, 5, len(arrival[sl])).tolist()))
    pods = folder / "pods.csv"
    created = np.sort(rng.uniform(0, 1e7, rows))
    life = rng.exponential(3600.0, rows)
    phase = np.array(["Succeeded", "Failed", "Running"])[rng.integers(0, 3, rows)]
    with pods.open("w") as fh:
        fh.write("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
                 "scheduled_time\n")
        for k in range(0, rows, 100_000):
            sl = slice(k, k + 100_000)
            fh.writelines(f"pod-{i},8000,30000,{g},{mg},,LS,{p},{c:.0f},{c + f:.0f},{c:.0f}\n" for i, g, mg, p, c, f in
                          zip(range(k, k + 100_000), rng.integers(0, 9, len(created[sl])).tolist(),
                              rng.choice([0, 500, 1000], len(created[sl])).tolist(), phase[sl].tolist(),
                              created[sl].tolist(), life[sl].tolist()))
    return trace, pods


def run_case(tree: Path, case: str, path: Path, out: Path, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, case, str(path), str(out)], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", nargs="+", default=[str(Path(__file__).resolve().parents[2])])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per case before it is given up")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trace, pods = write_files(folder, args.rows)
        sizes = trace.stat().st_size / 1e6, pods.stat().st_size / 1e6
        print(f"{args.rows:,} rows: trace {sizes[0]:.0f} MB, pod list {sizes[1]:.0f} MB")
        for case, path in (("trace", trace), ("pods", pods)):
            for tree in args.trees:
                r = run_case(Path(tree).resolve(), case, path, folder / "out.csv", args.timeout)
                what = "trace CSV load" if case == "trace" else "pod list convert"
                if "error" in r:
                    print(f"{what:<18} {tree:<28} {r['error']}")
                else:
                    print(f"{what:<18} {tree:<28} {r['wall_s']:7.2f} s  peak {r['peak_mb']:6.0f} MB "
                          f"(+{r['rise_mb']:.0f} MB over the imports)")


if __name__ == "__main__":
    main()
