"""``.pt2`` files written by ``torch.export.save``: the exported graph read from the archive's JSON, never unpickled.

``torch.export.load`` unpickles the weights (``weights_only=False``), so convlint does not call it: it reads
``models/*.json`` from the zip, where every node has its aten target, its arguments, the module path and source line
it came from, and every tensor its sizes. Weights are never opened: their shapes are in the graph.

Symbolic sizes are stored as sympy expressions over torch's symbols (``s77``); each symbol is named after the user
input and axis where it first appears (``x_d0``), or after the dims given with ``--input-shape`` for that input.
Expressions are read by walking their syntax tree, never evaluated. Aten calls become ONNX-semantics nodes where
convlint has rules for them (convolutions, linear layers, normalizations, pooling, embedding, concatenation,
element-wise arithmetic, matrix products); the others are kept as ``torch.<op>`` with their shapes. Declared module
attributes are not in the archive, so the declared-versus-actual rules have nothing to check here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import zipfile

import sympy

from convlint.core import dims
from convlint.core.errors import InputError, UsageError
from convlint.core.ir import Graph, Node, Origin, Trace, Value
from convlint.frontends.torch_layout import conv_attrs, pool_attrs

DTYPES = {1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32", 8: "float64",
          12: "bool", 13: "bfloat16"}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_TORCH_PATH = (os.sep + "torch" + os.sep,)
MAX_JSON = 1 << 30


def load(path: str, input_shapes=()) -> Graph:
    doc = _read(path)
    try:
        gm = doc["graph_module"]
        return ExportReader(path, gm, input_shapes).build()
    except (KeyError, TypeError, ValueError, AttributeError, SyntaxError) as e:
        if isinstance(e, UsageError):
            raise
        raise InputError(f"{path}: not an exported program convlint can read ({type(e).__name__}: {e})") from None


def _read(path: str) -> dict:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if re.search(r"(^|/)models/[^/]+\.json$", n)]
            if not names:
                raise InputError(f"{path}: a zip archive without models/*.json: not a .pt2 file from "
                                 f"torch.export.save (PyTorch 2.6 or later)")
            info = z.getinfo(sorted(names, key=lambda n: (not n.endswith("/model.json"), n))[0])
            if info.file_size > MAX_JSON:
                raise InputError(f"{path}: its exported graph is {info.file_size} bytes, too large to read")
            return json.loads(z.read(info))
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a .pt2 archive (not a zip file)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: its exported graph is not valid JSON: {e}") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


class ExportReader:
    def __init__(self, path, gm, input_shapes):
        self.path = path
        self.gm = gm
        self.graph = Graph(opset={"": 21}, file=path, propagated=True, trace=Trace())
        self.tensor_meta = gm["graph"]["tensor_values"]
        self.sym_ints = gm["graph"].get("sym_int_values", {})
        self.specs = list(input_shapes)
        self.symbols = {}  # torch symbol name -> convlint dim
        self.values = {}
        self.names = {}

    # -- symbols and shapes -----------------------------------------------------------------------------------------

    def _name_inputs(self, user_inputs):
        positional = [s for s in self.specs if s.name is None]
        named = {s.name: s for s in self.specs if s.name is not None}
        if len(positional) > len(user_inputs):
            raise UsageError(f"{len(positional)} --input-shape values given, but the exported program has "
                             f"{len(user_inputs)} input(s): {', '.join(user_inputs) or 'none'}")
        for name in named:
            if name not in user_inputs:
                raise UsageError(f"--input-shape {name}=...: the exported program has no input {name!r}; its inputs "
                                 f"are: {', '.join(user_inputs) or 'none'}")
        for i, name in enumerate(user_inputs):
            spec = named.get(name) or (positional[i] if i < len(positional) else None)
            sizes = self.tensor_meta.get(name, {}).get("sizes", [])
            if spec is not None:
                self._check_static(name, spec, sizes)
            for axis, size in enumerate(sizes):
                expr = size.get("as_expr")
                if not expr:
                    continue
                m = re.fullmatch(r"Symbol\('(\w+)'.*\)", expr["expr_str"])
                if not m or m.group(1) in self.symbols:
                    continue
                given = spec.dims[axis] if spec is not None and axis < len(spec.dims) else None
                self.symbols[m.group(1)] = given if given is not None else dims.symbol(f"{name}_d{axis}")

    @staticmethod
    def _check_static(name, spec, sizes):
        """The exported graph holds its sizes already: dims given for an input can name or pin the axes export left
        dynamic, but cannot change its rank or the sizes export fixed."""
        shown = ",".join(str(d) for d in spec.dims)
        if len(spec.dims) != len(sizes):
            raise UsageError(f"--input-shape {shown}: input {name!r} of the exported program has {len(sizes)} dims, "
                             f"not {len(spec.dims)}")
        for axis, (given, size) in enumerate(zip(spec.dims, sizes)):
            if "as_int" in size and given is not None and given != int(size["as_int"]):
                raise UsageError(f"--input-shape {shown}: axis {axis} of input {name!r} is {size['as_int']} in the "
                                 f"exported program (torch.export fixed it); only the axes it left dynamic can be "
                                 f"given other sizes or names; export again to change it")

    def shape(self, name):
        meta = self.tensor_meta.get(name)
        if meta is None:
            return None, None
        return tuple(self.size(s) for s in meta.get("sizes", ())), DTYPES.get(meta.get("dtype"))

    def size(self, s):
        if "as_int" in s:
            return int(s["as_int"])
        expr = s.get("as_expr")
        if expr is None:
            return None
        try:
            return dims.norm(_Expr(self.symbols).read(expr["expr_str"]))
        except (ValueError, SyntaxError, TypeError, KeyError):
            return None

    # -- graph ------------------------------------------------------------------------------------------------------

    def build(self) -> Graph:
        sig = self.gm["signature"]
        params = {}
        user_inputs = []
        for spec in sig["input_specs"]:
            kind, body = next(iter(spec.items()))
            arg = body["arg"]
            name = arg.get("name") or arg.get("as_tensor", {}).get("name")
            if kind == "user_input":
                user_inputs.append(name)
            elif name:
                params[name] = body.get("parameter_name") or body.get("buffer_name") or body.get("tensor_constant_name") \
                    or name
        self._name_inputs(user_inputs)
        for name in user_inputs:
            shape, dtype = self.shape(name)
            v = self.value(name, shape, dtype)
            self.graph.inputs.append(v)
        for name, qualified in params.items():
            shape, dtype = self.shape(name)
            v = Value(qualified, shape, dtype, is_param=True)
            self.values[name] = v
            self.graph.values[qualified] = v
        for n in self.gm["graph"]["nodes"]:
            self.graph.nodes.append(self.node(n))
        for out in self.gm["graph"].get("outputs", ()):
            t = out.get("as_tensor")
            if t and t["name"] in self.values:
                self.graph.outputs.append(self.values[t["name"]])
        return self.graph

    def value(self, name, shape=None, dtype=None) -> Value:
        v = self.values.get(name)
        if v is None:
            if shape is None:
                shape, dtype = self.shape(name)
            v = Value(name, shape, dtype)
            self.values[name] = v
            self.graph.values[name] = v
        return v

    def arg(self, a):
        """A node argument as convlint reads it: Values for tensors, Python values (dims for sizes) otherwise."""
        if "as_tensor" in a:
            return self.value(a["as_tensor"]["name"])
        if "as_tensors" in a:
            return [self.value(t["name"]) for t in a["as_tensors"]]
        if "as_optional_tensor" in a:
            t = a["as_optional_tensor"]
            return self.value(t["as_tensor"]["name"]) if "as_tensor" in t else None
        if "as_none" in a:
            return None
        for key in ("as_int", "as_float", "as_bool", "as_string", "as_ints", "as_floats", "as_bools"):
            if key in a:
                return a[key]
        if "as_sym_int" in a:
            return self._sym(a["as_sym_int"])
        if "as_sym_ints" in a:
            return [self._sym(s) for s in a["as_sym_ints"]]
        return None

    def _sym(self, s):
        if "as_int" in s:
            return s["as_int"]
        meta = self.sym_ints.get(s.get("as_name"))
        return self.size(meta) if meta else None

    def node(self, n) -> Node:
        target = n["target"]
        op_name = target.split(".")[-2] if target.count(".") >= 2 else target
        args = {a["name"]: self.arg(a["arg"]) for a in n.get("inputs", ())}
        outputs = []
        for o in n.get("outputs", ()):
            names = [o["as_tensor"]["name"]] if "as_tensor" in o else [t["name"] for t in o.get("as_tensors", ())]
            outputs.extend(self.value(name) for name in names)
        meta = n.get("metadata", {})
        module, cls = _module_of(meta.get("nn_module_stack", ""))
        file, line = _frame_of(meta.get("stack_trace", ""))
        origin = Origin("torch", file=file or self.path, line=line, module=module or None, module_class=cls)
        op, attrs, inputs = _onnx(op_name, args)
        if op is None:
            op, attrs = f"torch.{op_name}", {}
            inputs = [v for v in _flat(args.values()) if isinstance(v, Value)]
        base = module if module and op in _LAYER_OPS else n.get("name") or op_name
        self.names[base] = self.names.get(base, 0) + 1
        name = base if self.names[base] == 1 else f"{base}#{self.names[base]}"
        return Node(op, name, inputs, outputs, attrs, origin=origin)


_LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "LayerNormalization",
              "GroupNormalization", "Gather", "MaxPool", "AveragePool")


def _flat(values):
    for v in values:
        if isinstance(v, list):
            yield from v
        else:
            yield v


def _onnx(op, a):
    """``(op, attrs, inputs)`` with ONNX semantics for an aten call, or ``(None, None, None)``."""
    x = a.get("input", a.get("self"))
    if op in ("conv1d", "conv2d", "conv3d", "convolution", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"):
        w = a.get("weight")
        if not isinstance(w, Value) or w.shape is None or len(w.shape) < 3:
            return None, None, None
        transposed = op.startswith("conv_transpose") or bool(a.get("transposed"))
        kernel = list(w.shape[2:])
        if not all(type(k) is int for k in kernel) and a.get("padding") == "same":
            return None, None, None
        attrs = conv_attrs(a.get("groups", 1), a.get("stride", 1), a.get("padding", 0), a.get("dilation", 1), kernel,
                           a.get("output_padding", 0) if transposed else None)
        return ("ConvTranspose" if transposed else "Conv"), attrs, [x, w, a.get("bias")]
    if op == "linear":
        w = a.get("weight")
        if x is not None and x.shape is not None and len(x.shape) != 2 and isinstance(w, Value) and w.shape \
                and len(w.shape) == 2:
            return "MatMul", {}, [x, Value(f"{w.name}.T", (w.shape[1], w.shape[0]), w.dtype, is_param=True)]
        return "Gemm", {"transB": 1}, [x, w, a.get("bias")]
    if op in ("batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional",
              "native_batch_norm"):
        return "BatchNormalization", {}, [x, a.get("weight"), a.get("bias"), a.get("running_mean"),
                                          a.get("running_var")]
    if op in ("layer_norm", "native_layer_norm"):
        shape = a.get("normalized_shape") or []
        return "LayerNormalization", {"axis": -len(shape)}, [x, a.get("weight"), a.get("bias")]
    if op in ("group_norm", "native_group_norm"):
        return "GroupNormalization", {"num_groups": a.get("num_groups", a.get("group"))}, \
            [x, a.get("weight"), a.get("bias")]
    if op == "embedding":
        return "Gather", {"axis": 0}, [a.get("weight"), a.get("indices")]
    if op in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
              "max_pool2d_with_indices"):
        k = a.get("kernel_size")
        n = len(k) if isinstance(k, list) else int(op[-2]) if op[-2].isdigit() else 2
        attrs = pool_attrs(n, k, a.get("stride"), a.get("padding", 0), a.get("ceil_mode", False),
                           a.get("dilation", 1) if op.startswith("max") else None)
        return ("MaxPool" if op.startswith("max") else "AveragePool"), attrs, [x]
    if op in ("cat", "concat"):
        return "Concat", {"axis": int(a.get("dim", 0))}, list(a.get("tensors") or [])
    if op in ("add", "sub", "mul", "div"):
        other = a.get("other")
        if not isinstance(x, Value) or not isinstance(other, Value):
            return None, None, None
        return op.capitalize(), {}, [x, other]
    if op in ("matmul", "mm", "bmm"):
        return "MatMul", {}, [x, a.get("other", a.get("mat2"))]
    return None, None, None


def _module_of(stack: str):
    """(module path, class name) of the innermost module in an ``nn_module_stack`` string."""
    if not stack:
        return None, None
    last = stack.split(";")[-1].split(",")
    if len(last) < 3:
        return None, None
    return last[1] or None, last[-1].rsplit(".", 1)[-1]


def _frame_of(trace: str):
    """(file, line) of the innermost frame of a stack trace outside torch."""
    found = None
    for file, line in _FRAME.findall(trace or ""):
        if not any(p in file for p in _TORCH_PATH):
            found = (file, int(line))
    return found or (None, None)


class _Expr:
    """Reads a size stored as a sympy ``srepr`` (``Add(Symbol('s53', ...), Integer(-2))``) by walking its syntax tree:
    only the operations sizes use are known, and nothing is evaluated."""

    def __init__(self, symbols: dict):
        self.symbols = symbols

    def read(self, text: str):
        return self.walk(ast.parse(text, mode="eval").body)

    def walk(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return dims.mul(-1, self.walk(node.operand))
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError("an unknown expression")
        f, args = node.func.id, node.args
        if f == "Symbol":
            name = args[0].value
            if name not in self.symbols:
                raise KeyError(name)
            return self.symbols[name]
        if f == "Integer":
            return int(args[0].value) if isinstance(args[0], ast.Constant) else -int(args[0].operand.value)
        values = [self.walk(a) for a in args]
        if any(v is None for v in values):
            return None
        if f == "Add":
            out = 0
            for v in values:
                out = dims.add(out, v)
            return out
        if f == "Mul":
            out = 1
            for v in values:
                out = dims.mul(out, v)
            return out
        if f in ("Pow", "PowByNatural") and type(values[1]) is int and values[1] >= 0:
            return dims.norm(sympy.Pow(values[0], values[1]))
        if f == "FloorDiv":
            return dims.floordiv(values[0], values[1])
        if f in ("CeilDiv", "IntCeilDiv"):
            return dims.ceildiv(values[0], values[1])
        if f == "CleanDiv":
            return dims.floordiv(values[0], values[1])
        if f in ("Mod", "PythonMod"):
            return dims.norm(sympy.Mod(values[0], values[1]))
        if f == "Max":
            return dims.norm(sympy.Max(*values))
        if f == "Min":
            return dims.norm(sympy.Min(*values))
        raise ValueError(f"an unknown function {f}")
