"""The header-only checkpoint reader (``convlint.frontends.checkpoint``) on real files made here: safetensors, a
torch zip, a legacy torch file, shards with an index, nested training dicts; every bad input ends in one line.

Headers are compared with the tensors saved. Some tests run the reader in a subprocess: the memory measurements
(peak RSS while reading a 1 GB checkpoint, against the same process's baseline after its imports), the index
whose shards are FIFOs (opening one would block, so the timeout proves that nothing outside the folder, nor any
shard before all were checked, was opened), and, as root, the unreadable file (read with the capabilities that let
root read anything dropped).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from convlint.core.errors import InputError
from convlint.frontends.checkpoint import STATE_DICT_KEYS, Checkpoint, TensorHeader, read_checkpoint

from conftest import ROOT


def headers(state: dict) -> dict:
    return {name: TensorHeader(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in state.items()}


def refused(path) -> str:
    """The one-line message of the InputError that reading ``path`` raises."""
    with pytest.raises(InputError) as info:
        read_checkpoint(str(path))
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def small_state() -> dict:
    """A real model's state dict (a BatchNorm's int64 ``num_batches_tracked`` included) and tensors of other dtypes."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8, 4))
    state = dict(model.state_dict())
    state.update({"half": torch.zeros(2, 3, dtype=torch.float16), "brain": torch.zeros(5, dtype=torch.bfloat16),
                  "ids": torch.arange(7), "mask": torch.ones(2, 2, dtype=torch.bool),
                  "f8": torch.zeros(4, dtype=torch.float8_e4m3fn), "scalar": torch.tensor(1.5)})
    return state


def safetensors_order(path) -> list:
    """The tensors of a safetensors file by data offset, from its header (the file's order)."""
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    header.pop("__metadata__", None)
    return sorted(header, key=lambda name: header[name]["data_offsets"][0])


def write_safetensors_header(path, header: dict, data_bytes: int):
    """A safetensors file with ``header`` and ``data_bytes`` of data, written as a hole (a sparse file)."""
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + data_bytes)


# --- formats ---------------------------------------------------------------------------------------------------

def test_safetensors(tmp_path):
    state = small_state()
    path = str(tmp_path / "model.safetensors")
    save_file(state, path)
    ck = read_checkpoint(path)
    assert ck == Checkpoint(path, headers(state), None, "safetensors", (path,))
    assert list(ck.tensors) == safetensors_order(path)
    assert ck.tensors["brain"].dtype == "bfloat16" and ck.tensors["f8"].dtype == "float8_e4m3fn"
    assert ck.tensors["1.num_batches_tracked"] == TensorHeader((), "int64")


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt", ".weights"])
def test_torch_zip(tmp_path, suffix):
    state = small_state()
    path = str(tmp_path / f"model{suffix}")
    torch.save(state, path)
    ck = read_checkpoint(path)
    assert ck == Checkpoint(path, headers(state), None, "torch zip", (path,))
    assert list(ck.tensors) == list(state)


def test_torch_legacy(tmp_path):
    state = small_state()
    del state["f8"]  # torch cannot load a float8 tensor from a legacy file, even with weights_only=False
    path = str(tmp_path / "old.pt")
    torch.save(state, path, _use_new_zipfile_serialization=False)
    ck = read_checkpoint(path)
    assert ck == Checkpoint(path, headers(state), None, "torch legacy", (path,))
    assert list(ck.tensors) == list(state)


def test_parameters_and_views_are_read_as_tensors(tmp_path):
    base = torch.zeros(6, 4)
    state = {"p": nn.Parameter(torch.zeros(3, 2)), "view": base[2:, 1:], "t": base.t()}
    path = tmp_path / "views.pt"
    torch.save(state, path)
    assert read_checkpoint(str(path)).tensors == {"p": TensorHeader((3, 2), "float32"),
                                                  "view": TensorHeader((4, 3), "float32"),
                                                  "t": TensorHeader((4, 6), "float32")}


@pytest.mark.parametrize("key", STATE_DICT_KEYS)
def test_nested_under_a_known_key(tmp_path, key):
    state = small_state()
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9).state_dict()
    path = tmp_path / "train.ckpt"
    torch.save({"epoch": 3, "optimizer": optimizer, key: state, "config": {"lr": 0.1}}, path)
    ck = read_checkpoint(str(path))
    assert (ck.key, ck.tensors, ck.format) == (key, headers(state), "torch zip")


