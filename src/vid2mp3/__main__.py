"""Allow `python -m vid2mp3`."""

from vid2mp3.cli import main

raise SystemExit(main())
