"""MACs of each costly op (convlint.cost) against torch.utils.flop_counter's FLOPs / 2 on real modules: the formula
convlint derives in the user's symbols, evaluated at the sizes the module then runs at, equals what FlopCounterMode
counts while PyTorch runs it; where flop_counter counts nothing on the CPU (scaled_dot_product_attention's CPU
kernel), its own formula for the op is the reference."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count  # noqa: E402

import convlint  # noqa: E402


class Call(nn.Module):
    """A module whose forward is one function call (for the functional ops)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def counted(model, *xs) -> int:
    """FlopCounterMode's count for one run of ``model``, as MACs. Autograd stays on, so nn.MultiheadAttention takes
    its composite path (the fused fast path is an op flop_counter does not know), and oneDNN is off, so an LSTM
    runs as the matrix products flop_counter counts."""
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc:
        model(*xs)
    return fc.get_total_flops() // 2


def derived(model, shapes: list, at: dict):
    s = convlint.summary(model, input_shape=shapes, at=at)
    assert s.error is None, s.error
    assert not [f for f in s.findings if f.severity == "error"], s.findings
    return s.macs


def concrete(shape: str, at: dict) -> torch.Tensor:
    return torch.randn([at[d] if d in at else int(d) for d in shape.split(",")])


CASES = {
    "conv2d_grouped_strided_dilated": (lambda: nn.Conv2d(8, 12, 3, stride=2, padding=2, dilation=2, groups=4),
                                       ["N,8,H,W"], {"N": 2, "H": 17, "W": 12}),
    "conv1d": (lambda: nn.Conv1d(4, 6, 5, padding=1), ["N,4,T"], {"N": 3, "T": 20}),
    "conv3d": (lambda: nn.Conv3d(2, 4, (1, 3, 3), stride=(1, 2, 2)), ["N,2,D,H,W"], {"N": 1, "D": 3, "H": 9, "W": 7}),
    "depthwise": (lambda: nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), ["N,6,H,W"], {"N": 2, "H": 5, "W": 6}),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
                         ["N,8,H,W"], {"N": 2, "H": 7, "W": 5}),
    "conv_transpose1d": (lambda: nn.ConvTranspose1d(4, 3, 4, stride=3), ["N,4,T"], {"N": 2, "T": 9}),
    "linear_3d": (lambda: nn.Linear(16, 24), ["N,T,16"], {"N": 2, "T": 7}),
    "matmul_broadcast": (lambda: Call(lambda a, b: a @ b), ["N,1,T,8", "4,8,T"], {"N": 2, "T": 5}),
    "bmm": (lambda: Call(torch.bmm), ["N,T,8", "N,8,S"], {"N": 3, "T": 4, "S": 6}),
    "einsum_pair": (lambda: Call(lambda a, b: torch.einsum("bhqd,bhkd->bhqk", a, b)), ["N,4,T,8", "N,4,T,8"],
                    {"N": 2, "T": 5}),
    "einsum_three": (lambda: Call(lambda a, b, c: torch.einsum("bi,ij,jk->bk", a, b, c)),
                     ["N,6", "6,7", "7,3"], {"N": 4}),
    "multihead_self": (lambda: nn.MultiheadAttention(16, 4, batch_first=True), ["N,T,16"] * 3, {"N": 2, "T": 5}),
    "multihead_cross_kdim": (lambda: nn.MultiheadAttention(16, 2, kdim=8, vdim=12), ["T,N,16", "S,N,8", "S,N,12"],
                             {"N": 2, "T": 3, "S": 7}),
    "lstm_stacked_bidirectional_proj": (lambda: nn.LSTM(16, 8, num_layers=2, bidirectional=True, proj_size=4),
                                        ["T,N,16"], {"N": 2, "T": 5}),
    "gru_batch_first": (lambda: nn.GRU(8, 6, batch_first=True), ["N,T,8"], {"N": 3, "T": 4}),
    "rnn_unbatched": (lambda: nn.RNN(5, 7), ["T,5"], {"T": 6}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_macs_equal_flop_counter(name):
    make, shapes, at = CASES[name]
    torch.manual_seed(0)
    model = make().eval()
    reference = counted(model, *[concrete(s, at) for s in shapes])
    assert reference > 0
    assert derived(model, shapes, at) == reference


def test_attention_counts_its_two_products_as_flop_counter_formulates_them():
    at = {"N": 2, "T": 6, "S": 9}
    model = Call(lambda q, k, v: F.scaled_dot_product_attention(q, k, v))
    shapes = ["N,4,T,8", "N,4,S,8", "N,4,S,5"]
    q, k, v = (concrete(s, at).shape for s in shapes)
    assert derived(model, shapes, at) == sdpa_flop_count(q, k, v) // 2


def test_a_formula_stays_in_the_users_symbols():
    import sympy

    s = convlint.summary(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.Flatten(2), Call(lambda x: x @ x.mT)),
                         input_shape="N,3,H,W")
    h, w = sympy.symbols("H W", integer=True, positive=True)
    positions = (sympy.floor((h - 3) / 2) + 1) * (sympy.floor((w - 3) / 2) + 1)
    conv, _, matmul = (sympy.sympify(str(row.macs), locals={"H": h, "W": w}) for row in s.layers)
    assert sympy.simplify(conv - 8 * 3 * 9 * positions) == 0  # per sample: N = 1
    assert sympy.simplify(matmul - 8 * 8 * positions) == 0


@pytest.mark.parametrize("norm,shape", [(lambda: nn.BatchNorm2d(6), "N,6,H,W"), (lambda: nn.LayerNorm(6), "N,H,6"),
                                        (lambda: nn.GroupNorm(2, 6), "N,6,H"),
                                        (lambda: nn.InstanceNorm1d(6, affine=True), "N,6,H")])
def test_a_normalization_counts_one_per_output_element(norm, shape):
    at = {"N": 2, "H": 5, "W": 3}
    model = norm().eval()
    assert derived(model, [shape], at) == concrete(shape, at).numel()
