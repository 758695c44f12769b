"""Many targets at once: ``-j N`` spreads them over N worker processes, and a progress bar follows them.

Workers are started with ``spawn`` (a fresh interpreter each), so a parent that has threads or has imported torch
forks nothing it should not. A worker that dies takes only its own targets down: each gets ``fallback(item, error)``.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed


def workers_for(jobs: int) -> int:
    """``-j 0`` means one worker per CPU."""
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def run(fn, items, workers: int = 1, progress=None, fallback=None, label=str) -> list:
    """``[fn(item) for item in items]``, in ``workers`` processes when that is more than one.

    ``fn`` must be a module-level function and items and results picklable. ``progress`` (a
    :class:`~convlint.app.progress.Progress`) is advanced as each item finishes, in any order; results keep the order of
    ``items``.
    """
    items = list(items)

    def done(item):
        if progress is not None:
            progress.advance(label(item))

    if workers <= 1 or len(items) <= 1:
        out = []
        for item in items:
            out.append(fn(item))
            done(item)
        return out
    results = [None] * len(items)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context) as pool:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as e:  # a worker that crashed or whose result could not be sent back
                if fallback is None:
                    raise
                results[i] = fallback(items[i], e)
            done(items[i])
    return results
