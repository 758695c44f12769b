"""Shape functions: one per ONNX op (or family), registered with :func:`shape_fn`.

A shape function reads its node's input shapes (and the contents of small shape-level inputs) and returns one
:class:`Out` per output. It is tolerant: it computes what it can from what it has, never raises on a mismatch (a
rule reports mismatches), and returns an unknown ``Out()`` rather than guess. When a layer's input does not fit
its weight, the output follows the weight, so one fault does not hide the faults after it.
"""

from convlint.shapes.base import SHAPE_FUNCTIONS, Out, shape_fn  # noqa: F401  (the registry, filled below)
# Importing the op modules registers their shape functions.
from convlint.shapes import conv, elementwise, tensor, linalg, norm, reduce, recurrent, control, sequence  # noqa: F401,E402
