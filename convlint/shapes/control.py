"""If, Loop and Scan: their subgraphs are propagated with the outer values in scope, so rules see inside them."""

from __future__ import annotations

from convlint.shapes.base import Out, merge_shapes, shape_fn


@shape_fn("If")
def if_(node, ctx):
    branches = [node.subgraphs.get(k) for k in ("then_branch", "else_branch")]
    for g in branches:
        if g is not None:
            ctx.propagate(g)
    if any(g is None for g in branches):
        return [Out() for _ in node.outputs]
    outs = []
    for i in range(len(node.outputs)):
        a = branches[0].outputs[i] if i < len(branches[0].outputs) else None
        b = branches[1].outputs[i] if i < len(branches[1].outputs) else None
        if a is None or b is None:
            outs.append(Out())
        else:
            outs.append(Out(merge_shapes(a.shape, b.shape), a.dtype if a.dtype == b.dtype else None))
    return outs


@shape_fn("Loop")
def loop(node, ctx):
    body = node.subgraphs.get("body")
    if body is None:
        return [Out() for _ in node.outputs]
    carried = node.inputs[2:]
    if len(body.inputs) >= 2:
        body.inputs[0].shape, body.inputs[0].dtype = (), "int64"
        body.inputs[1].shape, body.inputs[1].dtype = (), "bool"
    for v, init in zip(body.inputs[2:], carried):
        if init is not None and v.shape is None:
            v.shape, v.dtype = init.shape, init.dtype
    ctx.propagate(body)
    outs = []
    n_carried = len(carried)
    for i in range(len(node.outputs)):
        src = body.outputs[i + 1] if i + 1 < len(body.outputs) else None
        if src is None:
            outs.append(Out())
        elif i < n_carried:
            init = carried[i]
            same = init is not None and merge_shapes(init.shape, src.shape)
            agreed = src.dtype if init is None or init.dtype in (None, src.dtype) else None  # else a fault (CL804)
            outs.append(Out(same if same is not None else None, agreed))
        else:
            outs.append(Out((None,) + tuple(src.shape) if src.shape is not None else None, src.dtype))
    return outs


@shape_fn("Scan")
def scan(node, ctx):
    body = node.subgraphs.get("body")
    if body is not None:
        ctx.propagate(body)
    return [Out() for _ in node.outputs]
