"""Progress of long work (a purge of years of rows, reports over many queues) on a terminal;
nothing in CI, in a pipe or in a log file."""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


def shown() -> bool:
    """Whether progress is drawn: stderr is a terminal and this is not CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(description: str, unit: str, total: int | None = None) -> tqdm:
    """A progress bar on stderr (disabled unless ``shown()``); use as a context manager."""
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=not shown())
