"""The ``srole`` command line (``srole train``, ``srole evaluate``, ...): see ``srole_cli.main``."""
