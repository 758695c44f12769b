"""``--at H=224,W=224``: sizes to evaluate the summary's formulas at."""

from __future__ import annotations

from convlint.core.dims import is_symbol_name
from convlint.core.errors import UsageError


def parse_sizes(values) -> dict:
    """Symbol name -> int from ``H=224,W=224`` (or several such values); ``H=W=256`` gives both the same size."""
    out = {}
    for value in values or ():
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            *names, size = [p.strip() for p in part.split("=")]
            if not names or not size.isdigit() or int(size) < 1:
                raise UsageError(f"--at {value!r}: write sizes as NAME=SIZE with a positive integer, e.g. H=224,W=224")
            for name in names:
                if not is_symbol_name(name):
                    raise UsageError(f"--at {value!r}: {name!r} is not a dim name")
                out[name] = int(size)
    return out
