"""``python -m accelsim``: the command line, as the ``accelsim`` script runs it."""

import sys

from accelsim.cli import main

sys.exit(main())
