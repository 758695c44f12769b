"""What the checkpoint rules (CL700-CL704) share: the checkpoint's differences from the model
(``Trace.checkpoint``, from headers alone) grouped by cause, and where each finding goes.

Each difference is explained once. A prefix that renames many keys (``module.`` from ``DataParallel``, ``backbone.``
for ``encoder.``) explains a missing key and an unexpected one together. Whole numbered blocks missing or extra are
depth. Among the shapes: weights stored transposed (GPT-2's ``Conv1D`` against ``nn.Linear``), every channel count
scaled by one factor (a width multiplier), the classifier's rows (``num_classes``), an embedding's rows (a vocabulary
grown by added tokens), a position table (a longer context), the stem's input channels. What no cause explains is
reported per module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_LISTED = 6  # keys named in a message; the rest are counted


@dataclass
class Cause:
    """One reason for some differences: the keys it explains, the module they belong to, what it means."""

    kind: str
    keys: list
    module: str
    message: str
    hint: str
    extra: dict = field(default_factory=dict)


def facts(graph):
    return graph.trace.checkpoint if graph.trace is not None else None


def source(facts) -> str:
    """``ckpt.pt`` or ``ckpt.pt (its 'state_dict' entry)``."""
    return f"{facts.path} (its '{facts.key}' entry)" if facts.key else facts.path


def owner(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def listed(names) -> str:
    names = list(names)
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# -- renamed keys ---------------------------------------------------------------------------------------------------

def prefix_causes(facts) -> list:
    """Prefixes that turn unexpected keys into missing ones (``module.conv.weight`` -> ``conv.weight``): each a
    Cause of kind "prefix" whose keys are the unexpected ones it renames, ``extra["renames"]`` the missing ones."""
    missing = {n for n, _, _ in facts.missing}
    by_suffix = {}
    for m in missing:
        parts = m.split(".")
        for j in range(0, min(3, len(parts))):
            by_suffix.setdefault(".".join(parts[j:]), []).append((".".join(parts[:j]), m))
    counts = {}
    for u, _, _ in facts.unexpected:
        parts = u.split(".")
        for i in range(0, min(3, len(parts))):
            for b, m in by_suffix.get(".".join(parts[i:]), ()):
                a = ".".join(parts[:i])
                if a != b:
                    counts.setdefault((a, b), {})[u] = m
    causes, used_u, used_m = [], set(), set()
    for (a, b), pairs in sorted(counts.items(), key=lambda kv: -len(kv[1])):
        pairs = {u: m for u, m in pairs.items() if u not in used_u and m not in used_m}
        if len(pairs) < 2 and len(pairs) < min(len(facts.unexpected), len(missing)):
            continue
        used_u |= set(pairs)
        used_m |= set(pairs.values())
        causes.append(_prefix_cause(a, b, pairs))
    return causes


def _prefix_cause(a: str, b: str, pairs: dict) -> Cause:
    saved = f"'{a}.'" if a else "no prefix"
    wanted = f"'{b}.'" if b else "no prefix"
    if a == "module" and not b:
        why = "saved from a model wrapped in DataParallel or DistributedDataParallel"
        hint = ("save model.module.state_dict(), or strip the prefix when loading: "
                "{k.removeprefix('module.'): v for k, v in state.items()}")
    elif b and not a:
        why = f"saved from the part of the model under '{b}' alone"
        hint = f"load it into that part (model.{b}.load_state_dict(state)), or add the prefix to its keys"
    else:
        why = f"the submodule '{a}' is called '{b}' in this model" if a and b else f"its keys carry {saved}"
        hint = (f"rename the keys when loading: {{k.replace('{a}.', '{b}.', 1): v for k, v in state.items()}}"
                if a and b else f"strip {saved} from its keys when loading")
    message = (f"{len(pairs)} keys carry {saved} where the model has {wanted}: {why} "
               f"({listed(f'{u} -> {m}' for u, m in list(pairs.items()))})")
    return Cause("prefix", list(pairs), b or a, message, hint, {"renames": list(pairs.values())})


# -- depth ------------------------------------------------------------------------------------------------------------

_BLOCK = re.compile(r"^((?:.*\.)?)(\d+)\.(.+)$")


def _block(name: str):
    """(container, index) of a key inside a numbered block (``layers.12.attn.weight``: ("layers", 12)), or None."""
    m = _BLOCK.match(name)
    return (m.group(1)[:-1], int(m.group(2))) if m else None


def block_causes(entries, side: str, other: set) -> list:
    """Whole numbered blocks (``layers.12.*``) among ``entries`` (name, shape, dtype), of a container the other
    side (``other``: the checkpoint's keys for "missing", the model's for "unexpected") has blocks of too, but none
    of these: depth."""
    by_container = {}
    for name, _, _ in entries:
        b = _block(name)
        if b is not None:
            by_container.setdefault(b[0], {}).setdefault(b[1], []).append(name)
    present_by = {}
    for name in other:
        b = _block(name)
        if b is not None:
            present_by.setdefault(b[0], set()).add(b[1])
    causes = []
    for container, blocks in by_container.items():
        present = present_by.get(container, set())
        whole = sorted(i for i in blocks if i not in present)
        if not whole or not present:
            continue
        keys = [k for i in whole for k in blocks[i]]
        where = f"'{container}'" if container else "the model's top level"
        span = ".".join(p for p in (container, str(whole[0])) if p) + ("" if len(whole) == 1 else f" to {whole[-1]}")
        if side == "missing":
            message = (f"the checkpoint has no weights for blocks {span} ({len(keys)} keys): it holds "
                       f"{len(present)} blocks of {where}, the model {len(present) + len(whole)} (depth)")
            hint = f"build the model with {len(present)} blocks in {where}, or use a checkpoint of this depth"
        else:
            message = (f"the checkpoint holds blocks {span} that the model does not have ({len(keys)} keys): it has "
                       f"{len(present) + len(whole)} blocks of {where}, the model {len(present)} (depth)")
            hint = f"build the model with {len(present) + len(whole)} blocks in {where}"
        causes.append(Cause("depth", keys, container, message, hint))
    return causes


def key_findings(rule, graph, ckpt, left, side: str, say, hint: str):
    """The findings of CL701 (``side`` "missing") or CL702 ("unexpected") on the keys ``left``: whole numbered
    blocks first (depth), then one per module, ``say(names)`` its message. A checkpoint's module the model lacks is
    reported on the closest module of the model above it."""
    other = set(ckpt.checkpoint_keys if side == "missing" else ckpt.model_keys)
    for cause in block_causes(left, side, other):
        yield placed(rule.finding(None, f"{cause.message} (in {source(ckpt)})", cause.hint), graph, cause.module)
        left = [e for e in left if e[0] not in set(cause.keys)]
    for module, entries in by_module(left).items():
        names = listed(f"{n} {shape_text(s)}" for n, s, _ in entries)
        yield placed(rule.finding(None, say(names), hint), graph, _nearest(module, graph.trace.modules))


def _nearest(module: str, modules: dict) -> str:
    while module and module not in modules:
        module = module.rsplit(".", 1)[0] if "." in module else ""
    return module


def by_module(entries) -> dict:
    out = {}
    for name, shape, dtype in entries:
        out.setdefault(owner(name), []).append((name, shape, dtype))
    return out


# -- shapes -----------------------------------------------------------------------------------------------------------

def shape_causes(facts, modules: dict, positional=frozenset()) -> list:
    """The shape mismatches (name, model's, checkpoint's) grouped by cause; ``modules`` is Trace.modules (path ->
    ModuleInfo, in the model's order); ``positional`` the embeddings looked up by positions (``arange``)."""
    left = list(facts.mismatched)
    causes = []
    transposed = [e for e in left if len(e[1]) == 2 and tuple(reversed(e[1])) == tuple(e[2]) and e[1][0] != e[1][1]]
    if transposed:
        keys = [e[0] for e in transposed]
        shown = listed(f"{n} {shape_text(c)} for {shape_text(m)}" for n, m, c in transposed)
        causes.append(Cause(
            "transposed", keys, owner(keys[0]),
            f"{len(keys)} weights are stored transposed: {shown}; "
            f"the checkpoint was saved from layers that keep (in, out), such as GPT-2's Conv1D, and this model's "
            f"nn.Linear keeps (out, in)",
            "transpose those weights when loading (state[k] = state[k].t()), or build the model with the layers the "
            "checkpoint was saved from"))
        left = [e for e in left if e not in transposed]
    factor = _common_factor(left)
    if factor is not None and len(left) >= 3:
        keys = [e[0] for e in left]
        causes.append(Cause(
            "width", keys, owner(keys[0]),
            f"every channel count differs by one factor: the checkpoint's are {factor} times the model's in "
            f"{len(keys)} tensors ({listed(f'{n} {shape_text(c)} for {shape_text(m)}' for n, m, c in left)}): a "
            f"width multiplier",
            f"build the model with the width the checkpoint was trained with (×{factor} the channels)"))
        return causes
    order = {path: i for i, path in enumerate(modules)}
    grouped = _grouped(left)
    for module, entries in list(grouped.items()):
        if module not in grouped:
            continue  # joined to a vocabulary cause
        cause = _module_shape_cause(module, entries, modules, order, module in positional)
        if cause.kind == "vocabulary":
            rows = cause.extra["rows"]
            for other, more in list(grouped.items()):
                if other != module and all(_only_rows(m, c) and (m[0], c[0]) == rows for _, m, c in more):
                    cause.keys += [n for n, _, _ in more]  # the output projection of the same vocabulary
                    cause.message += "; " + "; ".join(f"{n} {shape_text(c)}, the model {shape_text(m)}"
                                                      for n, m, c in more)
                    del grouped[other]
        causes.append(cause)
    return causes


def _only_rows(m, c) -> bool:
    return len(m) == len(c) and m[0] != c[0] and tuple(m[1:]) == tuple(c[1:])


def _grouped(entries) -> dict:
    out = {}
    for e in entries:
        out.setdefault(owner(e[0]), []).append(e)
    return out


def _common_factor(entries):
    """The one factor (other than 1) by which every differing dim of every entry is scaled, or None."""
    factors = set()
    for _, m, c in entries:
        if len(m) != len(c):
            return None
        for a, b in zip(m, c):
            if a != b:
                if a == 0:
                    return None
                factors.add(Fraction(b, a))
    return next(iter(factors)) if len(factors) == 1 else None


def _module_shape_cause(module, entries, modules, order, positional=False) -> Cause:
    info = modules.get(module)
    kind = info.module_class if info is not None else ""
    keys = [e[0] for e in entries]
    shown = "checkpoint holds " + "; ".join(f"{n} {shape_text(c)}, the model {shape_text(m)}" for n, m, c in entries)
    weight = next((e for e in entries if e[0].endswith(".weight") or e[0] == "weight"), entries[0])
    _, m, c = weight
    only_rows = _only_rows(m, c)
    last = bool(order) and order.get(module, -1) == max(order[p] for p in order if modules[p].params)
    if only_rows and kind == "Embedding":
        if positional or "pos" in module.rsplit(".", 1)[-1].lower():
            return Cause("positions", keys, module,
                         f"a position table of {c[0]} positions for the model's {m[0]}: {shown}",
                         f"build the model for {c[0]} positions (the checkpoint's context), or interpolate the table "
                         f"to {m[0]} when loading")
        return Cause("vocabulary", keys, module,
                     f"the checkpoint's vocabulary has {c[0]} tokens, the model's {m[0]}: {shown}",
                     f"build the model with {c[0]} tokens and resize after loading "
                     f"(model.resize_token_embeddings({m[0]}) in transformers), or use the tokenizer the checkpoint "
                     f"was trained with", {"rows": (m[0], c[0])})
    if only_rows and last and len(m) in (1, 2, 4):
        return Cause("classes", keys, module,
                     f"the checkpoint's classifier has {c[0]} classes, the model's {m[0]}: {shown}",
                     f"build the model with num_classes={c[0]} to load it whole, or load it with the head left out "
                     f"(drop {listed(keys)}; strict=False) and train a new head for {m[0]} classes")
    if len(m) == 4 and len(c) == 4 and m[0] == c[0] and m[1] != c[1] and tuple(m[2:]) == tuple(c[2:]) \
            and order.get(module) == min((order[p] for p in order if modules[p].params), default=-1):
        return Cause("stem", keys, module,
                     f"the checkpoint's first layer takes {c[1]} input channels, the model's {m[1]}: {shown}",
                     f"build the model with in_channels={c[1]} and feed {c[1]}-channel input, or adapt the stem "
                     f"when loading (sum the weight over its input channels for one channel)")
    return Cause("shape", keys, module, shown,
                 "build this layer as the checkpoint has it, or leave it out of the load and train it anew")


def positional_embeddings(graph) -> set:
    """The modules of embeddings looked up by positions (indices from ``torch.arange``): position tables."""
    out = set()
    for node in graph.nodes:
        o = node.origin
        if node.op == "Gather" and o is not None and o.module and len(node.inputs) > 1 and node.inputs[1] is not None:
            r = node.inputs[1].range
            if r is not None and "arange" in (getattr(r, "source", "") or ""):
                out.add(o.module)
    return out


def location(graph, module: str) -> dict:
    """Where a finding on ``module`` goes: its node's location when the model has one, else the module's path and
    class and where it was constructed."""
    for node in graph.nodes:
        o = node.origin
        if o is not None and o.kind == "torch" and o.module == module and o.module_class:
            loc = {"node": node.name, "module": module, "class": o.module_class}
            if o.file:
                loc["file"] = o.file
            if o.line:
                loc["line"] = o.line
            return loc
    info = graph.trace.modules.get(module) if graph.trace is not None else None
    loc = {"module": module or None}
    if info is not None:
        loc["class"] = info.module_class
        if getattr(info, "file", None):
            loc["file"] = info.file
        if getattr(info, "line", None):
            loc["line"] = info.line
    return {k: v for k, v in loc.items() if v is not None}


def placed(finding, graph, module: str):
    """``finding`` located on ``module`` (its node, when the model has one), to be judged by PyTorch's
    ``load_state_dict`` (:mod:`convlint.verify.checkpoint`)."""
    finding.location = location(graph, module)
    finding.node = finding.location.get("node")
    finding.evidence.replay_checkpoint = True
    return finding
