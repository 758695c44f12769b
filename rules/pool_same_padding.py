from __future__ import annotations

from dataclasses import dataclass

from convlint.core import conditions as cond
from convlint.core import compare, dims
from convlint.rule import ERROR, WARNING, Rule
from convlint.shapes.conv import output_size, window

from ._conv import spatial_name
from ._same_padding import SAME, pads_hint, same_pads
from ._sizes import condition_clause, every_size, judged

MLAS_DTYPES = ("float32", "float16")  # MaxPool's MLAS kernel, which refuses negative pads; the others clamp them


class PoolSamePadding(Rule):
    """## What it does
    Checks pooling (`MaxPool`, `AveragePool`, `LpPool`) with `auto_pad` `SAME_UPPER` or `SAME_LOWER` where
    onnxruntime departs from ONNX: with a dilation other than 1 it computes another output size, and an undilated
    `MaxPool` whose SAME padding would be negative it refuses in `run()`.

    ## Why is this bad?
    ONNX defines SAME pooling's output as `ceil(D / stride)` on every axis, whatever the dilation, with the padding
    `(ceil(D / stride) - 1) * stride + dilation * (k - 1) + 1 - D` clamped at 0. onnxruntime works out the SAME
    padding for the undilated kernel, `(ceil(D / stride) - 1) * stride + k - D`, without the clamp
    (`PoolAttributes::ComputeSizePadDilations`), and that departs from ONNX in two ways.

    With a dilation, it slides the dilated kernel over that padding: on an axis with kernel `k > 1` and dilation
    `d > 1` its output is `ceil(D / stride) - ceil(e / stride)` with `e = (d - 1) * (k - 1)` (with `ceil_mode`,
    `- floor(e / stride)`), once `D` exceeds `stride` times what it takes away; on shorter inputs the size is
    smaller still, 0, or negative, and right only where `e` is below the stride. It runs on with that size and
    only logs "Expected shape from model of {1,1,6,6} does not match actual shape of {1,1,4,4}": every layer after
    it sees a smaller tensor than the model says, and a later `Add`, `Concat` or `Reshape` fails far from the
    cause, or nothing fails and the results are quietly wrong. It is a warning because the layer runs; where the
    input is so small that onnxruntime's size comes out negative, it fails in `run()` ("Calculated output
    dimension is negative") and the finding is an error.

    Without a dilation, the padding comes out negative where the kernel is shorter than the input's last partial
    stride, `D - (ceil(D / stride) - 1) * stride` (kernel 2, stride 3 on 6 positions: a padding of -1, where ONNX
    pads nothing and gives 2 positions). The sizes still agree, but a float or float16 `MaxPool` without the
    `Indices` output (the kernel onnxruntime hands to MLAS) fails in `run()` with "padding values must be
    non-negative": an error. `AveragePool`, `LpPool` and the other `MaxPool` kernels run.

    With symbolic sizes the message gives onnxruntime's size as an expression and the sizes it holds for, or the
    sizes `MaxPool` runs for (a warning; an error when it runs for none).

    PyTorch cannot express this layer (`nn.MaxPool2d` has no `padding="same"`), so there is no PyTorch example.

    ## Example
    `MaxPool<auto_pad = "SAME_UPPER", kernel_shape = [3, 3], dilations = [2, 2]>(x[1, 1, 6, 6])`: ONNX defines
    the output as `(1, 1, 6, 6)`, onnxruntime computes `(1, 1, 4, 4)`; with `strides = [2, 2]`, `(1, 1, 3, 3)`
    against `(1, 1, 2, 2)`. `MaxPool<auto_pad = "SAME_UPPER", kernel_shape = [2, 2], strides = [3, 3]>(x[1, 1, 6,
    6])`: ONNX defines the output as `(1, 1, 2, 2)`, onnxruntime fails in `run()`.

    ## Fix
    Write the padding out: `auto_pad = "NOTSET"` and the `pads` SAME padding stands for (the hint gives them when
    the input size allows); onnxruntime computes explicit pads right. Per axis the total is
    `max(0, (ceil(D / stride) - 1) * stride + dilation * (k - 1) + 1 - D)`, split in half with the odd one at the
    end (`SAME_UPPER`) or at the beginning (`SAME_LOWER`). onnxruntime refuses a pad as large as the kernel ("Pad
    should be smaller than kernel"), which a dilation of 3 or more can need: then pad with a `Pad` node before the
    layer (the hint says with what) and set `auto_pad = "VALID"`.
    """

    code = "CL109"
    name = "pool-same-padding"
    brief = "a pooling with SAME `auto_pad` where onnxruntime departs from ONNX (a dilation, a negative padding)"
    severity = WARNING
    ops = ("MaxPool", "AveragePool", "LpPool")

    VALID = [
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[1, 1, 6, 6] x) => (float[1, 1, 6, 6] y)
        { y = MaxPool<auto_pad = "SAME_UPPER", kernel_shape = [3, 3]>(x) }""",
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[N, 8, H, W] x) => (float[N, 8, H, W] y)
        { y = AveragePool<kernel_shape = [3, 3], dilations = [2, 2], pads = [2, 2, 2, 2]>(x) }""",
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[1, 1, 6, 6] x) => (float[1, 1, 2, 2] y)
        { y = MaxPool<pads = [0, 0, 0, 0], kernel_shape = [2, 2], strides = [3, 3]>(x) }""",
    ]
    INVALID = [
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[1, 1, 6, 6] x) => (float[1, 1, 6, 6] y)
        { y = MaxPool<auto_pad = "SAME_UPPER", kernel_shape = [3, 3], dilations = [2, 2]>(x) }""",
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[N, 8, H, W] x) => (float[N, 8, H2, W2] y)
        { y = AveragePool<auto_pad = "SAME_LOWER", kernel_shape = [3, 3], dilations = [2, 2], strides = [2, 2]>(x) }""",
        """<ir_version: 9, opset_import: ["": 19]>
        g (float[N, 8, H, W] x) => (float[N, 8, H2, W2] y)
        { y = MaxPool<auto_pad = "SAME_UPPER", kernel_shape = [2, 2], strides = [3, 3]>(x) }""",
    ]

    def check(self, node, ctx):
        x = node.input_shape(0)
        if node.attrs.get("auto_pad") not in SAME or x is None or len(x) < 3:
            return
        rank = len(x) - 2
        win = window(node, rank, node.attrs.get("kernel_shape"))
        if win is None:
            return
        if any(d != 1 for d in win.dilations):
            yield from self._dilated(node, x, win, rank)
        elif node.op == "MaxPool" and len(node.outputs) == 1 and node.inputs[0].dtype in MLAS_DTYPES:
            yield from self._negative_padding(node, x, win, rank)

    def _negative_padding(self, node, x, win, rank):
        """onnxruntime's MLAS MaxPool refuses the negative SAME padding it computes where ONNX clamps it at 0."""
        pads = [_undilated_same_padding(x[2 + i], win, i) for i in range(rank)]
        atoms = [cond.ge(p, 0) for p in pads if p is not None]
        if not atoms:
            return
        verdict = cond.solve(atoms, cond.sizes(*x[2:]))
        if not (verdict.never or verdict.some):
            return
        onnx_shape = x[:2] + tuple(output_size(x[2 + i], win, i) for i in range(rank))
        negative = [f"{spatial_name(rank, i)} by {dims.pretty(p)}" for i, p in enumerate(pads)
                    if p is not None and compare.at_least(p, 0) is not True]
        always = every_size(*x[2:]) if verdict.never else " for some sizes"
        message = (f"MaxPool with auto_pad {win.auto_pad}, kernel_shape {tuple(win.kernel)} and strides "
                   f"{tuple(win.strides)}: ONNX defines the output as {dims.pretty_shape(onnx_shape)}, but "
                   f"onnxruntime fails in run() (\"padding values must be non-negative\"){always}: it pads the "
                   f"{' and the '.join(negative)}, negative where the kernel is shorter than the input's last partial "
                   f"stride, which ONNX clamps at 0{condition_clause(verdict, 'onnxruntime runs it')}")
        hint = self._hint(node, x, win)
        if same_pads(x, win) is None:
            hint += ", each total clamped at 0 as ONNX does; onnxruntime runs explicit pads"
        yield self.finding(node, message, hint, **judged(verdict))

    def _dilated(self, node, x, win, rank):
        auto_pad, dilations = win.auto_pad, win.dilations
        axes = [_axis(x[2 + i], win, i) for i in range(rank)]
        if all(a is None for a in axes):
            return
        onnx_shape = x[:2] + tuple(output_size(x[2 + i], win, i) for i in range(rank))
        said = f"{node.op} with auto_pad {auto_pad} and dilations {tuple(dilations)}: ONNX defines the output as " \
               f"{dims.pretty_shape(onnx_shape)}, but onnxruntime"
        why = "it works out SAME padding for the undilated kernel"
        refused = [(i, a.ort) for i, a in enumerate(axes) if a is not None and type(a.ort) is int and a.ort < 0]
        if refused:
            i, size = refused[0]
            message = f"{said} fails in run(): {why} and gets an output {spatial_name(rank, i)} of {size}"
            yield self.finding(node, message, self._hint(node, x, win), ERROR)
            return
        ort_shape = x[:2] + tuple(onnx_shape[2 + i] if a is None else a.ort for i, a in enumerate(axes))
        conditions = [f"{dims.pretty(x[2 + i])} >= {a.since}" for i, a in enumerate(axes)
                      if a is not None and a.ort is not None and a.since is not None]
        when = f" for {' and '.join(conditions)}" if conditions else ""
        empty = " (an empty tensor)" if any(a is not None and a.ort == 0 for a in axes) else ""
        smaller = "".join(f"; its {spatial_name(rank, i)} is smaller than ONNX's for every {_values(x[2 + i])}"
                          for i, a in enumerate(axes) if a is not None and a.ort is None)
        message = f"{said} computes {dims.pretty_shape(ort_shape)}{when}{empty}, as {why}{smaller}"
        yield self.finding(node, message, self._hint(node, x, win))

    def _hint(self, node, x, win) -> str:
        pads = same_pads(x, win)
        rank = len(win.kernel)
        if pads is None:
            # the larger half of a total of up to dilation * (k - 1)
            large = any(-(-win.dilations[i] * (win.kernel[i] - 1) // 2) >= win.kernel[i] for i in range(rank))
            return pads_hint(win.auto_pad, None) + ("; onnxruntime refuses a pad as large as the kernel, so where one "
                                                    "is, pad in a Pad node before this layer and set auto_pad to "
                                                    '"VALID"' if large else "")
        if all(pads[i] < win.kernel[i] and pads[rank + i] < win.kernel[i] for i in range(rank)):
            return pads_hint(win.auto_pad, pads) + "; onnxruntime computes explicit pads right"
        average_without_pad = node.op == "AveragePool" and not node.attrs.get("count_include_pad", 0)
        value = "-inf" if node.op == "MaxPool" else "0"
        caveat = (" (which counts the padding in the averages at the borders, unlike count_include_pad=0)"
                  if average_without_pad else "")
        return (f"onnxruntime refuses pads as large as the kernel: put the padding {win.auto_pad} stands for here in "
                f"a Pad node before this layer, pads {[0, 0] + pads[:rank] + [0, 0] + pads[rank:]} and value "
                f'{value}{caveat}, and set auto_pad to "VALID"')


@dataclass
class _AxisSizes:
    """onnxruntime's output size on one axis where it may differ from ONNX's ``ceil(D / stride)``."""

    ort: object  # an int, an expression in the input's symbols, or None where no exact expression exists
    since: object = None  # for a symbolic input size: ``ort`` holds for sizes at least this


def ort_size(d: int, k: int, dilation: int, stride: int, ceil_mode: bool) -> int:
    """The output size onnxruntime's pooling computes under SAME padding (``ComputeSizePadDilations`` and
    ``ComputeOutputSize`` in pool_attributes.h): the padding of the undilated kernel, not clamped at 0, then the
    dilated window over it, divided the C++ way (toward zero), or rounded up with ``ceil_mode`` (whose check that
    the last window starts inside the input never fires here). Below 0 onnxruntime fails in ``run()``."""
    pad = (-(-d // stride) - 1) * stride + k - d
    numerator = d + pad - dilation * (k - 1) - 1
    return (-(-numerator // stride) if ceil_mode else _toward_zero(numerator, stride)) + 1


def _undilated_same_padding(d, win, i):
    """onnxruntime's SAME padding total on axis ``i``, ``(ceil(D / stride) - 1) * stride + k - D`` for the undilated
    kernel, not clamped at 0; None where it cannot be negative (a kernel at least the stride) or ``D`` is unknown."""
    k, s = win.kernel[i], win.strides[i]
    if k >= s or d is None:
        return None
    return dims.sub(dims.add(dims.mul(dims.sub(dims.ceildiv(d, s), 1), s), k), d)


def _values(d) -> str:
    syms = dims.symbols_of(d)
    return f"value of {', '.join(s.name for s in syms)}" if syms else "input size"


def _toward_zero(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def _axis(d, win, i):
    """onnxruntime's size on axis ``i`` for input size ``d`` where it may differ from ONNX's, else None.

    With ``e = (dilation - 1) * (k - 1)`` and ``o = ceil(D / stride)``, onnxruntime's size is ``o - ceil(e / stride)``
    (``o - floor(e / stride)`` with ``ceil_mode``) for ``D`` above ``stride`` times what it subtracts, and
    ``o - floor(e / stride)`` below (``ort_size`` gives every case of an int size).
    """
    k, s = win.kernel[i], win.strides[i]
    if type(d) is int:
        ort = ort_size(d, k, win.dilations[i], s, win.ceil_mode)
        return None if ort == output_size(d, win, i) else _AxisSizes(ort)
    e = (win.dilations[i] - 1) * (k - 1)
    less = e // s if win.ceil_mode else -(-e // s)
    if less == 0:
        return None
    since = less * s + 1
    holds = compare.at_least(d, since) if d is not None else False
    if holds is False:  # an unknown size, or one below ``since``: onnxruntime is off by floor(e / stride)
        return _AxisSizes(None) if e >= s else None
    return _AxisSizes(dims.sub(dims.ceildiv(d, s), less), None if holds else since)
