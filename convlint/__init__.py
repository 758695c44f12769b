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


def summary(model, input_shape=None, depth=None, at=None, select=None, ignore=None, input_dtype=None, weights=None,
            trust_pickle=False):
    """The summary of ``model`` (a :class:`~convlint.summarize.Summary`): per layer (``.layers``) its output shapes,
    parameters, MACs and activations as exact formulas in the input's symbols; the totals (``.params``, ``.macs``,
    ``.activations``); and ``.domain``, the input sizes for which the whole model runs (``.domain.text()``).
    ``.to_json()`` gives what ``convlint summary --format json`` prints for it; ``.error`` is the one-line reason
    when the model cannot be read (nothing is raised).

    ``depth`` folds the rows below that many levels of the module path into their container; ``at`` (a dict, or
    ``"H=224,W=224"``) evaluates every formula at those sizes. The other arguments are those of :func:`lint`.
    """
    from convlint.app import input_dtypes, input_shapes
    from convlint.app.sizes import parse_sizes
    from convlint.pipeline import summaries

    shapes = input_shapes.coerce(input_shape)
    dtypes = input_dtypes.coerce(input_dtype)
    sizes = parse_sizes([at]) if isinstance(at, str) else dict(at or {})
    return summaries([model], shapes, _codes(select), _codes(ignore), depth=depth, at=sizes or None,
                     input_dtypes=dtypes, weights=weights, trust_pickle=trust_pickle)[0]


def _codes(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


__all__ = ["lint", "summary", "Report", "LintError", "__version__"]
