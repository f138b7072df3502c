"""What the study runs: the methods and their roles (``roster``), profiles (``profiles``), one way to run a method on
episodes (``episodes``), the cells of a run and their cache (``plan``, ``cells``), hyperparameter tuning and its
committed results (``tuning``, ``tuned/``), and the emulation profile. Import submodules directly."""
