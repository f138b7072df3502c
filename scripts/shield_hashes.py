"""Decision hashes of the shields: a fixture that pins down what the shields decide, bit for bit.

Two families of cases, each hashed (SHA-256) over everything the shield decides:

* ``resolve/...``: ``shields.protocol.Coordinator.resolve`` on synthetic round states drawn from a seeded
  NumPy generator (positions, candidates, limits, loads, demands, waits, actions, preferences), for
  N in {10, 50, 200}, one and several regions, every priority rule, with and without preferences, random
  and least-loaded actions. Hashed: the safe actions, answered rounds, remote grants, request messages
  per agent, local checks, conflicts, messages, rounds, every round's traffic and the request transcript.
  These depend on the shields package and NumPy only, so they stay valid when the simulator changes.
* ``trajectory/...``: central and decentralized shields through the array fast path on the ``small``
  scenario with N in {10, 50, 200}, every priority rule, with and without preferences, random and
  least-loaded play, over ``ROUNDS`` rounds. Hashed per step: the shielded actions, rewards and the
  report (rewritten, interventions, messages, rounds, conflicts, boundary requests, per-agent and
  slowest simulated latency, transcript). These depend on the simulator too, so each size also records
  ``env/N``, a hash of the unshielded trajectory: when that changes the simulator changed, and the
  trajectory hashes are not comparable (the test skips them and says so).

    python scripts/shield_hashes.py            # print the hashes and compare with the recorded ones
    python scripts/shield_hashes.py --write    # record them in tests/data/shield_hashes.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.heuristics import make_heuristic  # noqa: E402
from shields import make_shield  # noqa: E402
from shields.core import RoundState, preference_ranks  # noqa: E402
from shields.priority import PRIORITY_RULES, priority_ranks  # noqa: E402
from shields.protocol import Coordinator  # noqa: E402
from shields.regions import partition_edges  # noqa: E402
from srole_env import parallel_env  # noqa: E402

DATA = ROOT / "tests" / "data" / "shield_hashes.json"
SIZES = (10, 50, 200)
REGIONS = {10: 3, 50: 5, 200: 8}
ROUNDS = 30
STATES = 12
CANDIDATES = 5


class _Hasher:
    """SHA-256 over a sequence of arrays and scalars (dtype, shape and bytes of each)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, *values: Any) -> None:
        for v in values:
            a = np.ascontiguousarray(np.asarray(v))
            if a.dtype.kind in "iub":
                a = a.astype(np.int64)
            elif a.dtype.kind == "f":
                a = a.astype(np.float64)
            self._h.update(f"{a.dtype.str}{a.shape}".encode())
            self._h.update(a.tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:32]


def _transcript_rows(transcript: list[Any]) -> np.ndarray:
    """The request messages of a round as rows (src, agent, target, demand, priority), each agent's rows in
    the order sent (independent of how the messages were batched)."""
    rows = [
        np.column_stack([
            np.broadcast_to(np.asarray(b.src), len(b.agents)), b.agents, b.targets, b.demand, b.priority,
        ]).astype(np.float64)
        for b in transcript if len(b.agents)
    ]
    if not rows:
        return np.zeros((0, 5))
    allrows = np.concatenate(rows)
    return allrows[np.argsort(allrows[:, 1], kind="stable")]


def _add_resolution(h: _Hasher, res: Any) -> None:
    h.add(res.actions, res.answered, res.via_boundary, res.boundary_requests, res.local_checks, res.conflicts,
          res.messages, res.rounds, len(res.traffic))
    for t in res.traffic:
        h.add(t.src, t.dst, t.owners, t.served)
    h.add(_transcript_rows(res.transcript))


def _synthetic_state(n: int, rng: np.random.Generator) -> tuple[RoundState, np.ndarray]:
    """A round state on ``n`` random edge positions (nearest-neighbour candidates) and the positions."""
    pos = rng.random((n, 2))
    d = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(axis=2)
    d[np.arange(n), np.arange(n)] = -1.0
    cand = np.argsort(d, axis=1, kind="stable")[:, :CANDIDATES]
    cores = rng.integers(1, 9, n).astype(float)
    slot_limit = 0.9 * cores
    mem_limit = np.floor(rng.uniform(2e9, 16e9, n))
    has_task = rng.random(n) < rng.uniform(0.4, 1.0)
    demand = np.where(has_task, np.floor(rng.uniform(2e8, 4e9, n)), 0.0)
    state = RoundState(
        candidates=cand,
        has_task=has_task,
        demand_mem=demand,
        wait_s=np.where(has_task, rng.choice([0.0, 1.0, 2.5, 7.0], n), 0.0),  # ties: the ticket decides
        committed_slots=np.floor(rng.uniform(0.0, 1.1, n) * slot_limit),
        committed_mem=np.floor(rng.uniform(0.0, 1.0, n) * mem_limit),
        slot_limit=slot_limit,
        mem_limit=mem_limit,
        cores=cores,
    )
    return state, pos