@pytest.mark.parametrize("saved, key, chosen", [
    ({"model": {"state_dict": "S", "arch": "resnet"}}, "model.state_dict", "S"),
    ({"network": {"ema": "S"}, "epoch": 9}, "network.ema", "S"),
    ({"state_dict": "S", "state_dict_ema": "O"}, "state_dict", "S"),
    ({"ema": "S", "model": "O"}, "model", "O"),
    ({"model": "S", "step": torch.tensor(100)}, "model", "S"),
    ({"model": {"state_dict": "S"}, "ema": "O"}, "model.state_dict", "S"),
    ({"model": {"net": "S", "step": torch.tensor(1)}}, "model.net", "S"),
], ids=["model.state_dict", "network.ema", "state_dict-before-state_dict_ema", "model-before-ema",
        "key-before-top-level", "first-key-then-deeper", "deeper-key-before-its-own-tensors"])
def test_which_nested_dict_is_chosen(tmp_path, saved, key, chosen):
    tensors = {"S": {"w": torch.zeros(2, 3), "n": torch.tensor(0)}, "O": {"other": torch.zeros(1)}}

    def put(d):
        return {k: tensors.get(v, v) if isinstance(v, str) else put(v) if isinstance(v, dict) else v
                for k, v in d.items()}

    path = tmp_path / "nested.pt"
    torch.save(put(saved), path)
    ck = read_checkpoint(str(path))
    assert (ck.key, ck.tensors) == (key, headers(tensors[chosen]))


def test_entries_that_are_not_tensors_are_skipped(tmp_path):
    path = tmp_path / "mixed.pt"
    torch.save({"model": {"a.weight": torch.zeros(2, 2), "config": {"depth": 2}, "name": "net", "sizes": [1, 2],
                          "a.bias": torch.zeros(2, dtype=torch.float16), 7: torch.zeros(1)}}, path)
    ck = read_checkpoint(str(path))
    assert ck.key == "model"
    assert ck.tensors == {"a.weight": TensorHeader((2, 2), "float32"), "a.bias": TensorHeader((2,), "float16")}


def test_tensors_deeper_than_two_known_levels_are_not_looked_for(tmp_path):
    path = tmp_path / "deep.pt"
    torch.save({"model": {"model": {"state_dict": {"w": torch.zeros(1)}}}}, path)
    assert refused(path) == (f"{path}: holds a dict of 1 entries ('model'), and no dict of tensors (at the top level "
                             f"or under {', '.join(STATE_DICT_KEYS)})")


@pytest.mark.parametrize("saved, holds", [
    ({"epoch": 3, "optimizer": {"state": {}}, "lr": 0.1}, "a dict of 3 entries ('epoch', 'optimizer', 'lr')"),
    ({}, "a dict of 0 entries"),
    ([torch.zeros(2), torch.zeros(3)], "a list of 2 items"),
    (torch.zeros(2, 3), "a single tensor of shape (2, 3)"),
    (42, "a int"),
], ids=["training-state-without-a-model", "empty-dict", "list", "tensor", "int"])
def test_no_dict_of_tensors_anywhere(tmp_path, saved, holds):
    path = tmp_path / "other.pt"
    torch.save(saved, path)
    assert refused(path) == (f"{path}: holds {holds}, and no dict of tensors (at the top level or under "
                             f"{', '.join(STATE_DICT_KEYS)})")


# --- shards ----------------------------------------------------------------------------------------------------

