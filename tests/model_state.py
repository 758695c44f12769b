"""Snapshots of a PyTorch model's state, to check that linting leaves the model as it was."""

from __future__ import annotations

import torch


def snapshot(model):
    """Everything lint() promises not to change: parameters and buffers (values, identity, device, dtype, grad
    flag), each module's class, training mode, attributes and hooks, and the grad mode."""
    state = {k: (v.detach().clone(), v.device, v.dtype, v.requires_grad) for k, v in model.state_dict().items()}
    ids = {k: id(v) for k, v in list(model.named_parameters()) + list(model.named_buffers())}
    modules = {name: (m.training, type(m), sorted(m.__dict__), dict(m._forward_hooks), dict(m._forward_pre_hooks))
               for name, m in model.named_modules()}
    return state, ids, modules, torch.is_grad_enabled()


def same(a, b):
    """Assert two snapshots are equal."""
    (sa, ia, ma, ga), (sb, ib, mb, gb) = a, b
    assert ia == ib
    assert ma == mb
    assert ga == gb
    assert sa.keys() == sb.keys()
    for k in sa:
        ta, tb = sa[k], sb[k]
        assert ta[1:] == tb[1:], k
        assert torch.equal(ta[0], tb[0]), k
