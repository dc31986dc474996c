"""``python -m fraud_mlops.training``: see :mod:`fraud_mlops.training.cli`."""

import sys

from fraud_mlops.training.cli import main

sys.exit(main())
