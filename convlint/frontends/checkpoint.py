"""Checkpoints read from their headers alone: each tensor's name, dtype and shape, never its data.

The format comes from the file's first bytes, not its name (a ``.json`` file is an index):

- **safetensors**: the JSON header, through the ``safetensors`` package (``safe_open``, ``get_slice``), which also
  checks that the header's offsets cover the file exactly. torch is not imported. Tensors come in the file's order
  (by offset); dtypes get torch's names (``BF16`` is ``bfloat16``, ``F8_E4M3`` is ``float8_e4m3fn``); a code
  torch has no like-shaped dtype for (``F4``, ``F6_E2M3``...) is kept as safetensors spells it.
- **a sharded checkpoint**, through its ``*.index.json`` (``{"metadata": ..., "weight_map": {name: shard}}``, as
  transformers writes ``model.safetensors.index.json`` and ``pytorch_model.bin.index.json``): every shard is checked
  to lie inside the index's folder (not absolute, no ``..``, and its real path, symlinks resolved, inside the
  folder) before any is opened; then each shard's header is read as above. The tensors are those the weight_map
  names, shard by shard in the order the index first names the shards, each shard in its own file order.
- **a torch zip checkpoint** (what ``torch.save`` writes, whatever the suffix: ``.pt``, ``.pth``, ``.bin``,
  ``.ckpt``): ``torch.load(weights_only=True, mmap=True, map_location="meta")``. Only the pickle of names, dtypes
  and shapes is read; every storage becomes a meta storage, so no page of data is touched.
- **a legacy torch file** (``torch.save(..., _use_new_zipfile_serialization=False)``), which cannot be mmapped:
  ``torch.load(weights_only=True, map_location="meta")`` under ``torch.serialization.skip_data()``, which skips
  its storage bytes.

A torch file holds the tensors at its top level or, as training scripts save them, under the first of
:data:`STATE_DICT_KEYS` that holds some (one level deeper too: ``{"model": {"state_dict": ...}}`` gives the key
``model.state_dict``). A dict's known entries are looked into before its own tensors, so ``{"model": {...},
"step": tensor(3)}`` gives ``model``. Entries that are not tensors (an optimizer's state, an epoch) are skipped.

Never done: running code from a pickle (``weights_only=True`` refuses any global outside torch's allow-list, and
the file ends in one line), opening a file outside an index's folder, reading tensor data. Anything wrong raises
:class:`~convlint.core.errors.InputError` with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickletools
import re
import stat
import struct
import warnings
import zipfile
from dataclasses import dataclass
from typing import Optional

from convlint.core.errors import InputError, one_line
from convlint.core.words import first_line

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "module", "ema", "model_ema", "state_dict_ema", "net",
                   "network")

SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "C64": "complex64",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2": "float8_e5m2",
    "F8_E5M2FNUZ": "float8_e5m2fnuz", "F8_E8M0": "float8_e8m0fnu",
}

MAX_INDEX = 64 << 20  # bytes; the largest public indexes (mixtures of experts) hold about 10 MB

_ZIP = b"PK\x03\x04"
_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."  # pickle of torch.serialization.MAGIC_NUMBER
_LEGACY_PICKLES = 5  # magic number, protocol version, sys info, the object, its storage keys
_SAFETENSORS_WORDS = {
    "header too small": "too short to hold a safetensors header",
    "invalid header length": "its header is cut short (truncated?)",
    "header too large": "its header length is implausible (corrupt, or not a safetensors file)",
    "incomplete metadata, file not fully covered": "the header's data offsets do not match the file's size "
                                                   "(truncated or corrupt)",
}


@dataclass(frozen=True)
class TensorHeader:
    """What a checkpoint says of one tensor, without its data."""

    shape: tuple  # ints
    dtype: str  # torch's name: "float32", "float16", "bfloat16", "int64", "bool", ...


@dataclass
class Checkpoint:
    """The tensor headers of a checkpoint file (or of the shards an index names)."""

    path: str  # as given
    tensors: dict  # name -> TensorHeader, in the file's order (shards in index order)
    key: Optional[str] = None  # the nested entry the tensors came from ("state_dict", "model.state_dict"...)
    format: str = ""  # "safetensors", "torch zip", "torch legacy", or one of those followed by " index"
    files: tuple = ()  # every checkpoint file read (the shards, for an index)


def read_checkpoint(path: str) -> Checkpoint:
    """The tensor headers of the checkpoint at ``path``: a safetensors file, an ``*.index.json`` and its shards, or a
    torch zip or legacy file. No tensor data is read and no code from the file runs; anything wrong (missing, empty,
    truncated or corrupt, a pickle that needs code, a shard outside the index's folder) raises
    :class:`~convlint.core.errors.InputError` with a one-line message."""
    path = os.fspath(path)
    fmt = _format(path, path)
    if fmt == "index":
        return _read_index(path)
    tensors, key = _READERS[fmt](path, path)
    return Checkpoint(path, tensors, key, fmt, (path,))


def _fail(message: str) -> InputError:
    return InputError(one_line(message))


# -- what a file is ---------------------------------------------------------------------------------------------

def _format(path: str, shown: str) -> str:
    """``"safetensors"``, ``"torch zip"``, ``"torch legacy"`` or ``"index"``, from the file's first bytes."""
    head, size = _head(path, shown)
    if path.lower().endswith(".json"):
        return "index"
    if _looks_like_safetensors(head, size):
        return "safetensors"
    if head.startswith(_ZIP):
        return "torch zip"
    if head.startswith(b"\x80"):
        return "torch legacy"
    if path.lower().endswith(".safetensors"):
        return "safetensors"  # the package words what is wrong with it
    raise _fail(f"{shown}: not a checkpoint convlint reads (neither safetensors, a torch zip nor a torch pickle)")


def _head(path: str, shown: str, n: int = 16):
    """The first ``n`` bytes and the size of a regular, non-empty, readable file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _fail(f"{shown}: no such file") from None
    except OSError as e:
        raise _fail(f"{shown}: cannot read it ({e.strerror or first_line(e)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(f"{shown}: is a directory, not a checkpoint file{_inside(path)}")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(f"{shown}: not a regular file")
    if st.st_size == 0:
        raise _fail(f"{shown}: empty file, not a checkpoint")
    try:
        with open(path, "rb") as f:
            return f.read(n), st.st_size
    except PermissionError:
        raise _fail(f"{shown}: permission denied") from None
    except OSError as e:
        raise _fail(f"{shown}: cannot read it ({e.strerror or first_line(e)})") from None


def _inside(folder: str) -> str:
    """For a folder given as a checkpoint: name the checkpoint files in it, if any."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith((".index.json", ".safetensors", ".bin", ".pt",
                                                                    ".pth", ".ckpt")))
    except OSError:
        return ""
    return f"; name a file in it ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if names else ""


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """An 8-byte little-endian header length that fits the file, then the header's opening brace."""
    return len(head) > 8 and 0 < struct.unpack("<Q", head[:8])[0] <= size - 8 and head[8:9] == b"{"


