"""RLlib learners: ``specs`` (their configs and registry entries, importable without Ray) and ``adapter`` (the
PettingZoo-to-RLlib adapter, training and loading, which imports Ray)."""
