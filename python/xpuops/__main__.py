"""python -m xpuops: the same as the xpuops command."""

import sys

from .tools.cli import main

sys.exit(main())
