"""vid2mp3's composition root: the command line, the WSGI entry point and the embedded runner.

This package wires `core`, `web`, `actors` and `conversion` together from settings; it is the
only place that knows all of them.
"""
