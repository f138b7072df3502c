"""``python scripts/reproduce.py ...`` is ``srole reproduce ...``."""

import sys

from srole_cli.main import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
