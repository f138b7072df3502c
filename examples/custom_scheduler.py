"""A custom scheduler scored on the benchmark: ``srole score examples.custom_scheduler:make_policy --task
edge_cluster_v1/small_poisson`` (run from the repository root, or with this folder's parent on PYTHONPATH).

A PettingZoo-style policy: a callable from one round's observations ``{agent: {"observation", "action_mask"}}``
to actions ``{agent: int}``. This one sends each task to the first allowed candidate (itself first), and holds
only when nothing else is allowed; the last action is ``hold``.
"""

import numpy as np


def make_policy():
    """The factory ``srole score`` calls: returns the policy."""

    def first_fit(observations):
        actions = {}
        for agent, obs in observations.items():
            allowed = np.flatnonzero(obs["action_mask"][:-1])  # candidates that fit, hold excluded
            actions[agent] = int(allowed[0]) if len(allowed) else len(obs["action_mask"]) - 1
        return actions

    return first_fit
