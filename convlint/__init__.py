"""convlint: a static linter for neural-network architectures.

``convlint.lint(model, input_shape=...)`` finds every shape fault in a model before anything runs, and returns a
:class:`~convlint.results.Report`: an ONNX model (a path or an ``onnx.ModelProto``), or a PyTorch one (an
``nn.Module``, ``"net.py:build"``, ``"package.module:name"``, a ``.pt2`` file), which it never changes.
"""

from __future__ import annotations

from convlint.results import LintError, Report
from convlint.version import __version__


def lint(model, input_shape=None, select=None, ignore=None, verify=True, input_dtype=None, weights=None,
         trust_pickle=False) -> Report:
    """Lint ``model`` and return a Report with ``findings``, ``ok`` and ``raise_for_errors()``.

    ``input_shape`` pins or renames input dims: ``("N", 3, "H", "W")``, ``"N,3,H,W"``, a list of those in input
    order, or a dict from input name to dims. ``select``/``ignore`` take rule codes or prefixes (``"CL1"``).
    ``verify`` replays each error finding's layer alone in the model's runtime (onnxruntime for an ONNX model,
    PyTorch for a PyTorch layer, with onnxruntime's word on its export beside it) and records the verdict on the
    finding (``finding.verification``); an error the runtime does not reproduce is lowered to a warning.

    For PyTorch models: ``input_dtype`` gives input element types (``"int64"`` for token ids; a list in input order
    or a dict by name); ``weights`` a state dict file applied to a model convlint builds from a target (read with
    ``weights_only=True``); ``trust_pickle`` allows loading a pickled module (``torch.save(model)``), which runs code
    from the file.
    """
    from convlint.app import input_dtypes, input_shapes
    from convlint.pipeline import lint as run

    shapes = input_shapes.coerce(input_shape)
    dtypes = input_dtypes.coerce(input_dtype)
    return run([model], shapes, _codes(select), _codes(ignore), verify=verify, input_dtypes=dtypes, weights=weights,
               trust_pickle=trust_pickle)


def _codes(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


__all__ = ["lint", "Report", "LintError", "__version__"]
