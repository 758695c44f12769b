"""The input domain (checking/domain.py) against real runs: for each model with size limits, every size of a grid
inside and outside the stated domain is run in PyTorch (or, for an ONNX model, onnxruntime), and the model runs
exactly where the statement says it does. Both the statement as printed (its text, read as a Python expression over
the sizes) and :meth:`Domain.holds` are held to the runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import convlint  # noqa: E402

from conftest import ROOT  # noqa: E402


# -- the models -------------------------------------------------------------------------------------------------------

class UNet(nn.Module):
    """``depth`` levels of pooling and upsampling, each joined to its skip by concatenation."""

    def __init__(self, depth, c=2):
        super().__init__()
        self.inc = nn.Conv2d(1, c, 3, padding=1)
        self.downs = nn.ModuleList(nn.Conv2d(c * 2 ** i, c * 2 ** (i + 1), 3, padding=1) for i in range(depth))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(c * 2 ** (i + 1), c * 2 ** i, 2, stride=2)
                                 for i in reversed(range(depth)))
        self.fuse = nn.ModuleList(nn.Conv2d(c * 2 ** (i + 1), c * 2 ** i, 3, padding=1) for i in reversed(range(depth)))

    def forward(self, x):
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(F.max_pool2d(x, 2))
        for up, fuse in zip(self.ups, self.fuse):
            x = fuse(torch.cat([up(x), skips.pop()], 1))
        return x


class PatchTokens(nn.Module):
    """A ViT's stem: 4×4 patches, a learned position table for 16 of them (no size check of its own)."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, 8, 4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 16, 8))

    def forward(self, x):
        return self.patch(x).flatten(2).transpose(1, 2) + self.pos


class CheckedViT(PatchTokens):
    """The same stem with timm's own check of the image size."""

    def forward(self, x):
        _, _, h, w = x.shape
        assert h == 16 and w == 16, f"Input size ({h}*{w}) doesn't match model (16*16)."
        return super().forward(x)


class GPT(nn.Module):
    """Learned positions for 16 tokens, indexed by ``arange(T)``."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(50, 8), nn.Embedding(16, 8)
        self.head = nn.Linear(8, 50)

    def forward(self, ids):
        return self.head(self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device)))


class BERT(nn.Module):
    """Token types from a buffer of 12 positions, sliced to the sequence (transformers' BertEmbeddings)."""

    def __init__(self):
        super().__init__()
        self.tok, self.types = nn.Embedding(50, 8), nn.Embedding(2, 8)
        self.register_buffer("token_type_ids", torch.zeros(1, 12, dtype=torch.long))

    def forward(self, ids):
        types = self.token_type_ids[:, :ids.shape[1]]
        return self.tok(ids) + self.types(types.expand(ids.shape[0], ids.shape[1]))


class LongBERT(BERT):
    """The same with the table of BERT-base: 512 positions, more than the sizes convlint traces with."""

    def __init__(self):
        super().__init__()
        self.register_buffer("token_type_ids", torch.zeros(1, 512, dtype=torch.long))


class CausalMask(nn.Module):
    """A fixed 16×16 causal mask sliced to the sequence (GPT-2's ``bias`` buffer)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mask", torch.tril(torch.ones(16, 16, dtype=torch.bool)))
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        t = x.shape[1]
        scores = (x @ x.transpose(1, 2)).masked_fill(~self.mask[:t, :t], float("-inf"))
        return self.proj(scores.softmax(-1) @ x)


class Unshuffle(nn.Module):
    def forward(self, x):
        return F.pixel_unshuffle(x, 2)


class RoundingResidual(nn.Module):
    """A strided convolution (which rounds up) added to a pooling (which rounds down)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x) + F.max_pool2d(x, 2)


class Windows(nn.Module):
    """Swin's window partition: 4×4 windows by ``view``."""

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, 4, 4)


class OwnCheck(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        if x.shape[-1] % 8:
            raise ValueError("the width must be a multiple of 8")
        return self.conv(x)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 5), nn.MaxPool2d(2), nn.Conv2d(2, 4, 5), nn.MaxPool2d(2))
        self.fc = nn.Linear(4 * 5 * 5, 10)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class Symmetric(nn.Module):
    def forward(self, x):
        return x + x.transpose(2, 3)


