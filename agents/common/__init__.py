"""What learners, baselines and the harness share: the array view of the (shielded) env, SB3 vec-env adapters,
run-directory I/O, the policy interface, learning curves. Import submodules directly (this package imports nothing
heavy)."""
