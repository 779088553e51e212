"""python -m xpuops: the same as the xpuops command."""

import sys

from .cli import main

sys.exit(main())
