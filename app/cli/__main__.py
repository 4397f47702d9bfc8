"""`python -m app.cli ...`: the same as `python -m app ...` and `wavescope ...`."""

from app.cli import main

raise SystemExit(main())
