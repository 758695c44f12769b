"""Reading an ONNX file and checking it: anything that is not a usable ONNX model, a tensor header that lies,
external data that is missing or points outside the model's folder, an attribute of the wrong type, ends in one
:class:`~convlint.core.errors.InputError` line.

The binary format and ONNX's text format (``onnx.parser``) are read; a zip archive, a pickle or other text is
refused by name. External data is checked to stay inside the model's folder and to exist (with ``os.stat``), and
is never opened.
"""

from __future__ import annotations

import functools
import os

from google.protobuf.message import DecodeError

from convlint.core.errors import InputError
from convlint.core.ir import text
from convlint.core.onnx_parts import defs, package, proto
from convlint.core.onnx_tensors import EXTERNAL
from convlint.core.words import first_line

_PROTOBUF_LIMIT = 2**31

_A = proto().AttributeProto


def read_model(path: str):
    """Read and parse ``path``; anything that is not a usable ONNX model raises :class:`InputError` with one line."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise InputError(f"{path}: empty file, not an ONNX model")
        if size >= _PROTOBUF_LIMIT:
            raise InputError(f"{path}: {size} bytes is over protobuf's 2 GB limit; such models keep weights in external data")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    if data[:4] == b"PK\x03\x04":
        raise InputError(f"{path}: is a zip archive (a PyTorch checkpoint or .pt2 file?), not an ONNX model")
    if data[:2] == b"\x80\x02" or data[:1] == b"\x80" and data[1:2] in (b"\x03", b"\x04", b"\x05"):
        raise InputError(f"{path}: is a Python pickle, not an ONNX model; convlint does not unpickle files")
    if _looks_like_text(data):
        return _parse_text(path, data)
    model = proto().ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        _refuse_deep_nesting(path, e)
        raise InputError(f"{path}: not a valid ONNX model: the protobuf does not parse ({first_line(e)})") from None
    _require_model(path, model)
    return model


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _parse_text(path: str, data: bytes):
    """ONNX's text format (``onnx.parser``) is accepted; any other text file is an error."""
    text = data.decode("utf-8", errors="replace")
    if not text.lstrip().startswith("<"):
        raise InputError(f"{path}: is a text file, not an ONNX model")
    try:
        model = package().parser.parse_model(text)
    except Exception as e:  # the parser raises its own error types
        _refuse_deep_nesting(path, e)
        raise InputError(f"{path}: ONNX text format does not parse: {first_line(e)}") from None
    _require_model(path, model)
    return model


def _require_model(path: str, model) -> None:
    if not model.HasField("graph") or (not model.opset_import and model.ir_version == 0):
        raise InputError(f"{path}: not an ONNX model (no graph or opset)")
    if not model.opset_import and model.ir_version >= 3:  # before IR version 3 there were no opset imports
        raise InputError(f"{path}: the model imports no opset, which ONNX requires since IR version 3; "
                         f"is the file truncated?")


def _refuse_deep_nesting(path: str, e: BaseException) -> None:
    if "MaxDepth" in str(e):  # upb's message for protobuf's nesting limit (100 levels)
        raise InputError(f"{path}: the model nests subgraphs deeper than protobuf can parse") from None


