"""``python -m batchdial`` is the ``batchdial`` command."""

from batchdial.cli import main

raise SystemExit(main())
