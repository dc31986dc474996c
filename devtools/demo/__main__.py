"""``python -m devtools.demo`` (``make demo``): see :mod:`devtools.demo.run`."""

import sys

from devtools.demo.run import main

sys.exit(main())
