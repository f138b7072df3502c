"""What every learner shares: the array view of the (shielded) env, SB3 vec-env adapters, run-directory I/O,
the policy interface, replay buffer, networks. Import submodules directly (this package imports nothing
heavy, so the CLI can read ``agents.common.names`` quickly)."""
