"""``python -m domotic.generator``: same as the ``domotic-generate`` console script."""

from domotic.generator.cli import main

raise SystemExit(main())
