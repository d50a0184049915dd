"""``python -m symbackprop`` runs the command line."""

import sys

from symbackprop.cli import main

sys.exit(main())
