"""``python -m codeclens.study [options]``: the same as ``codeclens study [options]``."""

import sys

from .commands import main

sys.exit(main())
