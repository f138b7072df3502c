"""The bottom floor: project-wide utilities every package may import and that import no project package.

``srole_common.persist``: atomic writes, safe loading of files from elsewhere (JSON, ``.npz`` without pickle,
``torch.load(weights_only=True)``, SB3 archives through an allowlist), figures. ``srole_common.names``: the
names the command line offers (algorithms, heuristics, shields) without importing what they name.
"""