def _every_size():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def _no_size():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1))


def _stem():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 3))


def _audio():
    return nn.Sequential(nn.Conv1d(1, 4, 40, stride=16), nn.ReLU(), nn.Conv1d(4, 4, 3, stride=2))


def _unet_fixture():
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("_domain_unet", os.path.join(ROOT, "fixtures", "torch", "unet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


# -- the cases --------------------------------------------------------------------------------------------------------

SMALL = tuple(range(1, 26))
AROUND = (1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33)


@dataclass
class Case:
    make: object
    shape: str  # the input shape, symbols named
    grid: dict  # symbol -> sizes to run at
    status: str = "some"  # the expected status: "some", "every" or "none"
    fixed: dict = field(default_factory=dict)  # the other symbols' sizes in the runs (N)
    dtype: str = "float32"
    onnx: bool = False  # export with the symbols dynamic and judge the ONNX model by onnxruntime
    followed: bool = False  # the statement covers the sizes the trace followed only (Domain.followed), and says so


CASES = {
    "unet_depth_2": Case(lambda: UNet(2), "N,1,H,W", {"H": SMALL, "W": (4, 6, 8, 12)}),
    "unet_depth_3": Case(lambda: UNet(3), "N,1,H,W", {"H": SMALL + (32, 40), "W": (8, 12, 16)}),
    "unet_depth_4_fixture": Case(_unet_fixture, "N,3,H,W", {"H": (8, 15, 16, 17, 24, 32, 48), "W": (16, 20, 32)}),
    "unet_depth_2_onnx": Case(lambda: UNet(2), "N,1,H,W", {"H": (3, 4, 5, 6, 8, 10, 12), "W": (4, 6, 8)},
                              onnx=True),
    "vit_position_table": Case(PatchTokens, "N,1,H,W", {"H": (4, 7, 8, 15, 16, 17, 19, 20, 32, 35, 64, 67, 68),
                                                        "W": (4, 7, 8, 15, 16, 19, 20, 32, 64, 67, 68)}),
    "vit_checked_size": Case(CheckedViT, "N,1,H,W", {"H": (8, 15, 16, 17, 32), "W": (15, 16, 17, 64)}),
    "gpt_positions": Case(GPT, "N,T", {"T": (1, 2, 15, 16, 17, 32)}, dtype="int64"),
    "bert_token_types": Case(BERT, "N,T", {"T": (1, 11, 12, 13, 20)}, dtype="int64"),
    "bert_base_token_types": Case(LongBERT, "N,T", {"T": (1, 100, 511, 512, 513, 600)}, dtype="int64",
                                  followed=True),
    "causal_mask": Case(CausalMask, "N,T,8", {"T": (1, 8, 16, 17, 24)}),
    "even_sizes_unshuffle": Case(Unshuffle, "N,1,H,W", {"H": SMALL[:10], "W": (1, 2, 3, 4, 7, 8)}, followed=True),
    "rounding_residual": Case(RoundingResidual, "N,2,H,W", {"H": SMALL[:12], "W": (2, 3, 4, 9, 10)}),
    "window_partition": Case(Windows, "N,2,H,W", {"H": SMALL[:17], "W": (4, 6, 8, 12)}),
    "own_check": Case(OwnCheck, "N,1,H,W", {"H": (1, 5, 8), "W": SMALL}),
    "lenet_flatten": Case(LeNet, "N,1,H,W", {"H": (15, 16, 19, 20, 31, 32, 35, 36, 111, 112, 115, 116),
                                            "W": (15, 16, 19, 20, 31, 32, 35, 36, 112, 115, 116)}),
    "square_only": Case(Symmetric, "N,1,H,W", {"H": (1, 2, 3, 5), "W": (1, 2, 3, 5)}),
    "unpadded_stem": Case(_stem, "N,1,H,W", {"H": (1, 5, 6, 7, 8, 20), "W": (6, 7, 9)}),
    "audio_frames": Case(_audio, "N,1,T", {"T": (1, 39, 40, 71, 72, 87, 88, 89, 400)}),
    "every_size": Case(_every_size, "N,1,H,W", {"H": (1, 2, 7, 31), "W": (1, 3, 64)}, status="every"),
    "no_size": Case(_no_size, "N,1,H,W", {"H": (1, 8, 32), "W": (1, 8)}, status="none"),
}


# Where convlint cannot state the domain today, it says "unknown" and why (never a wrong statement; the test holds it
# to that); each entry is what it cannot follow. Strict: when one is fixed, its entry must go.
KNOWN = {
    "bert_token_types": "expand() of a buffer sliced to the sequence (Min(12, T) -> T): PyTorch refuses it at the "
                        "sizes tried, and convlint has no broadcast rule for expand's one-way broadcast",
    "causal_mask": "~mask[:T, :T]: PyTorch fixes T at the invert of a slice clamped to the table (Min(16, T))",
}


# -- running them -----------------------------------------------------------------------------------------------------

def _sizes(case):
    names = list(case.grid)
    for values in itertools.product(*(case.grid[n] for n in names)):
        yield {"N": 1, **case.fixed, **dict(zip(names, values))}


def _dims(case, sizes) -> list:
    return [int(d) if d.isdigit() else sizes.get(d, 1) for d in case.shape.split(",")]


def _zeros(case, sizes):
    return torch.zeros(_dims(case, sizes), dtype=getattr(torch, case.dtype))


def _runs_in_pytorch(model, case, sizes) -> bool:
    try:
        with torch.no_grad():
            model(_zeros(case, sizes))
    except Exception:
        return False
    return True


def _onnx_runner(model, case, tmp_path):
    import onnxruntime as ort

    path = str(tmp_path / "model.onnx")
    names = [d for d in case.shape.split(",") if not d.isdigit()]
    axes = {i: d for i, d in enumerate(case.shape.split(",")) if not d.isdigit()}
    example = {n: 16 for n in names}
    torch.onnx.export(model, (_zeros(case, example),), path, input_names=["x"], dynamic_axes={"x": axes},
                      opset_version=17, dynamo=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def runs(sizes) -> bool:
        try:
            session.run(None, {"x": _zeros(case, sizes).numpy()})
        except Exception:
            return False
        return True
    return path, runs


def _stated(condition: str, sizes: dict) -> bool:
    """The printed condition read as Python: ``H % 16 == 0 and W % 16 == 0``, ``T <= 16``, ``H in {2, 3}``, and
    the floors of a flattened size (``⌊(H-12)/4⌋·⌊(W-12)/4⌋ == 25``)."""
    python = condition.replace("⌊", "((").replace("⌋", ")//1)").replace("·", "*")
    assert re.fullmatch(r"[A-Za-z0-9_ %=<>!+\-*/(){},]+", python), condition
    return bool(eval(python, {"__builtins__": {}}, dict(sizes)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_domain_is_where_the_model_runs(name, tmp_path):
    case = CASES[name]
    torch.manual_seed(0)
    try:
        model = case.make().eval()
    except Exception:
        model = None
    if case.onnx:
        target, runs = _onnx_runner(model, case, tmp_path)
    else:
        target, runs = model, (lambda sizes: _runs_in_pytorch(model, case, sizes))
    s = convlint.summary(target, input_shape=case.shape, input_dtype=None if case.onnx else case.dtype)
    assert s.error is None, s.error
    domain = s.domain
    if name in KNOWN:
        assert domain.status == "unknown" and domain.holds({n: 1 for n in domain.symbols}) is None, domain.text()
        pytest.xfail(KNOWN[name])
    assert domain.status == case.status, domain.text()
    assert bool(domain.followed) == case.followed and (domain.partial is not None) == case.followed, domain.text()
    wrong, inside, outside = [], 0, 0
    for sizes in _sizes(case):
        ran = runs(sizes)
        inside += ran
        outside += not ran
        said = domain.holds(sizes)
        if said is None and case.followed:
            continue  # a size the trace did not follow: no claim
        printed = _stated(domain.condition, sizes) if domain.status == "some" else said
        if not (said == printed == ran):
            wrong.append((sizes, ran, said, printed))
    assert not wrong, (domain.text(), wrong[:8])
    if case.status == "some":
        assert inside and outside, domain.text()  # the grid reaches both sides of the statement
