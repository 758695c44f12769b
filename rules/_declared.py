"""What the declared-versus-actual rules share: a PyTorch module's own parameters next to what it declares.

The PyTorch front end puts a module's declared attributes in ``node.declared`` and its parameters and buffers, with
their actual shapes, in ``node.facts.params``. A module called several times is checked once, on its first call.
"""

from __future__ import annotations

from convlint.core import compare, dims
from convlint.rule import Rule

NOT_REPLAYABLE = ("a PyTorch module's declared attributes, which a replay of the layer in onnxruntime cannot show")


class DeclaredRule(Rule):
    """A rule about PyTorch declarations: its findings are not replayed in onnxruntime (they are not ONNX's)."""

    def finding(self, node, message, hint=None, severity=None, **evidence):
        return super().finding(node, message, hint, severity, not_replayable=NOT_REPLAYABLE, **evidence)


def module_node(node) -> bool:
    """A PyTorch module's node, on its first call (or never called): the one to check declarations on."""
    return bool(node.declared) and node.facts.params is not None and not node.facts.repeat_call


def shape_of(node, name):
    """The parameter's shape; None when it has none, or when it is a ``--weights`` checkpoint's (the checkpoint
    rules, CL700, explain that one)."""
    v = node.facts.params.get(name)
    return None if v is None or v.from_checkpoint else v.shape


def declared_text(node, *names) -> str:
    d = node.declared
    return ", ".join(f"{n}={_value(d[n])}" for n in names if n in d)


def _value(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v)


def wrong_shapes(node, expected: dict) -> list:
    """``[(name, actual, expected)]`` for the parameters whose shape differs from ``expected[name]``."""
    out = []
    for name, want in expected.items():
        have = shape_of(node, name)
        if have is None or want is None:
            continue
        if len(have) != len(want) or any(compare.equal(a, b) is False for a, b in zip(have, want)):
            out.append((name, tuple(have), tuple(want)))
    return out


def replaced(names) -> str:
    """``weight was replaced`` / ``weight and bias were replaced``."""
    names = list(names)
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{text} {'was' if len(names) == 1 else 'were'} replaced"


def listed(wrong) -> str:
    """``running_mean (32,) where (64,) was declared, bias (5,) where (4,)``."""
    parts = [f"{name} {dims.pretty_shape(have)} where {dims.pretty_shape(want)}" for name, have, want in wrong[:4]]
    more = f", and {len(wrong) - 4} more" if len(wrong) > 4 else ""
    return ", ".join(parts) + more


def input_shape(node, i: int = 0):
    """The traced input's shape, or None when the module was not called or its input is unknown."""
    v = node.input(i)
    return None if v is None else v.shape
