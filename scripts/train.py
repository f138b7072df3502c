"""``python scripts/train.py ARGS`` is ``srole train ARGS`` (see ``srole train --help``)."""
import sys

from srole_cli.main import main

sys.exit(main(["train", *sys.argv[1:]]))
