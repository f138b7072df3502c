"""``crl_greedy``: a non-learned cluster head that sends each task to the candidate where it finishes first.

It runs on the same ``CentralizedSchedulingEnv`` as CRL, so it pays the same head queue (report collection,
one decision after another, backlog). Per decision it reads, from the head's observation, each candidate's
estimated shard transfer and compute time for the task given the loads already committed (this round's
earlier decisions included), and picks the safe candidate (``action_masks``) with the smallest sum; it
holds only when no candidate is safe. The decision latency is the same for every candidate, so it does
not change the choice. The scores decode the observation's own features (``srole_env.core.simulator``:
``log1p(transfer) / 5`` and ``log1p(compute) / 10``), so the rule follows the simulator's estimate.

``head_rule()`` gives the same rule for the head's compiled decision loop (``srole_env.core.head_kernel``,
``CentralizedSchedulingEnv.decide_round``), which evaluation uses: the same operations on the same features.
"""

from __future__ import annotations

import numpy as np

from srole_env.core.head_kernel import HeadRule
from srole_env.core.observation import CAND_COMPUTE, CAND_TRANSFER, candidate_features


class EarliestFinishHead:
    """Earliest-finish head rule (see module docstring); ``preferences(obs [1, D], mask [1, A]) -> [1, A]``."""

    name = "crl_greedy"
    env_kind = "centralized"

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        mask = np.asarray(mask)
        n_cand = mask.shape[1] - 1
        per_cand = candidate_features(obs, n_cand)
        finish = np.expm1(5.0 * per_cand[:, :, CAND_TRANSFER]) + np.expm1(10.0 * per_cand[:, :, CAND_COMPUTE])
        scores = np.full(mask.shape, -np.inf)
        scores[:, :n_cand] = np.where(mask[:, :n_cand] > 0, -finish, -np.inf)
        scores[:, -1] = -np.finfo(float).max  # hold: only when nothing is safe
        return scores

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(self.preferences(obs, mask), axis=1)

    def head_rule(self) -> HeadRule:
        """This rule for ``CentralizedSchedulingEnv.decide_round`` (the compiled loop)."""
        return HeadRule("earliest_finish")

    def reset(self) -> None:
        """Memoryless."""
