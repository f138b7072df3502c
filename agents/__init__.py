"""Schedulers and the harness that runs them.

Rooms (import submodules directly):

* ``agents.learners``: what trains. Torch IDQN / IPPO (one pass for all N agents, preferences to shields),
  the head's IDQN (``crl_idqn``), SB3 PPO / DQN / MaskablePPO (parameter-shared; CRL PPO / DQN), RLlib PPO.
* ``agents.baselines``: what does not learn. Heuristics (random, local-only, least-loaded, round-robin), the
  greedy head (``crl_greedy``), the full-knowledge greedy reference (``greedy_reference``).
* ``agents.harness``: what runs them alike. ``registry`` (every trainable algorithm by name), ``train``,
  ``evaluate``, ``policies.load_policy`` (any scheduler by name or run directory), ``convergence``.
* ``agents.common``: what the rooms share. The array view of the (shielded) env, SB3 vec-env adapters,
  run-dir I/O, the policy interface, learning curves.

Bounds and the solver optimum are references, not agents: ``references/``. SROLE is any MARL learner here
trained and evaluated behind ``shields.make_shield(env, "central")`` or ``"decentralized"``. This package
imports nothing heavy; import the submodules.
"""
