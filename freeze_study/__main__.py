"""`python -m freeze_study` is the `freeze-study` command."""

import sys

from freeze_study.cli import main

sys.exit(main())