def save_shards(folder, state: dict, fmt: str, names=None) -> tuple:
    """``state`` in two shards (the first half, the rest) with an index as transformers writes it (weight_map sorted
    by name); returns (index path, shard paths)."""
    keys = list(state)
    halves = [keys[:len(keys) // 2], keys[len(keys) // 2:]]
    suffix, stem = (".safetensors", "model") if fmt == "safetensors" else (".bin", "pytorch_model")
    shards, weight_map = [], {}
    for i, part in enumerate(halves):
        shard = (names or [f"{stem}-0000{j + 1}-of-00002{suffix}" for j in range(2)])[i]
        path = os.path.join(str(folder), shard)
        if fmt == "safetensors":
            save_file({k: state[k] for k in part}, path)
        else:
            torch.save({k: state[k] for k in part}, path)
        shards.append(path)
        weight_map.update((k, shard) for k in part)
    index = os.path.join(str(folder), f"{stem}{suffix}.index.json")
    with open(index, "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": dict(sorted(weight_map.items()))}, f)
    return index, shards


def test_sharded_safetensors(tmp_path):
    state = small_state()
    index, shards = save_shards(tmp_path, state, "safetensors")
    ck = read_checkpoint(index)
    assert (ck.path, ck.key, ck.format, ck.files) == (index, None, "safetensors index", tuple(shards))
    assert ck.tensors == headers(state)
    with open(index) as f:
        first = next(iter(json.load(f)["weight_map"].values()))
    in_order = shards if shards[0].endswith(first) else shards[::-1]  # shards in the order the index names them
    assert list(ck.tensors) == [name for shard in in_order for name in safetensors_order(shard)]


def test_sharded_bin(tmp_path):
    state = small_state()
    index, shards = save_shards(tmp_path, state, "bin")
    ck = read_checkpoint(index)
    assert (ck.key, ck.format, set(ck.files)) == (None, "torch zip index", set(shards))
    assert ck.tensors == headers(state)


def test_shards_in_a_subfolder(tmp_path):
    (tmp_path / "shards").mkdir()
    state = {"a": torch.zeros(1), "b": torch.zeros(2)}
    index, _ = save_shards(tmp_path, state, "safetensors", names=["shards/one.safetensors", "shards/two.safetensors"])
    assert read_checkpoint(index).tensors == headers(state)


def test_a_shard_symlinked_inside_the_folder_is_fine(tmp_path):
    state = {"a": torch.zeros(1), "b": torch.zeros(2)}
    index, shards = save_shards(tmp_path, state, "safetensors")
    os.rename(shards[1], tmp_path / "real.safetensors")
    os.symlink("real.safetensors", shards[1])
    assert read_checkpoint(index).tensors == headers(state)


def write_index(folder, weight_map) -> str:
    index = os.path.join(str(folder), "model.safetensors.index.json")
    with open(index, "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return index


def test_missing_shard(tmp_path):
    index, shards = save_shards(tmp_path, {"a": torch.zeros(1), "b": torch.zeros(2)}, "safetensors")
    os.remove(shards[1])
    assert refused(index) == f"{index}: shard 'model-00002-of-00002.safetensors' is missing"


def test_name_the_shard_does_not_hold(tmp_path):
    save_file({"a": torch.zeros(1)}, str(tmp_path / "one.safetensors"))
    index = write_index(tmp_path, {"a": "one.safetensors", "b": "one.safetensors"})
    assert refused(index) == f"{index}: weight_map puts 'b' in 'one.safetensors', which does not hold it"


def test_a_shard_that_is_corrupt_is_named(tmp_path):
    index, shards = save_shards(tmp_path, {"a": torch.zeros(1), "b": torch.zeros(2)}, "safetensors")
    with open(shards[1], "r+b") as f:
        f.truncate(os.path.getsize(shards[1]) - 2)
    assert refused(index) == (f"{os.path.join(str(tmp_path), 'model-00002-of-00002.safetensors')}: not a valid "
                              f"safetensors file: the header's data offsets do not match the file's size (truncated "
                              f"or corrupt)")


@pytest.mark.parametrize("doc, message", [
    (b"{not json", "not a JSON index (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    (b'{"metadata": {}}', 'not a checkpoint index (no "weight_map" object of tensor names to shard files)'),
    (b'[1, 2]', 'not a checkpoint index (no "weight_map" object of tensor names to shard files)'),
    (b'{"weight_map": {}}', "its weight_map names no tensors"),
    (b'{"weight_map": {"a": 3}}', "weight_map gives 'a' the shard 3, not a file name"),
    (b'{"weight_map": {"a": "x\\u0000.bin"}}', "weight_map gives 'a' the shard 'x\\x00.bin', not a file name"),
    (b"[" * 100_000, "not a JSON index (maximum recursion depth exceeded while decoding a JSON array from a unicode "
                     "string)"),
    (b'{"weight_map": {"a": "model.safetensors.index.json"}}',
     "shard 'model.safetensors.index.json' is itself an index, not a checkpoint file"),
], ids=["not-json", "no-weight-map", "a-list", "empty", "shard-not-a-string", "shard-with-a-nul", "nested-deeply",
        "index-names-itself"])
def test_bad_index(tmp_path, doc, message):
    index = tmp_path / "model.safetensors.index.json"
    index.write_bytes(doc)
    assert refused(index) == f"{index}: {message}"


def refuse_in_a_subprocess(index: str) -> str:
    """Read ``index`` in a subprocess that would block on opening a FIFO; its one-line InputError message."""
    code = ("import sys\nfrom convlint.core.errors import InputError\nfrom convlint.frontends.checkpoint import "
            "read_checkpoint\ntry:\n    read_checkpoint(sys.argv[1])\nexcept InputError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code, index], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.rstrip("\n")


@pytest.mark.parametrize("shard, reason", [
    ("{outside}", "is an absolute path; shards must lie in the index's folder"),
    ("../outside.safetensors", "climbs out of the index's folder with '..'; refusing it"),
    ("sub/../../outside.safetensors", "climbs out of the index's folder with '..'; refusing it"),
    ("link.safetensors", "resolves outside the index's folder (a symlink); refusing it"),
    ("linked_dir/x.safetensors", "resolves outside the index's folder (a symlink); refusing it"),
], ids=["absolute", "dotdot", "dotdot-inside-a-path", "symlinked-file", "symlinked-folder"])
def test_shard_outside_the_folder_is_refused_before_anything_is_opened(tmp_path, shard, reason):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    outside = tmp_path / "outside.safetensors"
    os.mkfifo(outside)
    os.mkfifo(folder / "inside.safetensors")
    os.symlink(outside, folder / "link.safetensors")
    (tmp_path / "elsewhere").mkdir()
    os.mkfifo(tmp_path / "elsewhere" / "x.safetensors")
    os.symlink(tmp_path / "elsewhere", folder / "linked_dir")
    shard = shard.format(outside=outside)
    index = write_index(folder, {"a": "inside.safetensors", "b": shard})
    assert refuse_in_a_subprocess(index) == f"{index}: shard {shard!r} {reason}"


# --- bad input -------------------------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    assert refused(tmp_path / "none.safetensors") == f"{tmp_path / 'none.safetensors'}: no such file"


def test_empty_file(tmp_path):
    for name in ("empty.safetensors", "empty.pt", "empty.index.json"):
        (tmp_path / name).write_bytes(b"")
        assert refused(tmp_path / name) == f"{tmp_path / name}: empty file, not a checkpoint"


def test_directory(tmp_path):
    assert refused(tmp_path) == f"{tmp_path}: is a directory, not a checkpoint file"
    index, _ = save_shards(tmp_path, {"a": torch.zeros(1), "b": torch.zeros(2)}, "safetensors")
    assert refused(tmp_path) == (f"{tmp_path}: is a directory, not a checkpoint file; name a file in it "
                                 f"(model-00001-of-00002.safetensors, model-00002-of-00002.safetensors, "
                                 f"model.safetensors.index.json)")


def test_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe.pt")
    assert refused(tmp_path / "pipe.pt") == f"{tmp_path / 'pipe.pt'}: not a regular file"


@pytest.mark.parametrize("content", [b"name,shape\nconv,3\n", bytes(range(7, 200))], ids=["text", "bytes"])
def test_not_a_checkpoint(tmp_path, content):
    (tmp_path / "model.pt").write_bytes(content)
    assert refused(tmp_path / "model.pt") == (f"{tmp_path / 'model.pt'}: not a checkpoint convlint reads (neither "
                                              f"safetensors, a torch zip nor a torch pickle)")


@pytest.mark.parametrize("entries, problem", [
    ({"notes/readme.txt": b"hi"}, "a zip archive without data.pkl, not a checkpoint torch.save wrote"),
    ({"m/models/model.json": b"{}", "m/data/weights/weight_0": b""}, "a torch.export archive (.pt2), not a checkpoint"),
    ({"archive/data.pkl": b"weights"}, 'torch.load cannot read it (RuntimeError: Expected hasRecord("version") to be '
                                       'true, but got false.)'),
], ids=["any-zip", "pt2", "data.pkl-without-version"])
def test_zip_archives_that_are_not_checkpoints(tmp_path, entries, problem):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    assert refused(path) == f"{path}: {problem}"


def test_a_pickle_torch_did_not_write(tmp_path):
    path = tmp_path / "state.pkl"
    path.write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    assert refused(path) == f"{path}: a Python pickle, not a file torch.save wrote"


@pytest.mark.parametrize("cut, problem", [
    (5, "too short to hold a safetensors header"),
    (20, "its header is cut short (truncated?)"),
    (-1, "the header's data offsets do not match the file's size (truncated or corrupt)"),
], ids=["in-the-length", "in-the-header", "in-the-data"])
def test_truncated_safetensors(tmp_path, cut, problem):
    path = tmp_path / "model.safetensors"
    save_file(small_state(), str(path))
    path.write_bytes(path.read_bytes()[:cut])
    assert refused(path) == f"{path}: not a valid safetensors file: {problem}"


@pytest.mark.parametrize("header, problem", [
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]', "invalid JSON in header: EOF while parsing an "
                                                                        "object at line 1 column 59"),
    (b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', "invalid shape, data type, or offset for "
                                                                         "tensor"),
    (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', "invalid offset for tensor `w`"),
    (b'{"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}', "invalid JSON in header: unknown variant "
                                                                        "`Q9`"),
], ids=["json-cut", "shape-against-offsets", "offsets-not-from-zero", "unknown-dtype"])
def test_corrupt_safetensors_header(tmp_path, header, problem):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    assert refused(path).startswith(f"{path}: not a valid safetensors file: {problem}")


@pytest.mark.parametrize("claimed", [16, 10**6], ids=["past-the-end-by-8", "a-megabyte"])
def test_safetensors_offsets_that_lie_about_the_size(tmp_path, claimed):
    path = str(tmp_path / "liar.safetensors")
    write_safetensors_header(path, {"w": {"dtype": "F32", "shape": [claimed // 4], "data_offsets": [0, claimed]}}, 8)
    assert refused(path) == (f"{path}: not a valid safetensors file: the header's data offsets do not match the "
                             f"file's size (truncated or corrupt)")


@pytest.mark.parametrize("length, problem", [
    (1000, "its header is cut short (truncated?)"),
    (2**40, "its header length is implausible (corrupt, or not a safetensors file)"),
], ids=["past-the-end", "a-terabyte"])
def test_safetensors_header_length_larger_than_the_file(tmp_path, length, problem):
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b'{"w": {}}')
    assert refused(path) == f"{path}: not a valid safetensors file: {problem}"


@pytest.mark.parametrize("cut", [10, 0.5, -30], ids=["first-bytes", "middle", "central-directory"])
def test_truncated_torch_zip(tmp_path, cut):
    path = tmp_path / "model.pt"
    torch.save(small_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut) if isinstance(cut, float) else cut])
    assert refused(path) == f"{path}: a zip archive without its central directory (truncated or corrupt)"


@pytest.mark.parametrize("cut", [20, 160, 300, 430], ids=lambda c: f"first-{c}-bytes")
def test_truncated_torch_legacy(tmp_path, cut):
    path = tmp_path / "old.pt"
    torch.save({"w": torch.zeros(2, dtype=torch.bfloat16), "b": torch.zeros(3, dtype=torch.bool)}, path,
               _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:cut])
    assert refused(path) == f"{path}: a legacy torch file whose pickles end early (truncated or corrupt)"


def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.safetensors"
    save_file({"w": torch.zeros(1)}, str(path))
    path.chmod(0)
    expected = f"{path}: permission denied"
    if os.geteuid() != 0:
        assert refused(path) == expected
        return
    if shutil.which("setpriv") is None:
        pytest.skip("root reads any file; setpriv is needed to drop that capability")
    code = ("import sys\nfrom convlint.core.errors import InputError\nfrom convlint.frontends.checkpoint import "
            "read_checkpoint\ntry:\n    read_checkpoint(sys.argv[1])\nexcept InputError as e:\n    print(e)\n")
    done = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-c", code,
                           str(path)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert (done.stdout, done.stderr) == (expected + "\n", "")


# --- pickles that need code ------------------------------------------------------------------------------------

class _Booby:
    """Unpickling this creates the file named ``path``: proof that a pickle was (or was not) run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


NEEDS_CODE = "needs code to load (io.open); convlint reads checkpoints with weights_only=True and does not run code " \
             "from them"


@pytest.mark.parametrize("how", ["torch zip", "torch zip, nested", "torch legacy", "pickle protocol 2"])
def test_a_pickle_that_needs_code_is_never_run(tmp_path, how):
    witness = tmp_path / "unpickled"
    booby = _Booby(str(witness))
    path = tmp_path / "model.pt"
    if how == "torch zip":
        torch.save({"w": torch.zeros(1), "x": booby}, path)
    elif how == "torch zip, nested":
        torch.save({"state_dict": {"w": torch.zeros(1)}, "hparams": {"x": booby}}, path)
    elif how == "torch legacy":
        torch.save({"w": torch.zeros(1), "x": booby}, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps({"x": booby}, protocol=2))
    assert refused(path) == f"{path}: {NEEDS_CODE}"
    assert not witness.exists()


def test_a_pickle_torch_cannot_parse_is_never_run(tmp_path):
    witness = tmp_path / "unpickled"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(_Booby(str(witness)), protocol=5))
    assert refused(path) == (f"{path}: torch.load with weights_only=True cannot read it (Unsupported operand 149); "
                             f"convlint does not run code from checkpoints")
    assert not witness.exists()


def test_a_shard_that_needs_code_is_never_run(tmp_path):
    witness = tmp_path / "unpickled"
    torch.save({"a": torch.zeros(1)}, tmp_path / "one.bin")
    torch.save({"b": torch.zeros(1), "x": _Booby(str(witness))}, tmp_path / "two.bin")
    index = write_index(tmp_path, {"a": "one.bin", "b": "two.bin"})
    assert refused(index) == f"{os.path.join(str(tmp_path), 'two.bin')}: {NEEDS_CODE}"
    assert not witness.exists()


# --- memory ----------------------------------------------------------------------------------------------------

MEASURE = """
import json, resource, sys
import numpy, safetensors, torch
from convlint.frontends.checkpoint import read_checkpoint

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

base = peak_mb()
ck = read_checkpoint(sys.argv[1])
after = peak_mb()
if sys.argv[2] == "control":
    torch.load(sys.argv[1], weights_only=True)
print(json.dumps({"base": base, "after": after, "control": peak_mb(), "format": ck.format,
                  "tensors": {k: list(h.shape) for k, h in ck.tensors.items()}}))
"""


def measure(code: str, *args) -> dict:
    """Run ``code`` in a fresh Python and return what it prints (JSON). On Linux ``ru_maxrss`` survives exec, so a
    direct child of pytest would start at pytest's size: a small shell forks the measured process instead."""
    done = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", code, *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_reading_a_1gb_checkpoint_takes_no_memory(tmp_path):
    # torch.save under skip_data writes the real zip with the 1 GB of storage left as holes (a sparse file, made in
    # milliseconds); torch.load reads it as zeros. The control (a plain torch.load in the same process, after the
    # reader) shows that the measurement sees a read of the data.
    zipped = tmp_path / "big.pt"
    with torch.serialization.skip_data():
        torch.save({f"layers.{i}.weight": torch.empty(16384, 4096) for i in range(4)}, zipped)
    assert os.path.getsize(zipped) > 2**30
    got = measure(MEASURE, str(zipped), "control")
    print(f"torch zip: import baseline {got['base']:.0f} MB, after reading {got['after']:.0f} MB, "
          f"after a full torch.load {got['control']:.0f} MB")
    assert got["format"] == "torch zip"
    assert got["tensors"] == {f"layers.{i}.weight": [16384, 4096] for i in range(4)}
    assert got["after"] - got["base"] < 32
    assert got["control"] - got["after"] > 900


def test_reading_a_legacy_file_skips_its_data(tmp_path):
    # A legacy file cannot be written sparse (skip_data refuses it), so this one is 256 MB, written for real.
    path = tmp_path / "old.pt"
    torch.save({"w": torch.empty(16384, 4096)}, path, _use_new_zipfile_serialization=False)
    got = measure(MEASURE, str(path), "control")
    print(f"torch legacy (256 MB): import baseline {got['base']:.0f} MB, after reading {got['after']:.0f} MB, "
          f"after a full torch.load {got['control']:.0f} MB")
    assert (got["format"], got["tensors"]) == ("torch legacy", {"w": [16384, 4096]})
    assert got["after"] - got["base"] < 16
    assert got["control"] - got["after"] > 200


def test_reading_a_1gb_safetensors_file_takes_no_memory_and_no_torch(tmp_path):
    path = str(tmp_path / "big.safetensors")
    step = 16384 * 4096 * 2
    write_safetensors_header(path, {f"layers.{i}.weight": {"dtype": "BF16", "shape": [16384, 4096],
                                                           "data_offsets": [i * step, (i + 1) * step]}
                                    for i in range(4)}, 4 * step)
    code = MEASURE.replace("import numpy, safetensors, torch", "import numpy, safetensors").replace(
        "print(", "assert 'torch' not in sys.modules\nprint(")
    got = measure(code, path, "-")
    print(f"safetensors: import baseline {got['base']:.0f} MB, after reading {got['after']:.0f} MB")
    assert got["tensors"] == {f"layers.{i}.weight": [16384, 4096] for i in range(4)}
    assert got["after"] - got["base"] < 16
