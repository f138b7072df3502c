"""Schedulers for the SROLE environments: heuristics, Stable-Baselines3 learners, custom torch MARL learners.

| module | what |
|---|---|
| ``agents.heuristics`` | random, local-only, least-loaded, round-robin (no training) |
| ``agents.sb3_learners`` | SB3 PPO / DQN / MaskablePPO, parameter-shared over the edge agents; CRL PPO / DQN |
| ``agents.idqn``, ``agents.ippo`` | independent DQN / PPO in torch, one pass for all N agents, preferences to shields |
| ``agents.registry`` | ``ALGOS``: every trainable algorithm by name |
| ``agents.train`` | ``train(algo, shield, config, rounds, seed, out_dir, device) -> Path`` (and ``resume_run``) |
| ``agents.convergence`` | the convergence test ``has_flattened`` (curves written by ``agents.common.curves``) |
| ``agents.evaluate`` | ``evaluate(policy_or_dir, shield, config, episodes, seed) -> dict``; table, CSV, JSON |
| ``agents.policies`` | ``load_policy(name_or_run_dir)``: any scheduler as ``preferences``/``act`` |
| ``agents.greedy_reference`` | full-knowledge greedy scheduler with no decision latency (a reference, not a bound) |
| ``agents.bound`` | derived per-job JCT lower bound (each job alone on its fastest candidates) |
| ``agents.rllib_adapter`` | RLlib (Ray) PPO on the parallel env, optionally shielded; checkpoints as policies |
| ``agents.common`` | array view of the (shielded) env, SB3 vec-env adapters, run-dir I/O, replay, networks |

SROLE is any MARL learner here trained and evaluated behind ``shields.make_shield(env, "central")`` or
``"decentralized"``. This package imports nothing heavy; import the submodules.
"""
