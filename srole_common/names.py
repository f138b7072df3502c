"""Names the CLI offers, importable without torch or SB3 (``agents.harness.registry`` checks they match)."""

ALGO_NAMES = ("ppo", "dqn", "maskable_ppo", "idqn", "ippo", "crl_ppo", "crl_dqn", "crl_maskable_ppo", "crl_idqn")
"""Trainable algorithms (``agents.harness.registry.LEARNERS``)."""
SHIELDS = ("none", "central", "decentralized")
"""Kinds accepted by ``shields.make_shield`` (``none``: the bare env)."""
HEURISTIC_NAMES = ("random", "local", "least_loaded", "round_robin")
"""Baseline heuristics (``agents.baselines.heuristics.HEURISTICS``)."""
RLLIB_RUN_CONFIG = "run_config.json"
"""File ``agents.learners.rllib.adapter`` writes beside an RLlib checkpoint (``srole evaluate`` looks for it)."""
CENTRAL_HEURISTIC_NAMES = ("crl_greedy",)
"""Non-learned cluster-head rules on the centralized env (``agents.baselines.crl_greedy``)."""
