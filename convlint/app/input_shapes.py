"""``--input-shape`` specs: ``1,3,224,224``, ``N,3,H,W`` or ``NAME=N,3,H,W``, each dim an int or a symbol name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

from convlint.core import dims
from convlint.core.errors import UsageError


@dataclass(frozen=True)
class InputShape:
    """The shape a user gives for one model input: by position when ``name`` is None, else by name."""

    name: Optional[str]
    dims: tuple  # ints and symbols

    def __str__(self) -> str:
        text = ",".join(dims.pretty(d) for d in self.dims)
        return f"{self.name}={text}" if self.name else text


def parse_dim(text: str):
    text = text.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        if value < 0:
            raise UsageError(f"--input-shape: dim {text} is negative")
        if value >= 2**63:
            raise UsageError(f"--input-shape: dim {text} is larger than any tensor dim (int64) can be")
        return value
    if not dims.is_symbol_name(text):
        raise UsageError(f"--input-shape: {text!r} is neither a whole number nor a symbol name such as N or H")
    return dims.symbol(text)


def parse(spec: str) -> InputShape:
    """Parse one ``--input-shape`` value; a bad one raises :class:`UsageError` naming it."""
    name = None
    body = spec
    if "=" in spec:
        name, body = spec.split("=", 1)
        name = name.strip()
        if not name:
            raise UsageError(f"--input-shape {spec!r}: the input name before '=' is empty")
    body = body.strip().strip("()[]")
    if not body:
        return InputShape(name, ())
    parts = body.split(",")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()  # a trailing comma, as in the tuple (5,)
    if any(not p.strip() for p in parts):
        raise UsageError(f"--input-shape {spec!r}: a dim is missing between two commas")
    return InputShape(name, tuple(parse_dim(p) for p in parts))


def coerce(specs: Union[None, str, Sequence, dict]) -> list:
    """Turn what the API or CLI was given into a list of :class:`InputShape`.

    Accepts a spec string, a tuple of dims (``("N", 3, "H", "W")``), a list of those, or a dict name -> dims.
    """
    if specs is None:
        return []
    if isinstance(specs, str):
        return [parse(specs)]
    if isinstance(specs, InputShape):
        return [specs]
    if isinstance(specs, dict):
        return [InputShape(str(k), _dims_of(v)) for k, v in specs.items()]
    items = list(specs)
    if items and all(isinstance(d, (int, str)) and not (isinstance(d, str) and ("," in d or "=" in d)) for d in items):
        return [InputShape(None, _dims_of(items))]
    out = []
    for item in items:
        out.extend(coerce(item))
    return out


def _dims_of(value) -> tuple:
    if isinstance(value, str):
        return parse(value).dims
    return tuple(d if isinstance(d, int) and d >= 0 else parse_dim(str(d)) for d in value)
