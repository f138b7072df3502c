"""The harness that runs learners and baselines alike: the algorithm registry, ``train``, ``evaluate``,
policy loading from any name or run directory, and the convergence test. Import submodules directly."""
