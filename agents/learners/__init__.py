"""Learners: algorithms that train a policy (torch IDQN/IPPO, the head's IDQN, SB3 and RLlib adapters) and
the pieces only learners use (networks, replay, n-step discounting). Import submodules directly."""
