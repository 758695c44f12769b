"""Errors that end a run with one line and exit status 2."""


class InputError(Exception):
    """A target that cannot be linted: missing, unreadable, corrupt or hostile. The message is one line for the user."""


class UsageError(InputError):
    """Arguments that do not fit the target, such as an ``--input-shape`` for an input the model does not have."""
