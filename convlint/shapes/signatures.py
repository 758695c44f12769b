"""Shape results reused across nodes of one signature.

A shape function is a pure function of its node's op, attributes and number of outputs, and of each input's shape,
element type and contents (:mod:`convlint.shapes.base`); the model's opsets are fixed for a propagation. Most nodes
of a real network repeat a few such signatures (a ResNet's hundred convolutions, a transformer's layers), so a
propagation computes each signature once and hands the result to the nodes that share it.

Contents are part of the signature where they are known. A weight whose contents are still on disk (not loaded:
convlint reads a weight only when a shape function asks for it) enters as "unread": when the shape function did not
load it, the result cannot depend on it, and every node of that signature gets the result whatever its weight holds;
when it did load it (a ``Reshape``'s target read from an initializer), that signature is never reused. Not reused:
control flow and sequence ops (they read subgraphs and the propagation's sequence table), tensor-valued attributes
beyond a few elements, contents beyond :data:`MAX_ELEMENTS`, and any node whose shape function failed.
"""

from __future__ import annotations

import numpy as np

MAX_ELEMENTS = 1024  # contents larger than this make a node's signature unique (such contents are not dims)
_UNREAD = "unread"
_LOADED = object()  # a signature whose shape function read a weight's contents: computed for every node
_OWN_STATE = ("convlint.shapes.control", "convlint.shapes.sequence")


class Unhashable(Exception):
    pass


def reusable(fn, node) -> bool:
    """Whether results of ``fn`` (the node's shape function) may be shared: not for control flow, sequences, or
    nodes with subgraphs."""
    return not node.subgraphs and fn.__module__ not in _OWN_STATE


def _frozen(x):
    if isinstance(x, (list, tuple)):
        return tuple(_frozen(a) for a in x)
    if isinstance(x, np.ndarray):
        if x.size > MAX_ELEMENTS:
            raise Unhashable
        return ("array", x.dtype.str, x.shape, tuple(x.reshape(-1).tolist()) if x.dtype == object else x.tobytes())
    hash(x)  # raises TypeError for what cannot be a key
    return x


def _input_key(v):
    if v is None:
        return None
    data = v.known_data
    if data is not None:
        contents = _frozen(np.asarray(data))
    elif v.unread:
        contents = _UNREAD
    else:
        contents = None
    return v.shape, v.dtype, contents


def key(node):
    """The node's signature, or None when it cannot be one."""
    try:
        return (node.op, node.domain, len(node.outputs),
                tuple(sorted((k, _frozen(a)) for k, a in node.attrs.items())),
                tuple(_input_key(v) for v in node.inputs))
    except (Unhashable, TypeError):
        return None


class Signatures:
    """The results computed so far in one propagation, by signature."""

    def __init__(self):
        self.results = {}
        self.hits = self.misses = 0

    def get(self, k):
        """The outputs (shape, dtype, contents) for signature ``k``, or None when they must be computed."""
        found = self.results.get(k)
        if found is None or found is _LOADED:
            self.misses += 1
            return None
        self.hits += 1
        return [(shape, dtype, None if data is None else data.copy()) for shape, dtype, data in found]

    def put(self, k, node, unread_before) -> None:
        """Keep ``node``'s outputs for ``k``; ``unread_before``: its inputs whose contents were not loaded before
        its shape function ran."""
        if any(not v.unread for v in unread_before):
            self.results[k] = _LOADED
        else:
            self.results[k] = [(v.shape, v.dtype, None if v.known_data is None else v.known_data.copy())
                               for v in node.outputs]
