"""How the study's results are read: statistics (IQM, bootstrap intervals, paired differences), tables,
figures, the reports of each profile and the README/docs sections generated from committed tables.
Import submodules directly."""
