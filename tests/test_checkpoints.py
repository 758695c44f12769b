"""Checkpoints against models (``--weights``), from the tensors' headers alone: each case is a fault from a public
report, reduced to a small model and a real checkpoint file (safetensors, a torch zip, or shards with an index),
and convlint must explain it in one finding per cause on the module that owns the tensors. PyTorch's own
``load_state_dict`` refuses every faulty one and loads every clean one, so the cases themselves are right.
"""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import convlint  # noqa: E402

from conftest import run_cli  # noqa: E402


def _resnetish(classes=10, width=8, in_channels=3, blocks=2):
    layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(blocks):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    body = nn.Sequential(*layers)
    model = nn.Sequential()
    model.add_module("features", body)
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("fc", nn.Linear(width, classes))
    return model


class TinyGPT(nn.Module):
    def __init__(self, vocab=50, positions=16, d=8, layers=2, tied=True):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.h = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.lm_head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for layer in self.h:
            x = layer(x)
        return self.lm_head(x)


def _save(state: dict, path, fmt: str = "safetensors", key=None):
    """``state`` saved at ``path`` as safetensors, a torch zip (under ``key`` when given), or two safetensors shards
    with an index."""
    from safetensors.torch import save_file

    state = {k: v.clone().contiguous() for k, v in state.items()}  # a tied weight saved as two tensors
    if fmt == "safetensors":
        save_file(state, str(path))
    elif fmt == "torch":
        torch.save({key: state, "epoch": 3} if key else state, str(path))
    else:
        names = list(state)
        half = len(names) // 2
        folder = os.path.dirname(str(path))
        weight_map = {}
        for i, part in enumerate((names[:half], names[half:])):
            shard = f"model-0000{i + 1}-of-00002.safetensors"
            save_file({n: state[n] for n in part}, os.path.join(folder, shard))
            weight_map.update({n: shard for n in part})
        with open(str(path), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return str(path)


def _refused_by_pytorch(model, state) -> bool:
    try:
        model.load_state_dict(state)
    except RuntimeError:
        return True
    return False


def _lint(model, path, shape="N,3,H,W", dtype=None):
    report = convlint.lint(model, input_shape=shape, input_dtype=dtype, weights=path, verify=False)
    assert not report.input_errors, report.input_errors
    return report


def _by_rule(report, prefix="CL70"):
    return [(f.rule, f.location.get("module")) for f in report.findings if f.rule.startswith(prefix)]


@pytest.mark.parametrize("fmt", ["safetensors", "torch", "sharded"])
def test_the_classifier_of_another_dataset(tmp_path, fmt):
    # an ImageNet-style head (100 classes) loaded into a model built for 10 (https://miaokee.com/1431847.html:
    # "size mismatch for fc.weight: copying a param with shape torch.Size([100, 2048]) ... torch.Size([10, 2048])")
    trained = _resnetish(classes=100).state_dict()
    model = _resnetish(classes=10)
    assert _refused_by_pytorch(_resnetish(classes=10), trained)
    name = {"safetensors": "ckpt.safetensors", "torch": "ckpt.pth", "sharded": "model.safetensors.index.json"}[fmt]
    path = _save(trained, tmp_path / name, fmt, key="model" if fmt == "torch" else None)
    report = _lint(model, path)
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert (f.rule, f.location["module"], f.location["class"]) == ("CL700", "fc", "Linear")
    assert "the checkpoint's classifier has 100 classes, the model's 10" in f.message
    assert "checkpoint holds fc.weight (100, 8), the model (10, 8); fc.bias (100,), the model (10,)" in f.message
    assert "num_classes=100" in f.hint
    if fmt == "torch":
        assert "(its 'model' entry)" in f.message


def test_a_data_parallel_checkpoint(tmp_path):
    # saved from nn.DataParallel: every key starts with "module." (pytorch/pytorch#3805, abeardear/pytorch-YOLO-v1#4)
    state = {f"module.{k}": v for k, v in _resnetish().state_dict().items()}
    assert _refused_by_pytorch(_resnetish(), state)
    report = _lint(_resnetish(), _save(state, tmp_path / "dp.safetensors"))
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL703" and "DataParallel" in f.message and "module." in f.hint
    assert f"{len(state)} keys carry 'module.'" in f.message


def test_a_renamed_submodule(tmp_path):
    class Net(nn.Module):
        def __init__(self, name):
            super().__init__()
            self.add_module(name, _resnetish().features)
            self.head = nn.Linear(8, 2)

    state = Net("backbone").state_dict()
    assert _refused_by_pytorch(Net("encoder"), state)
    report = _lint(Net("encoder"), _save(state, tmp_path / "ckpt.safetensors"), shape=None)
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL703" and "'backbone.' where the model has 'encoder.'" in f.message
    assert "k.replace('backbone.', 'encoder.', 1)" in f.hint


def test_a_vocabulary_grown_by_added_tokens(tmp_path):
    # tokens added and the embedding resized before saving (huggingface/transformers#9055; fms-hf-tuning#258:
    # "size mismatch for model.embed_tokens.weight: ... torch.Size([32008, 64]) ... torch.Size([32000, 64])")
    state = TinyGPT(vocab=52).state_dict()
    assert _refused_by_pytorch(TinyGPT(vocab=50), state)
    report = _lint(TinyGPT(vocab=50), _save(state, tmp_path / "ckpt.safetensors"), shape="N,T", dtype="int64")
    causes = [f for f in report.findings if f.rule == "CL700"]
    assert [(f.location["module"]) for f in causes] == ["wte"] and "lm_head.weight (52, 8)" in causes[0].message
    assert "vocabulary has 52 tokens, the model's 50" in causes[0].message
    assert "resize_token_embeddings" in causes[0].hint


def test_a_longer_position_table(tmp_path):
    # sentence-transformers#3347: "size mismatch for embeddings.position_embeddings.weight: ... [512, 384] ...
    # [128, 384]"
    state = TinyGPT(positions=32).state_dict()
    assert _refused_by_pytorch(TinyGPT(positions=16), state)
    report = _lint(TinyGPT(positions=16), _save(state, tmp_path / "ckpt.safetensors"), shape="N,T", dtype="int64")
    [f] = [f for f in report.findings if f.rule == "CL700"]
    assert f.location["module"] == "wpe" and "a position table of 32 positions for the model's 16" in f.message


def test_a_deeper_model_than_the_checkpoint(tmp_path):
    # a BERT-base checkpoint into BERT-large: encoder.layer.12 to 23 missing (guotong1988/NL2SQL-RULE#10)
    state = TinyGPT(layers=2).state_dict()
    assert _refused_by_pytorch(TinyGPT(layers=4), state)
    report = _lint(TinyGPT(layers=4), _save(state, tmp_path / "ckpt.safetensors"), shape="N,T", dtype="int64")
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL701" and f.location["module"] == "h"
    assert "no weights for blocks h.2 to 3 (4 keys): it holds 2 blocks of 'h', the model 4 (depth)" in f.message


def test_a_shallower_model_than_the_checkpoint(tmp_path):
    state = TinyGPT(layers=4).state_dict()
    assert _refused_by_pytorch(TinyGPT(layers=2), state)
    report = _lint(TinyGPT(layers=2), _save(state, tmp_path / "ckpt.safetensors"), shape="N,T", dtype="int64")
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL702" and f.location["module"] == "h"
    assert "holds blocks h.2 to 3 that the model does not have (4 keys): it has 4 blocks of 'h', the model 2" in \
        f.message


def test_a_width_multiplier(tmp_path):
    state = _resnetish(width=16).state_dict()
    assert _refused_by_pytorch(_resnetish(width=8), state)
    report = _lint(_resnetish(width=8), _save(state, tmp_path / "ckpt.safetensors"))
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL700" and "the checkpoint's are 2 times the model's" in f.message and "width" in f.message


def test_weights_stored_transposed(tmp_path):
    # GPT-2's Conv1D keeps (in, out): its checkpoint in a model of nn.Linear
    model = nn.Sequential(nn.Linear(8, 24), nn.ReLU(), nn.Linear(24, 8))
    state = {k: (v.t() if v.dim() == 2 else v) for k, v in model.state_dict().items()}
    assert _refused_by_pytorch(model, state)
    report = _lint(model, _save(state, tmp_path / "ckpt.safetensors"), shape="N,8")
    [f] = [f for f in report.findings if f.rule.startswith("CL70")]
    assert f.rule == "CL700" and "2 weights are stored transposed" in f.message and "Conv1D" in f.message


def test_a_one_channel_stem_for_a_three_channel_checkpoint(tmp_path):
    state = _resnetish(in_channels=3).state_dict()
    assert _refused_by_pytorch(_resnetish(in_channels=1), state)
    report = _lint(_resnetish(in_channels=1), _save(state, tmp_path / "ckpt.safetensors"), shape="N,1,H,W")
    stem = [f for f in report.findings if f.rule == "CL700"]
    assert [f.location["module"] for f in stem] == ["features.0"]
    assert "first layer takes 3 input channels, the model's 1" in stem[0].message
    # and the consequence at the first forward pass, with the checkpoint's weight in place: 1 channel for 3
    assert any(f.rule == "CL101" and f.location.get("module") == "features.0" for f in report.findings)


def test_a_clean_checkpoint_gives_nothing(tmp_path):
    # nested in a training script's dict, without num_batches_tracked (older PyTorch), a tied head saved once
    model = TinyGPT()
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    model.load_state_dict(state, strict=False)
    report = _lint(TinyGPT(), _save(state, tmp_path / "ckpt.pt", "torch", key="state_dict"), shape="N,T",
                   dtype="int64")
    assert _by_rule(report) == []
    cnn = {k: v for k, v in _resnetish().state_dict().items() if not k.endswith("num_batches_tracked")}
    _resnetish().load_state_dict(cnn)
    assert _lint(_resnetish(), _save(cnn, tmp_path / "cnn.safetensors")).findings == []


def test_a_half_precision_checkpoint_is_a_note(tmp_path):
    state = {k: v.half() if v.is_floating_point() else v for k, v in _resnetish().state_dict().items()}
    _resnetish().load_state_dict(state)
    report = _lint(_resnetish(), _save(state, tmp_path / "ckpt.safetensors"))
    [f] = report.findings
    assert (f.rule, f.severity) == ("CL704", "info") and "as float16 where the model has float32" in f.message


def test_the_model_is_not_changed_and_no_tensor_is_read(tmp_path):
    model = _resnetish(classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = _save(_resnetish(classes=100).state_dict(), tmp_path / "ckpt.safetensors")
    _lint(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.fc.weight.shape == (10, 8)


def test_the_cli_reads_a_checkpoint_with_the_model(tmp_path):
    (tmp_path / "net.py").write_text("from torch import nn\n\n\ndef build():\n"
                                     "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2))\n")
    torch.save({"0.weight": torch.zeros(4, 3, 3, 3), "0.bias": torch.zeros(4), "2.weight": torch.zeros(5, 4),
                "2.bias": torch.zeros(5)}, tmp_path / "ckpt.pt")
    proc = run_cli("net.py:build", "--weights", "ckpt.pt", "--input-shape", "N,3,3,3", cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert ("net.py:5: 2 (Linear): CL700 error: the checkpoint's classifier has 5 classes, the model's 2: checkpoint "
            "holds 2.weight (5, 4), the model (2, 4); 2.bias (5,), the model (2,) (in ckpt.pt)") in proc.stdout
    # verified by PyTorch's own load_state_dict, on the headers as meta tensors: its words, no tensor read
    assert ('confirmed — PyTorch refuses the checkpoint\'s tensors (their headers, as meta tensors) in '
            'load_state_dict(strict=True): "size mismatch for 2.weight: copying a param with shape torch.Size([5, 4]) '
            'from checkpoint, the shape in current model is torch.Size([2, 4])."') in proc.stdout


def test_a_pickle_that_needs_code_is_refused_in_one_line(tmp_path):
    (tmp_path / "net.py").write_text("from torch import nn\n\n\ndef build():\n    return nn.Linear(2, 2)\n")
    torch.save({"model": nn.Linear(2, 2)}, tmp_path / "whole.pt")  # a module, not a state dict: needs code
    proc = run_cli("net.py:build", "--weights", "whole.pt", cwd=str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "weights_only" in proc.stderr


def test_a_7b_checkpoint_in_shards_is_checked_from_its_headers(tmp_path):
    """bench/weights_bench.py's checkpoint: Llama-2-7B's layout in float16, two sparse shards and an index (13.5 GB
    that take no disk), against transformers' LlamaForCausalLM on the meta device: nothing but the dtype note."""
    pytest.importorskip("transformers")
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("_weights_bench", os.path.join(ROOT, "bench", "weights_bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    index = bench.write_sparse_checkpoint(str(tmp_path))
    assert sum(os.path.getsize(tmp_path / f) for f in os.listdir(tmp_path)) > 13e9
    report = convlint.lint(bench._llama(), input_shape="B,T", input_dtype="int64", weights=index, verify=False)
    assert not report.input_errors, report.input_errors
    [note] = report.findings
    assert note.rule == "CL704" and "stores 291 tensor(s) as float16 where the model has float32" in note.message
