"""Channels-last inputs: a layer reading channels on axis 1 fed `(N, L, C)` or NHWC, and the permute that fixes it."""

from __future__ import annotations

from convlint.core import dims

from ._sizes import same

LAYOUT_NAMES = {3: "(N, L, C)", 4: "NHWC", 5: "NDHWC"}


def channels_axis(shape, expected):
    """The one axis after 1 that holds the ``expected`` channel count while axis 1 does not; None otherwise."""
    if shape is None or len(shape) < 3 or expected is None or same(shape[1], expected):
        return None
    found = [j for j in range(2, len(shape)) if same(shape[j], expected)]
    return found[0] if len(found) == 1 else None


def to_channels_first(rank: int, j: int) -> list:
    """The permutation that moves axis ``j`` to axis 1, keeping the others in order."""
    return [0, j] + [i for i in range(1, rank) if i != j]


def permute_text(rank: int, j: int) -> str:
    perm = to_channels_first(rank, j)
    return f"x.permute({', '.join(map(str, perm))}) in PyTorch, Transpose(perm={perm}) in ONNX"


def layout_name(shape, j: int) -> str:
    if j == len(shape) - 1 and len(shape) in LAYOUT_NAMES:
        return LAYOUT_NAMES[len(shape)]
    return f"channels on axis {j}"


def channels_last_hint(shape, expected, what: str = "reads channels on axis 1"):
    """A hint for a layer that {what} when its input holds ``expected`` on another axis; None if it does not."""
    j = channels_axis(shape, expected)
    if j is None:
        return None
    return (f"axis {j} of the input holds {dims.pretty(expected)}: the tensor looks {layout_name(shape, j)}, and the "
            f"layer {what}; move the channels first: {permute_text(len(shape), j)}")