def check_tensors(model, path: str) -> None:
    """Every tensor header must be sane, and nothing is opened to check it: dims are not negative, an embedded
    tensor holds at least the data its dims claim, and external data names an existing file, inside the model's
    folder, long enough for the bytes it claims."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    sizes = {}  # location -> size of that external file: resolve and stat each file once, not once per tensor
    for tensor in _all_tensors(model):
        where = f"{path}: tensor {tensor.name!r}" if tensor.name else f"{path}: an unnamed tensor"
        numel = 1
        for d in tensor.dims:
            if d < 0:
                raise InputError(f"{where} has a negative dim {d} in its shape {tuple(tensor.dims)}")
            numel *= d
        if tensor.data_location == EXTERNAL:
            _check_external(tensor, base, where, sizes)
        elif numel > 2 * tensor.ByteSize() + 16:  # no element type takes less than half a byte
            raise InputError(f"{where} claims shape {tuple(tensor.dims)} but holds far less data than that; "
                             f"the file is corrupt or truncated")


def _check_external(tensor, base: str, where: str, sizes: dict) -> None:
    """External data must name an existing file inside the model's folder (``base``); it is stat-ed, never opened."""
    info = {text(e.key) if type(e.key) is bytes else e.key: text(e.value) if type(e.value) is bytes else e.value
            for e in tensor.external_data}
    location = info.get("location", "")
    if not location:
        raise InputError(f"{where} is stored externally but names no file")
    size = sizes.get(location)
    if size is None:
        if os.path.isabs(location) or "\x00" in location:
            raise InputError(f"{where}: external data {location!r} is an absolute path; "
                             f"it must lie in the model's folder")
        target = os.path.realpath(os.path.join(base, location))
        if os.path.commonpath([base, target]) != base:
            raise InputError(f"{where}: external data {location!r} points outside the model's folder; refusing it")
        try:
            st = os.stat(target)
        except OSError:
            raise InputError(f"{where}: external data file {location!r} is missing") from None
        if not os.path.isfile(target):
            raise InputError(f"{where}: external data {location!r} is not a file")
        size = sizes[location] = st.st_size
    try:
        offset, length = int(info.get("offset", 0) or 0), int(info.get("length", 0) or 0)
    except ValueError:
        raise InputError(f"{where}: external data offset or length is not a number") from None
    if offset < 0 or length < 0:
        raise InputError(f"{where}: external data offset or length is negative")
    if offset + length > size:
        raise InputError(f"{where}: external data {location!r} is {size} bytes, shorter than the "
                         f"{offset + length} it claims")


def _all_tensors(model):
    stack = [model.graph]
    while stack:
        g = stack.pop()
        yield from g.initializer
        for node in g.node:
            for a in node.attribute:
                if a.type == _A.TENSOR:
                    yield a.t
                elif a.type == _A.GRAPH:
                    stack.append(a.g)
                elif a.type == _A.GRAPHS:
                    stack.extend(a.graphs)
    for f in model.functions:
        for node in f.node:
            for a in node.attribute:
                if a.type == _A.TENSOR:
                    yield a.t


@functools.lru_cache(maxsize=None)
def _schema_attribute_types(op: str, domain: str, version):
    """name -> AttributeProto type of the op's attributes in the schema for ``version`` (else its latest one);
    None for an op without a schema."""
    schema = None
    for args in ((op, version, domain), (op, domain)):
        try:
            schema = defs().get_schema(*args)
            break
        except Exception:  # no schema for that version, or an unknown op
            continue
    if schema is None:
        return None
    return {name: int(a.type) for name, a in schema.attributes.items()}


@functools.lru_cache(maxsize=1)
def _attribute_types_in_history() -> dict:
    """(domain, op) -> name -> the types any version of the op declares for the attribute."""
    out = {}
    for schema in defs().get_all_schemas_with_history():
        attrs = out.setdefault((schema.domain, schema.name), {})
        for name, a in schema.attributes.items():
            attrs.setdefault(name, set()).add(int(a.type))
    return out


def check_attribute_types(np_, domain: str, opset: dict, path: str, node_name: str) -> None:
    """An attribute whose type is not the one its op's schema declares makes the model malformed (onnxruntime
    refuses it); shape functions and rules can then rely on ``group`` being an int and ``pads`` a list of ints."""
    version = opset.get(domain)
    if not isinstance(version, int) or not 1 <= version < 2**31:
        version = 2**31 - 1
    expected = _schema_attribute_types(np_.op_type, domain, version)
    if expected is None:  # an op no schema knows (a custom domain's): nothing to check against
        return
    for a in np_.attribute:
        want = expected.get(a.name)
        if want is None:  # not an attribute of this version: check it against the op's other versions
            allowed = _attribute_types_in_history().get((domain, np_.op_type), {}).get(a.name, ())
            want = next(iter(allowed)) if allowed and a.type not in allowed else None
        if want is not None and a.type != want:
            raise InputError(f"{path}: node {node_name!r} ({np_.op_type}): attribute {a.name!r} is "
                             f"{_type_name(a.type)}, but {np_.op_type} takes {_type_name(want)}; "
                             f"the model is malformed")


def _type_name(t: int) -> str:
    try:
        return _A.AttributeType.Name(t)
    except ValueError:
        return f"of unknown type {t}"
