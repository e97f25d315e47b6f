"""``python -m desktop_app.cli``: the ``scalpel`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
