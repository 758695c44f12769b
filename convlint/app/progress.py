"""A one-line progress bar on stderr, for runs that take more than a moment.

It is drawn only when the stream is a terminal, and only once ``delay`` seconds have passed without the work being
done, so quick runs and piped output stay exactly as they were. The line is erased when the work ends.
"""

from __future__ import annotations

import shutil
import sys
import threading

DELAY = 0.5  # seconds before the bar appears


class Progress:
    def __init__(self, total: int, stream=None, delay: float = DELAY, what: str = "model"):
        self.total, self.done, self.what = total, 0, what
        self.stream = stream if stream is not None else sys.stderr
        self.label = ""
        self.shown = False
        self._lock = threading.Lock()
        self._timer = None
        if self.enabled():
            self._timer = threading.Timer(delay, self._show)
            self._timer.daemon = True
            self._timer.start()

    def enabled(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def advance(self, label: str = "") -> None:
        """One more item done (``label`` names it)."""
        with self._lock:
            self.done += 1
            self.label = label
            if self.shown:
                self._draw()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self.shown = False

    def _show(self) -> None:
        with self._lock:
            if self.done < self.total:
                self.shown = True
                self._draw()

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max(10, min(30, columns // 4))
        filled = width * self.done // max(self.total, 1)
        plural = "" if self.total == 1 else "s"
        text = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.what}{plural}"
        if self.label:
            text += f"  {self.label}"
        self.stream.write("\r\033[K" + text[: columns - 1])
        self.stream.flush()
