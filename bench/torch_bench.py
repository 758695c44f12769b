"""The PyTorch benchmark: convlint's lint beside a plain meta-device forward pass and ``torch.export.export``.

    python bench/torch_bench.py               # Llama-style 7B decoder and ResNet-152, 3 repeats (~10 min)
    python bench/torch_bench.py --repeat 5 --models resnet152
    python bench/torch_bench.py --smoke       # tiny models, one repeat: checks that the bench runs

Both models are built under ``with torch.device("meta"):``, so no weight is ever allocated: a Llama-style decoder
(RMSNorm, rotary attention, SwiGLU MLP; 32 layers, hidden 4096, 32 heads, vocab 32000: 6.7B parameters) fed token
ids ``(1, 128)``, and a ResNet-152 (bottleneck blocks 3-8-36-3) fed ``(1, 3, 224, 224)``. Each is measured with
static inputs and with symbolic ones (``B,T`` and ``N,3,H,W``). Each measurement is one fresh ``python`` process
that imports torch and convlint, builds the model, then times one call:

- ``convlint``: ``convlint.lint(model, input_shape=..., input_dtype=..., verify=False)``;
- ``convlint+verify``: the same with ``verify=True`` (the models are clean, so there is nothing to replay);
- ``summary``: ``convlint.summary(model, input_shape=..., input_dtype=...)`` (per-layer shapes, parameters, MACs as
  formulas, and the input domain), compared with the lint (``/convlint``);
- ``meta-fwd``: ``model(torch.empty(shape, device="meta"))`` under ``no_grad`` (static shapes only: a meta tensor
  has no symbolic sizes, so the symbolic rows are compared with the static forward);
- ``export``: ``torch.export.export(model, args)``, with ``dynamic_shapes`` (``Dim.AUTO``) for symbolic inputs.

Times are medians over the repeats of the call alone (wall and cpu time of the process; cpu time is less disturbed by
other load). convlint's call includes what it imports on first use (its pipeline, onnx and the rule pack: ~0.05 s,
twice that where Python may not cache bytecode, as under ``PYTHONDONTWRITEBYTECODE``). Peak memory is the process's
peak RSS from ``os.wait4``; ``Δ`` is how much of it came after the imports and the model's construction, to compare
with the weights' size in fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MARK = "BENCH_RESULT "
TOOLS = ("convlint", "convlint+verify", "summary", "meta-fwd", "export")
MODELS = ("llama7b", "resnet152")


# --- the models (torch is imported lazily so that ``--help`` and the parent process stay light) --------------------

def _llama_classes():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rotate(x, cos, sin):
        a, b = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-b, a), dim=-1) * sin

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads, self.head_dim = heads, d // heads
            self.q_proj = nn.Linear(d, d, bias=False)
            self.k_proj = nn.Linear(d, d, bias=False)
            self.v_proj = nn.Linear(d, d, bias=False)
            self.o_proj = nn.Linear(d, d, bias=False)

        def forward(self, x, cos, sin):
            b, t, d = x.shape
            q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = self.k_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            v = self.v_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o_proj(y.transpose(1, 2).reshape(b, t, d))

    class MLP(nn.Module):
        def __init__(self, d, hidden):
            super().__init__()
            self.gate_proj = nn.Linear(d, hidden, bias=False)
            self.up_proj = nn.Linear(d, hidden, bias=False)
            self.down_proj = nn.Linear(hidden, d, bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Block(nn.Module):
        def __init__(self, d, heads, hidden):
            super().__init__()
            self.input_layernorm = RMSNorm(d)
            self.self_attn = Attention(d, heads)
            self.post_attention_layernorm = RMSNorm(d)
            self.mlp = MLP(d, hidden)

        def forward(self, x, cos, sin):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Llama(nn.Module):
        def __init__(self, vocab=32000, d=4096, layers=32, heads=32, hidden=11008):
            super().__init__()
            self.embed_tokens = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList(Block(d, heads, hidden) for _ in range(layers))
            self.norm = RMSNorm(d)
            self.lm_head = nn.Linear(d, vocab, bias=False)
            inv = 1.0 / (10000 ** (torch.arange(0, d // heads, 2).float() / (d // heads)))
            self.register_buffer("inv_freq", inv, persistent=False)

        def forward(self, tokens):
            # rotary angles from the positions, as Hugging Face's Llama computes them in each forward
            positions = torch.arange(tokens.shape[1], device=tokens.device).float()
            angles = torch.outer(positions, self.inv_freq)
            angles = torch.cat((angles, angles), dim=-1)
            cos, sin = angles.cos(), angles.sin()
            x = self.embed_tokens(tokens)
            for layer in self.layers:
                x = layer(x, cos, sin)
            return self.lm_head(self.norm(x))

    return Llama


def _resnet_classes():
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * self.expansion
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self, blocks=(3, 8, 36, 3), width=64, classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages, cin = [], width
            for i, n in enumerate(blocks):
                w = width * 2 ** i
                stage = []
                for j in range(n):
                    stage.append(Bottleneck(cin, w, 2 if j == 0 and i > 0 else 1))
                    cin = w * Bottleneck.expansion
                stages.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet


# Per model: constructor arguments (full, smoke), static input, symbolic input, input dtype.
SPECS = {
    "llama7b": dict(full={}, smoke=dict(vocab=100, d=64, layers=2, heads=4, hidden=128),
                    static=(1, 128), smoke_static=(1, 16), symbolic=("B", "T"), dtype="int64"),
    "resnet152": dict(full={}, smoke=dict(blocks=(1, 1, 1, 1), width=8, classes=10),
                      static=(1, 3, 224, 224), smoke_static=(1, 3, 64, 64), symbolic=("N", 3, "H", "W"),
                      dtype="float32"),
}


def build(name: str, smoke: bool):
    """The model, built on the meta device: its parameters take no memory."""
    import torch

    spec = SPECS[name]
    cls = _llama_classes() if name == "llama7b" else _resnet_classes()
    with torch.device("meta"):
        model = cls(**(spec["smoke"] if smoke else spec["full"]))
    return model.eval()


# --- one measurement, in a fresh process ----------------------------------------------------------------------------

def child(tool: str, name: str, mode: str, smoke: bool) -> None:
    import resource

    t0 = time.perf_counter()
    import torch

    import convlint

    imports = time.perf_counter() - t0
    spec = SPECS[name]
    model = build(name, smoke)
    static = spec["smoke_static"] if smoke else spec["static"]
    dtype = getattr(torch, spec["dtype"])
    params = sum(p.numel() for p in model.parameters())
    ready_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    findings = None
    w0, c0 = time.perf_counter(), time.process_time()
    if tool.startswith("convlint"):
        shape = spec["symbolic"] if mode == "symbolic" else static
        report = convlint.lint(model, input_shape=shape, input_dtype=spec["dtype"], verify=tool == "convlint+verify")
        findings = [f"{f.severity} {f.rule} {f.message}" for r in report.results for f in r.findings] + \
                   [r.error for r in report.results if r.error]
    elif tool == "summary":
        shape = spec["symbolic"] if mode == "symbolic" else static
        done = convlint.summary(model, input_shape=shape, input_dtype=spec["dtype"])
        findings = [f"{f.severity} {f.rule} {f.message}" for f in done.findings] + ([done.error] if done.error else [])
    elif tool == "meta-fwd":
        with torch.no_grad():
            model(torch.empty(static, dtype=dtype, device="meta"))
    else:
        x = torch.zeros(static, dtype=dtype, device="meta")
        dynamic = None
        if mode == "symbolic":
            auto = torch.export.Dim.AUTO
            dynamic = ({i: auto for i, d in enumerate(spec["symbolic"]) if isinstance(d, str)},)
        torch.export.export(model, (x,), dynamic_shapes=dynamic)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(MARK + json.dumps({"wall": wall, "cpu": cpu, "imports": imports, "ready_rss": ready_rss,
                             "params": params, "findings": findings}), flush=True)


def median(runs: list, key: str):
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--modes", default="static,symbolic")
    p.add_argument("--smoke", action="store_true", help="tiny models, one repeat")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--child", nargs=3, metavar=("TOOL", "MODEL", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(*args.child, args.smoke)
        return 0
    repeat = 1 if args.smoke else args.repeat
    models, tools, modes = args.models.split(","), args.tools.split(","), args.modes.split(",")
    rows = []
    for name in models:
        for mode in modes:
            for tool in tools:
                if tool == "meta-fwd" and mode == "symbolic":
                    continue  # a meta tensor has no symbolic sizes: the symbolic rows use the static forward
                runs = [measure(tool, name, mode, args.smoke, args.timeout) for _ in range(repeat)]
                rows.append((name, mode, tool, runs))
                print(f"  done: {name} {mode} {tool}", file=sys.stderr, flush=True)
    print(report(rows, repeat, os.getloadavg()))
    return 0


def measure(tool: str, name: str, mode: str, smoke: bool, timeout: float) -> dict:
    """One measurement in a fresh process; its peak RSS is the kernel's account of exactly that process (wait4)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, name, mode] + (["--smoke"] if smoke else [])
    with _TempOut() as (out_path, out_file):
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=out_file, text=True)
        start = time.monotonic()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise SystemExit(f"{tool} on {name} ({mode}) took more than {timeout:.0f}s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.flush()
        with open(out_path) as f:
            out = f.read()
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{tool} on {name} ({mode}) failed (exit {proc.returncode}):\n{out[-3000:]}")
    result = json.loads(lines[-1][len(MARK):])
    result["peak_rss"] = usage.ru_maxrss
    return result


class _TempOut:
    def __enter__(self):
        import tempfile

        self.file = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        return self.file.name, self.file

    def __exit__(self, *exc):
        self.file.close()
        os.unlink(self.file.name)


def report(rows, repeat, load) -> str:
    mib = 1 / 1024
    lines = [f"PyTorch bench: medians of {repeat} run(s), one fresh process each; load average "
             f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
             f"{'model':<10} {'inputs':<9} {'tool':<16} {'wall s':>8} {'cpu s':>8} {'import s':>8} "
             f"{'peak MiB':>9} {'Δ MiB':>7} {'fp32 weights MiB':>17} {'errors':>7}"]
    base = {}
    for name, mode, tool, runs in rows:
        if tool in ("meta-fwd", "export", "convlint"):
            base[(name, mode, tool)] = median(runs, "wall"), median(runs, "cpu")
        weights = runs[0]["params"] * 4 / 2 ** 20
        found = runs[0]["findings"]
        errors = None if found is None else sum(not f.startswith(("warning", "info", "note")) for f in found)
        lines.append(f"{name:<10} {mode:<9} {tool:<16} {median(runs, 'wall'):>8.2f} {median(runs, 'cpu'):>8.2f} "
                     f"{median(runs, 'imports'):>8.2f} {median(runs, 'peak_rss') * mib:>9.0f} "
                     f"{median([{'d': r['peak_rss'] - r['ready_rss']} for r in runs], 'd') * mib:>7.0f} "
                     f"{weights:>17.0f} {'-' if errors is None else errors:>7}")
    lines += ["", "ratios, convlint / other (wall; cpu in brackets); symbolic rows against the static meta forward"]
    for name, mode, tool, runs in rows:
        if not tool.startswith("convlint") and tool != "summary":
            continue
        parts = []
        for other in ("meta-fwd", "export", "convlint"):
            if other == "convlint" and tool != "summary":
                continue
            ref = base.get((name, "static" if other == "meta-fwd" else mode, other))
            if ref:
                parts.append(f"/{other} {median(runs, 'wall') / ref[0]:.2f}× ({median(runs, 'cpu') / ref[1]:.2f}×)")
        lines.append(f"  {name:<10} {mode:<9} {tool:<16} " + "  ".join(parts))
    problems = [(n, m, t, r[0]["findings"]) for n, m, t, r in rows if r[0]["findings"]]
    for n, m, t, found in problems:
        lines.append(f"findings on {n} ({m}, {t}): " + "; ".join(found[:5]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
