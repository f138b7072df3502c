"""The research study, in two rooms: ``study.experiments`` (what runs: profiles and methods, cells,
``reproduce``, tuning and the tuned hyperparameters as data, the emulation profile) and ``study.analysis``
(how results are read: statistics, tables, figures, the reports and the README/docs sections).
``study.experiments`` never imports ``study.analysis``; ``study.reproduce`` runs a profile and hands its
rows to the analysis."""