# -- safetensors ------------------------------------------------------------------------------------------------

def _read_safetensors(path: str, shown: str):
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:
        raise _fail(f"{shown}: reading safetensors files needs the safetensors package "
                    f"(pip install safetensors)") from None
    try:
        with safe_open(path, framework="numpy") as f:
            names = f.offset_keys() if hasattr(f, "offset_keys") else f.keys()
            return {name: _safetensors_header(f.get_slice(name)) for name in names}, None
    except SafetensorError as e:
        raise _fail(f"{shown}: not a valid safetensors file: {_safetensors_problem(e)}") from None
    except OSError as e:
        raise _fail(f"{shown}: cannot read it ({e.strerror or first_line(e)})") from None


def _safetensors_header(view) -> TensorHeader:
    code = view.get_dtype()
    return TensorHeader(tuple(int(d) for d in view.get_shape()), SAFETENSORS_DTYPES.get(code, code))


def _safetensors_problem(e: Exception) -> str:
    text = first_line(e)
    detail = text.partition("Error while deserializing header: ")[2] or text
    return _SAFETENSORS_WORDS.get(detail, detail)


# -- torch files ------------------------------------------------------------------------------------------------

def _read_torch_zip(path: str, shown: str):
    _check_torch_archive(path, shown)
    torch = _torch(shown)
    return _tensors_in(_torch_load(torch, path, shown, mmap=True), shown)


