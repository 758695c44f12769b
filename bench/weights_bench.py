"""``--weights`` on a 7B checkpoint: what checking it against the model adds to the lint, beside the reference tools.

    python bench/weights_bench.py              # 3 repeats; needs transformers (the test venv has it)
    python bench/weights_bench.py --repeat 5 --keep /tmp/llama-ckpt

The model is transformers' ``LlamaForCausalLM`` at Llama-2-7B's sizes (hidden 4096, 32 layers, 32 heads, vocab
32000), built on the meta device. The checkpoint is laid out as Hugging Face ships it: float16, two safetensors
shards and ``model.safetensors.index.json``, 13.5 GB in all, written as *sparse* files (a real header; the data never
written, so it takes no disk). Each measurement is one fresh ``python`` process, started through ``sh`` so that its
peak RSS is its own (a direct child inherits its parent's):

- ``lint``: ``convlint.lint(model, input_shape="B,T", input_dtype="int64", verify=False)``;
- ``lint+weights``: the same with ``weights=<index>``; the difference is what ``--weights`` costs;
- ``safe_open``: ``safetensors.safe_open`` on each shard, reading every tensor's shape and dtype (the same headers);
- ``load_state_dict 1 GB``: ``torch.load`` of a real 1 GB float32 checkpoint (written once, with data) and
  ``load_state_dict`` into a model of that size, as a training script does.

Prints medians (wall seconds and peak RSS in MiB) and the figures the issue asks for: the time ``--weights`` adds,
and the peak memory of the lint with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MARK = "WEIGHTS_BENCH "
CONFIG = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
              num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)


def _llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        return LlamaForCausalLM(LlamaConfig(**CONFIG))


def write_sparse_checkpoint(folder: str) -> str:
    """Two float16 safetensors shards of the model's state dict and their index; the data regions are holes."""
    model = _llama()
    names = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate((names[:half], names[half:])):
        shard = f"model-{i + 1:05d}-of-00002.safetensors"
        header, offset = {}, 0
        for name, shape in part:
            size = 2
            for d in shape:
                size *= d
            header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[name] = shard
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        with open(os.path.join(folder, shard), "wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            f.truncate(8 + len(raw) + offset)
    index = os.path.join(folder, "model.safetensors.index.json")
    with open(index, "w") as f:
        json.dump({"metadata": {"total_size": sum(os.path.getsize(os.path.join(folder, s))
                                                  for s in set(weight_map.values()))}, "weight_map": weight_map}, f)
    return index


def write_real_checkpoint(path: str) -> None:
    """A 1 GB float32 checkpoint with its data (zeros) written."""
    import torch

    torch.save(_one_gb_model().state_dict(), path)


def _one_gb_model():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(*[nn.Linear(4096, 4096, bias=False) for _ in range(16)])  # 16 x 64 MiB


def child(tool: str, folder: str) -> None:
    t0 = time.perf_counter()
    if tool in ("lint", "lint+weights"):
        import convlint

        model = _llama()
        t0 = time.perf_counter()
        weights = os.path.join(folder, "model.safetensors.index.json") if tool == "lint+weights" else None
        report = convlint.lint(model, input_shape="B,T", input_dtype="int64", weights=weights, verify=False)
        assert not report.input_errors, report.input_errors
        found = sorted(f.rule for f in report.findings)
    elif tool == "safe_open":
        from safetensors import safe_open

        found = 0
        for shard in sorted(f for f in os.listdir(folder) if f.endswith(".safetensors")):
            with safe_open(os.path.join(folder, shard), framework="numpy") as f:
                for name in f.keys():
                    s = f.get_slice(name)
                    s.get_shape(), s.get_dtype()
                    found += 1  # tensors read
    else:
        import torch

        model = _one_gb_model()
        t0 = time.perf_counter()
        model.load_state_dict(torch.load(os.path.join(folder, "real.pt"), weights_only=True))
        found = 0
    print(MARK + json.dumps({"seconds": time.perf_counter() - t0, "found": found}), flush=True)


def measure(tool: str, folder: str) -> dict:
    """One fresh process: the timed call's seconds, and the process's peak RSS (MiB) from ``/usr/bin/time``-free
    ``getrusage`` of the ``sh`` that ran it."""
    script = f"{sys.executable} {os.path.abspath(__file__)} --child {tool} {folder}"
    code = ("import resource, subprocess, sys, json;"
            f"p = subprocess.run({script!r}, shell=True, capture_output=True, text=True);"
            "print(p.stdout); print(p.stderr[-2000:], file=sys.stderr);"
            "print('RSS ' + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    proc = subprocess.run(["sh", "-c", f"{sys.executable} -c \"{code}\""], capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    record = next((json.loads(line[len(MARK):]) for line in lines if line.startswith(MARK)), None)
    if record is None:
        raise RuntimeError(f"{tool}: {proc.stderr[-2000:]}")
    record["peak_mib"] = int(next(line for line in lines if line.startswith("RSS ")).split()[1]) / 1024
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--keep", help="a folder to write the checkpoints in and keep (default: a temporary one)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(*a.child)
        return 0
    folder = a.keep or tempfile.mkdtemp(prefix="convlint-weights-bench-")
    os.makedirs(folder, exist_ok=True)
    try:
        if not os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
            write_sparse_checkpoint(folder)
        if not os.path.exists(os.path.join(folder, "real.pt")):
            write_real_checkpoint(os.path.join(folder, "real.pt"))
        apparent = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if "safetensors" in f)
        print(f"checkpoint: {apparent / 1e9:.1f} GB (sparse) in 2 shards + index; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
        rows = {}
        for tool in ("lint", "lint+weights", "safe_open", "load_state_dict"):
            runs = [measure(tool, folder) for _ in range(a.repeat)]
            rows[tool] = (statistics.median(r["seconds"] for r in runs), statistics.median(r["peak_mib"] for r in runs),
                          runs[-1]["found"])
            print(f"  {tool:18} {rows[tool][0]:7.2f} s  peak {rows[tool][1]:7.0f} MiB  ({rows[tool][2]} found)",
                  flush=True)
        added = rows["lint+weights"][0] - rows["lint"][0]
        print(f"--weights adds {added:.2f} s to the lint (median of {a.repeat}); peak {rows['lint+weights'][1]:.0f} "
              f"MiB with it, {rows['lint'][1]:.0f} MiB without; safe_open alone {rows['safe_open'][0]:.2f} s; "
              f"load_state_dict of 1 GB {rows['load_state_dict'][0]:.2f} s")
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
