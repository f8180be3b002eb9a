"""Entry point: python -m bench [--quick] [--json FILE], or python -m bench phi ... (run from the project folder)."""

import sys

from bench.cli import main

sys.exit(main())