def _check_torch_archive(path: str, shown: str) -> None:
    """A zip archive torch.save wrote holds ``<folder>/data.pkl``; its central directory alone says so (torch's
    reader words a truncated archive variously, even as an OSError)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _fail(f"{shown}: a zip archive without its central directory (truncated or corrupt)") from None
    if any(re.fullmatch(r"[^/]+/models/[^/]+\.json", n) for n in names):
        raise _fail(f"{shown}: a torch.export archive (.pt2), not a checkpoint")
    if not any(re.fullmatch(r"[^/]+/data\.pkl", n) for n in names):
        raise _fail(f"{shown}: a zip archive without data.pkl, not a checkpoint torch.save wrote")


def _read_torch_legacy(path: str, shown: str):
    torch = _torch(shown)
    skip = getattr(torch.serialization, "skip_data", contextlib.nullcontext)
    with skip():
        return _tensors_in(_torch_load(torch, path, shown, mmap=False), shown)


def _torch(shown: str):
    try:
        import torch
    except ImportError:
        raise _fail(f"{shown}: is a PyTorch checkpoint; reading it needs torch (pip install 'convlint[torch]')") \
            from None
    return torch


def _torch_load(torch, path: str, shown: str, mmap: bool):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, mmap=mmap, map_location="meta")
    except Exception as e:
        if not mmap and _legacy_pickles_cut_short(path):
            raise _fail(f"{shown}: a legacy torch file whose pickles end early (truncated or corrupt)") from None
        raise _fail(f"{shown}: {_torch_problem(e)}") from None


def _torch_problem(e: Exception) -> str:
    text = str(e)
    m = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if m:
        return (f"needs code to load ({m.group(1)}); convlint reads checkpoints with weights_only=True and does not "
                f"run code from them")
    m = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if m:
        return (f"torch.load with weights_only=True cannot read it ({m.group(1).strip()}); convlint does not run "
                f"code from checkpoints")
    m = re.search(r"PytorchStreamReader failed ([^.\n]*)", text)
    if m:
        return f"not a readable torch zip checkpoint ({m.group(1)}; truncated or corrupt)"
    if "Invalid magic number" in text:
        return "a Python pickle, not a file torch.save wrote"
    if isinstance(e, EOFError):
        return "the file ends early (truncated?)"
    said = re.sub(r"\s*\(Could this error message be improved\?.*", "", first_line(e))
    return f"torch.load cannot read it ({type(e).__name__}: {said})"


def _legacy_pickles_cut_short(path: str) -> bool:
    """A legacy torch file (it starts with torch's magic number) whose pickles do not all parse: a truncated file,
    which torch reports as anything, even an unsupported global whose name is cut off. Parsed, never unpickled."""
    try:
        with open(path, "rb") as f:
            if f.read(len(_TORCH_MAGIC)) != _TORCH_MAGIC:
                return False
            for _ in range(_LEGACY_PICKLES - 1):
                for _ in pickletools.genops(f):
                    pass
    except (ValueError, OSError):
        return True
    return False


def _tensors_in(obj, shown: str):
    """The headers of the tensors in a loaded torch object, and the key they came from."""
    found = _find_tensors(obj, 0)
    if found is None:
        raise _fail(f"{shown}: holds {_describe(obj)}, and no dict of tensors (at the top level or under "
                    f"{', '.join(STATE_DICT_KEYS)})")
    key, tensors = found
    return {name: TensorHeader(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))
            for name, t in tensors.items()}, key


def _find_tensors(obj, depth: int):
    """(key, {name: tensor}) of the first known entry holding tensors, up to two levels down, else of ``obj``."""
    import torch

    if not isinstance(obj, dict):
        return None
    if depth < 2:
        for key in STATE_DICT_KEYS:
            found = _find_tensors(obj.get(key), depth + 1)
            if found is not None:
                return (key if found[0] is None else f"{key}.{found[0]}"), found[1]
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    return (None, tensors) if tensors else None


def _describe(obj) -> str:
    import torch

    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    if isinstance(obj, dict):
        keys = [repr(k) for k in list(obj)[:5]]
        listed = f" ({', '.join(keys)}{', ...' if len(obj) > 5 else ''})" if keys else ""
        return f"a dict of {len(obj)} entries{listed}"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return f"a {type(obj).__name__}"


_READERS = {"safetensors": _read_safetensors, "torch zip": _read_torch_zip, "torch legacy": _read_torch_legacy}


# -- sharded checkpoints ----------------------------------------------------------------------------------------

def _read_index(path: str) -> Checkpoint:
    names = {}  # shard -> the names the weight_map puts in it, shards in the order the index first names them
    for name, shard in _weight_map(path).items():
        names.setdefault(shard, []).append(name)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    resolved = {shard: _shard_path(path, folder, shard) for shard in names}  # every shard checked before any read
    tensors, formats, keys, files = {}, [], set(), []
    for shard, wanted in names.items():
        shown = os.path.join(os.path.dirname(path), shard)
        fmt = _shard_format(path, resolved[shard], shown, shard)
        held, key = _READERS[fmt](resolved[shard], shown)
        for name in wanted:
            if name not in held:
                raise _fail(f"{path}: weight_map puts {name!r} in {shard!r}, which does not hold it")
        wanted = set(wanted)
        tensors.update((name, header) for name, header in held.items() if name in wanted)
        formats.append(fmt)
        keys.add(key)
        files.append(shown)
    fmt = " + ".join(dict.fromkeys(formats))
    return Checkpoint(path, tensors, keys.pop() if len(keys) == 1 else None, f"{fmt} index", tuple(files))


def _weight_map(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_INDEX + 1)
    except PermissionError:
        raise _fail(f"{path}: permission denied") from None
    if len(raw) > MAX_INDEX:
        raise _fail(f"{path}: over {MAX_INDEX >> 20} MB, too large for a checkpoint index")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _fail(f"{path}: not a JSON index ({first_line(e)})") from None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        raise _fail(f'{path}: not a checkpoint index (no "weight_map" object of tensor names to shard files)')
    if not weight_map:
        raise _fail(f"{path}: its weight_map names no tensors")
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or "\x00" in shard:
            raise _fail(f"{path}: weight_map gives {name!r} the shard {shard!r}, not a file name")
    return weight_map


def _shard_path(path: str, folder: str, shard: str) -> str:
    """The real path of ``shard``, which must lie inside ``folder`` (the index's, resolved)."""
    if os.path.isabs(shard):
        raise _fail(f"{path}: shard {shard!r} is an absolute path; shards must lie in the index's folder")
    if ".." in re.split(r"[\\/]", shard):
        raise _fail(f"{path}: shard {shard!r} climbs out of the index's folder with '..'; refusing it")
    target = os.path.realpath(os.path.join(folder, shard))
    if os.path.commonpath([folder, target]) != folder:
        raise _fail(f"{path}: shard {shard!r} resolves outside the index's folder (a symlink); refusing it")
    return target


def _shard_format(path: str, real: str, shown: str, shard: str) -> str:
    if not os.path.lexists(real):
        raise _fail(f"{path}: shard {shard!r} is missing")
    fmt = _format(real, shown)
    if fmt == "index":
        raise _fail(f"{path}: shard {shard!r} is itself an index, not a checkpoint file")
    return fmt
