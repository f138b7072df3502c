"""Baselines that do not learn: per-edge heuristics, the greedy cluster head (CRL-greedy) and the
full-knowledge greedy reference scheduler. Import submodules directly."""
