"""What the study runs: profiles and their methods (``profiles``), the cells of a run and their cache
(``reproduce``, ``cells``), hyperparameter tuning and its committed results (``tuning``, ``tuned/``), and the
emulation profile. Import submodules directly."""
