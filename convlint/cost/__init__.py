"""What a node costs, as a formula in the user's symbols.

:func:`node_macs` gives a node's multiply-accumulates per the convention the README states ("Summary"): the
multiply-accumulates of linear algebra as ``torch.utils.flop_counter`` counts them (FLOPs / 2: convolution,
Linear/Gemm/MatMul/bmm/einsum, attention's two matrix products; a bias is not counted), plus one per output element
of a normalization (its scale-and-shift); element-wise ops, activations, pooling, resizing and data movement cost
none. Counts are exact dims (:mod:`convlint.core.dims`): ints, or sympy expressions in the user's symbols.
"""

from convlint.cost.macs import node_macs

__all__ = ["node_macs"]
