"""``python -m techcare.assistant FILE... [--misses]``: offline triage quality on labelled message files."""

from .offline import main

raise SystemExit(main())
