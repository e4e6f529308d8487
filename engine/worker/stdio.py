"""Keeping stdout for the protocol: everything else (logs, warnings, tqdm, stray prints, child
processes such as ffmpeg) goes to stderr.

A library that prints one line to stdout would corrupt the JSON-lines stream the add-on parses, so
rather than trusting every library, the engine moves the real stdout to a private file descriptor
and points file descriptor 1 (and ``sys.stdout``) at stderr before importing anything heavy.
"""

from __future__ import annotations

import io
import logging
import os
import sys


def reserve_stdout() -> io.TextIOWrapper:
    """Return a line-buffered writer on the real stdout; fd 1 and ``sys.stdout`` now go to stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(protocol_fd, "wb", buffering=0), encoding="utf-8", line_buffering=True, write_through=True)


def quiet_libraries() -> None:
    """Send library chatter to stderr at warning level, and turn off their progress bars (the
    engine reports progress itself). Environment variables must be set before the libraries are
    imported, which is why this runs first in ``python -m engine``."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
