"""Stable-Baselines3 learners: ``specs`` (their configs and registry entries, importable without SB3) and ``learners``
(the training and loading code, which imports SB3)."""
