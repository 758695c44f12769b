from convlint.core import conditions as cond
from convlint.core import dims
from convlint.examples import TorchExample
from convlint.rule import WARNING, Rule
from convlint.shapes.conv import kernel_of, output_size, window

from ._constraints import pinning_constraints
from ._conv import spatial_name
from ._sizes import layer

WINDOW_OPS = ("Conv", "MaxPool", "AveragePool", "LpPool")


def _two_heads(in_features, second_pool):
    from torch import nn

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.pools = nn.Sequential(nn.MaxPool2d(2), *([nn.MaxPool2d(3)] if second_pool else []))
            self.fc = nn.Linear(in_features, 10)

        def forward(self, x):
            return self.pools(x), self.fc(self.pools[0](x).flatten(1))

    return TwoHeads()


def _pools_fit():  # the Linear pins H and W to ⌊H/2⌋·⌊W/2⌋ = 16, where one 2×2 pooling always fits
    return _two_heads(64, False)


def _pools_cannot_fit():  # the Linear pins ⌊H/2⌋·⌊W/2⌋ = 1 (H, W < 4), the second pooling needs H, W >= 6
    return _two_heads(4, True)


class InputSizeConflict(Rule):
    """## What it does
    Checks, for a model whose input sizes are symbolic, that the sizes its convolution and pooling windows need
    are sizes the rest of the model accepts. A window that fits only when `H >= 32` is ordinary (every network
    without padding needs a smallest input, and VGG needs 32), so that alone is not reported. But when another
    layer pins the input, a Linear after a flatten that accepts only `H = W = 28`, a positional embedding, a skip
    connection that needs `H % 16 == 0`, the two requirements together may leave no size at all (an error), or
    exclude sizes the pinning layer alone would take (a warning with the combined condition and the smallest size
    that meets it).

    Only the most demanding window on each input axis is reported. The conditions are computed exactly; see
    `concat-dims-mismatch` and `matmul-inner-dim` for the pinning layers themselves.

    ## Why is this bad?
    After too many downsamplings a window is larger than what reaches it: PyTorch fails with "Kernel size can't be
    greater than actual input size", onnxruntime in `run()`. When the model can only run at sizes where that
    happens, it cannot run at all, whatever the input; when some pinned sizes are excluded, the model fails on
    inputs that the pinning layer's own condition says are fine.

    ## Example
    A model with two heads: one flattens the input for a `Linear` whose `in_features=784` holds only for 28×28
    images, the other pools five times with stride 2, which needs `H >= 32`: no size works. Or a U-Net whose skips
    need `H % 16 == 0` and whose bottleneck convolution, unpadded, needs `H >= 48`: together, only
    `H % 16 == 0 and H >= 48`.

    ## Fix
    Remove a downsampling step, pad, or use a smaller window; or change the pinning layer (an adaptive pooling
    before the flatten makes the `Linear` accept every size).
    """

    code = "CL503"
    name = "input-size-conflict"
    brief = "the sizes windows need are sizes the rest of the model accepts"
    ops = ()

    VALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 8, H, W] x) => (float[N, 8, H2, W2] y)
        { p1 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)
          p2 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p1)
          y = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(p2) }""",
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 4, H, W] x) => (float[N, 10] y)
        <float[10, 64] w>
        { p = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)  f = Flatten(p)  y = Gemm<transB = 1>(f, w) }""",
    ]
    INVALID = [
        """<ir_version: 8, opset_import: ["": 17]>
        g (float[N, 4, H, W] x) => (float[N, 10] y)
        <float[10, 4] w>
        { p1 = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(x)
          p2 = MaxPool<kernel_shape = [3, 3], strides = [3, 3]>(p1)
          f = Flatten(x)  y = Gemm<transB = 1>(f, w) }""",
    ]

    TORCH_VALID = [TorchExample(_pools_fit, "N,4,H,W")]
    TORCH_INVALID = [TorchExample(_pools_cannot_fit, "N,4,H,W")]

    def check_graph(self, graph, ctx):
        pins = pinning_constraints(graph)
        if not pins:
            return
        by_node = {}
        for sym, record in sorted(_binding_windows(graph).items(), key=lambda kv: kv[0].name):
            by_node.setdefault(record[0], []).append((sym,) + record[1:])
        for node, records in by_node.items():
            syms = {r[0] for r in records}
            related = [p for p in pins if syms & p.symbols]
            if not related:
                continue
            atoms = [a for p in related for a in p.atoms]
            doms = [d for p in related for d in p.domain]
            window_atoms = [r[2] for r in records]
            window_doms = [d for r in records for d in r[3]]
            alone = cond.solve(atoms, doms)
            both = cond.solve(atoms + window_atoms, doms + window_doms)
            if not alone.some or both.status not in ("never", "some") or both.key() == alone.key():
                continue
            names = ", ".join(layer(p.node) for p in related[:3])
            axes = " and ".join(r[1] for r in records)
            needs = (f"{layer(node)} needs {' and '.join(r[4].condition for r in records)} for its window to "
                     f"fit the {axes} that reach{'es' if len(records) == 1 else ''} it, but {names} "
                     f"accept{'s' if len(related) == 1 else ''} only {alone.condition} (for example "
                     f"{alone.example_text()})")
            if both.never:
                message = needs + ": no input size satisfies both"
                hint = ("remove a downsampling step before this layer, pad, or use a smaller window; or make the "
                        "pinning layer accept more sizes (an adaptive pooling before a flatten)")
                yield self.finding(node, message, hint)
            else:
                message = needs + f": together, only when {both.condition} (smallest: {both.example_text()})"
                hint = f"feed sizes with {both.condition}, or relax one of the two requirements"
                yield self.finding(node, message, hint, WARNING)


def _binding_windows(graph) -> dict:
    """symbol -> the window whose fit condition on that symbol alone is the most demanding (largest smallest size)."""
    found = {}
    for node in graph.walk():
        if node.op not in WINDOW_OPS:
            continue
        x = node.input_shape(0)
        if x is None or len(x) < 3:
            continue
        rank = len(x) - 2
        w = node.input_shape(1) if node.op == "Conv" else None
        win = window(node, rank, node.attrs.get("kernel_shape") if w is None else kernel_of(node, w))
        if win is None or win.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            continue
        for i in range(rank):
            d = x[2 + i]
            syms = dims.symbols_of(d)
            if len(syms) != 1:
                continue
            out = output_size(d, win, i)
            atom, domain = cond.ge(out, 1), cond.sizes(d)
            verdict = cond.solve([atom], domain)
            if not verdict.some:
                continue
            sym = syms[0]
            need = verdict.example.get(sym.name, 0)
            if sym not in found or need > found[sym][4].example.get(sym.name, 0):
                found[sym] = (node, spatial_name(rank, i), atom, domain, verdict)
    return found
