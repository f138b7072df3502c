"""Schedulers for the SROLE environments: heuristics, Stable-Baselines3 learners, custom torch MARL learners."""
