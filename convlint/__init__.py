"""convlint: a static linter for neural-network architectures.

``convlint.lint(model, input_shape=...)`` finds every shape fault in an ONNX model (a path or an
``onnx.ModelProto``) before anything runs, and returns a :class:`~convlint.report.Report`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .report import LintError, Report  # noqa: E402


def lint(model, input_shape=None, select=None, ignore=None) -> Report:
    """Lint ``model`` and return a Report with ``findings``, ``ok`` and ``raise_for_errors()``.

    ``input_shape`` pins or renames input dims: ``("N", 3, "H", "W")``, ``"N,3,H,W"``, a list of those in input
    order, or a dict from input name to dims. ``select``/``ignore`` take rule codes or prefixes (``"CL1"``).
    """
    from . import input_shapes
    from .pipeline import lint as run

    shapes = input_shapes.coerce(input_shape)
    return run([model], shapes, _codes(select), _codes(ignore))


def _codes(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


__all__ = ["lint", "Report", "LintError", "__version__"]
