"""``python scripts/evaluate.py ARGS`` is ``srole evaluate ARGS`` (see ``srole evaluate --help``)."""
import sys

from srole_cli.main import main

sys.exit(main(["evaluate", *sys.argv[1:]]))
