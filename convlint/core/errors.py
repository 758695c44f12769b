"""Errors that end a run with one line and exit status 2."""


class InputError(Exception):
    """A target that cannot be linted: missing, unreadable, corrupt or hostile. The message is one line for the user."""


class UsageError(InputError):
    """Arguments that do not fit the target, such as an ``--input-shape`` for an input the model does not have."""


def one_line(text, limit: int = 1000) -> str:
    """``text`` as a single line for stderr: line breaks (a path may hold one) escaped, and cut at ``limit``."""
    text = str(text).strip().replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."
