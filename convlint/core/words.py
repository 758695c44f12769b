"""How convlint words what it shows, the same everywhere: a file as the user would type it, an exception as one
line."""

from __future__ import annotations

import os


def display_path(path: str) -> str:
    """``path`` as a user would type it: relative to the working directory when inside it, else absolute."""
    try:
        full = os.path.abspath(path)
        rel = os.path.relpath(full)
    except (OSError, ValueError):  # no working directory any more, or another drive (Windows)
        return path
    return full if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def first_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its class name when it has none), cut at ``limit``."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]