def _synthetic_actions(state: RoundState, play: str, rng: np.random.Generator) -> np.ndarray:
    n, c = state.n_agents, state.n_candidates
    if play == "random":
        return rng.integers(0, c + 1, n)
    util = state.committed_slots[state.candidates] / state.cores[state.candidates]
    return np.argmin(util, axis=1)


def _preferences(n: int, a: int, rng: np.random.Generator, with_nan: bool = True) -> np.ndarray:
    """Random preferences with ties, ``-inf`` entries and, with ``with_nan``, ``NaN`` entries and all-``NaN`` rows.

    The shield wrappers refuse NaN (``ValueError``), so trajectories through them use finite and ``-inf`` scores;
    ``Coordinator.resolve`` below the wrapper still takes NaN as "no opinion".
    """
    prefs = np.round(rng.normal(size=(n, a)), 1)
    prefs[rng.random((n, a)) < 0.1] = -np.inf
    if with_nan:
        prefs[rng.random((n, a)) < 0.05] = np.nan
        prefs[rng.random(n) < 0.1] = np.nan
    return prefs


def resolve_hashes() -> dict[str, str]:
    """Hashes of ``Coordinator.resolve`` on synthetic states (see module docstring)."""
    out = {}
    for n in SIZES:
        for regions in (1, REGIONS[n]):
            for rule in sorted(PRIORITY_RULES):
                for with_prefs in (False, True):
                    for play in ("random", "least_loaded"):
                        name = f"resolve/N={n}/R={regions}/{rule}/prefs={int(with_prefs)}/{play}"
                        rng = np.random.default_rng([n, regions, len(rule), with_prefs, len(play)])
                        h = _Hasher()
                        for _ in range(STATES):
                            state, pos = _synthetic_state(n, rng)
                            labels = partition_edges(pos, regions, "kmeans", 0)
                            actions = _synthetic_actions(state, play, rng)
                            prefs = _preferences(n, CANDIDATES + 1, rng) if with_prefs else None
                            priority = priority_ranks(PRIORITY_RULES[rule](state, actions, prefs), rng.random(n))
                            ranks, has_pref = preference_ranks(prefs, CANDIDATES)
                            res = Coordinator(labels, state).resolve(
                                state, actions, priority, ranks if with_prefs else None,
                                has_pref if with_prefs else None,
                            )
                            h.add(priority)
                            _add_resolution(h, res)
                        out[name] = h.hexdigest()
    return out


def _env(n: int) -> Any:
    return parallel_env("small", n_edges=n, n_regions=REGIONS[n], horizon=ROUNDS + 5)


def env_hashes() -> dict[str, str]:
    """Hash of the unshielded trajectory of each size under random play (the simulator's fingerprint)."""
    out = {}
    for n in SIZES:
        env = _env(n)
        env.reset(seed=n)
        rng = np.random.default_rng(n)
        h = _Hasher()
        for _ in range(ROUNDS):
            obs, mask, rewards, *_ = env.step_arrays(rng.integers(0, env.sim.n_actions, n))
            h.add(obs, mask, rewards)
        out[f"env/N={n}"] = h.hexdigest()
    return out


def trajectory_hashes() -> dict[str, str]:
    """Hashes of shielded trajectories through the fast path (see module docstring)."""
    out = {}
    for n in SIZES:
        for kind in ("central", "decentralized"):
            for rule in sorted(PRIORITY_RULES):
                for with_prefs in (False, True):
                    for play in ("random", "least_loaded"):
                        name = f"trajectory/N={n}/{kind}/{rule}/prefs={int(with_prefs)}/{play}"
                        kwargs = {"regions": REGIONS[n]} if kind == "decentralized" else {}
                        env = make_shield(_env(n), kind, priority=rule, seed=7, **kwargs)
                        env.reset(seed=n + 1)
                        sim = env.unwrapped.sim
                        policy = make_heuristic(play, seed=3)
                        rng = np.random.default_rng([n, len(rule), with_prefs])
                        obs, mask = sim.observe(), sim.action_mask()
                        h = _Hasher()
                        for _ in range(ROUNDS):
                            actions = policy.act(obs, mask)
                            prefs = _preferences(n, sim.n_actions, rng, with_nan=False) if with_prefs else None
                            obs, mask, rewards, *_ = env.step_arrays(actions, prefs)
                            rep = env.last_report
                            h.add(actions, rewards, rep["action"], rep["rewritten"], rep["interventions"],
                                  rep["messages"], rep["rounds"], rep["conflicts"], rep["boundary_requests"],
                                  rep["latency_s"], rep["decision_latency_s"], _transcript_rows(rep["transcript"]))
                        out[name] = h.hexdigest()
    return out


def all_hashes() -> dict[str, str]:
    return {**resolve_hashes(), **env_hashes(), **trajectory_hashes()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record the hashes in {DATA.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    hashes = all_hashes()
    if args.write:
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(hashes)} hashes to {DATA}")
        return
    recorded = json.loads(DATA.read_text()) if DATA.exists() else {}
    bad = [k for k, v in hashes.items() if recorded.get(k) != v]
    for k in bad:
        print(f"differs: {k}")
    print(f"{len(hashes) - len(bad)}/{len(hashes)} hashes equal the recorded ones")


if __name__ == "__main__":
    main()
