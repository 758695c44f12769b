"""``--input-dtype`` specs for PyTorch targets: ``int64`` (the first input, then the next when repeated) or
``NAME=int64``. Names are PyTorch's (``float32``, ``bfloat16``, ``int64``, ``bool``...); ``long``, ``float``,
``half`` and the like are accepted as PyTorch spells them. Checked without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

from convlint.core.errors import UsageError

DTYPES = ("float16", "bfloat16", "float32", "float64", "complex64", "complex128", "uint8", "int8", "int16", "int32",
          "int64", "bool")
ALIASES = {"half": "float16", "float": "float32", "double": "float64", "long": "int64", "int": "int32",
           "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}


@dataclass(frozen=True)
class InputDtype:
    """The element type a user gives for one input: by position when ``name`` is None, else by name."""

    name: Optional[str]
    dtype: str


def dtype_of(text: str) -> str:
    t = str(text).strip().lower().replace("torch.", "")
    t = ALIASES.get(t, t)
    if t not in DTYPES:
        raise UsageError(f"--input-dtype: {text!r} is not a dtype; use one of {', '.join(DTYPES)}")
    return t


def parse(spec: str) -> InputDtype:
    name, sep, body = spec.rpartition("=")
    if sep and not name.strip():
        raise UsageError(f"--input-dtype {spec!r}: the input name before '=' is empty")
    return InputDtype(name.strip() or None, dtype_of(body))


def coerce(specs: Union[None, str, Sequence, dict]) -> list:
    """A list of :class:`InputDtype` from a spec string, a dtype (``torch.int64``), a list of those, or a dict."""
    if specs is None:
        return []
    if isinstance(specs, InputDtype):
        return [specs]
    if isinstance(specs, dict):
        return [InputDtype(str(k), dtype_of(v)) for k, v in specs.items()]
    if isinstance(specs, (list, tuple)):
        out = []
        for s in specs:
            out.extend(coerce(s))
        return out
    return [parse(str(specs))]
