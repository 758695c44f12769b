"""Real architectures from Hugging Face ``transformers``, built from their configuration classes (small sizes, random
weights, nothing downloaded), linted through the Python API and the CLI: no error finding, the whole forward pass
followed, and the model left as it was. The optional group ``-m architectures``; skipped without transformers."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # offline: every model here comes from its configuration class
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import convlint  # noqa: E402

from conftest import run_cli  # noqa: E402
from model_state import same, snapshot  # noqa: E402

pytestmark = pytest.mark.architectures

FACTORIES = '''
import torch
import transformers as T


def resnet():
    return T.ResNetModel(T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                        layer_type="bottleneck")).eval()


def convnext():
    return T.ConvNextModel(T.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2)).eval()


def regnet():  # grouped 3x3 convolutions, squeeze-and-excitation
    return T.RegNetModel(T.RegNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                        groups_width=8)).eval()


def mobilenet_v1():
    return T.MobileNetV1Model(T.MobileNetV1Config(depth_multiplier=0.25, image_size=64)).eval()


def mobilenet_v2():  # TensorFlow-style padding computed from H and W
    return T.MobileNetV2Model(T.MobileNetV2Config(depth_multiplier=0.35, image_size=64)).eval()


def efficientnet(hidden_dim=128):  # hidden_dim must equal the top conv's width, round_filters(1280 * 0.1)
    return T.EfficientNetModel(T.EfficientNetConfig(width_coefficient=0.1, depth_coefficient=0.1, image_size=64,
                                                    hidden_dim=hidden_dim)).eval()


def vit():
    return T.ViTModel(T.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                                  image_size=64, patch_size=8)).eval()


def swin():  # windows padded, shifted and merged
    return T.SwinModel(T.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4],
                                    window_size=4)).eval()


def wav2vec2():  # a conv feature encoder and a grouped positional convolution (groups=4)
    return T.Wav2Vec2Model(T.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, conv_dim=(16, 16),
        conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)).eval()


def whisper_encoder():  # two Conv1d over mel frames; the input must have 2 * max_source_positions frames
    return T.WhisperModel(T.WhisperConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=50, vocab_size=100,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)).eval().get_encoder()


def bert():
    return T.BertModel(T.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                    intermediate_size=64)).eval()


def distilbert():
    return T.DistilBertModel(T.DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=4, hidden_dim=64)).eval()


def gpt2():  # Conv1D layers: a Linear whose weight is stored (in, out)
    return T.GPT2Model(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=4, bos_token_id=0, eos_token_id=0,
                                    pad_token_id=0)).eval()


def t5_encoder():  # relative position buckets
    return T.T5EncoderModel(T.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                                       num_heads=4)).eval()


def llama():  # rotary embeddings, grouped-query attention (4 heads over 2 key/value heads)
    return T.LlamaModel(T.LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=2)).eval()
'''

IMAGES, AUDIO, TOKENS = ("N,3,H,W", None), ("N,T", None), ("N,S", "int64")
# name -> (input dims, input dtype): symbolic wherever the model accepts any size
ARCHITECTURES = {
    "resnet": IMAGES,
    "convnext": IMAGES,
    "regnet": IMAGES,
    "mobilenet_v1": IMAGES,
    "mobilenet_v2": IMAGES,
    "efficientnet": IMAGES,
    "vit": ("N,3,64,64", None),  # position embeddings for one image size
    "swin": ("N,3,64,64", None),
    "wav2vec2": AUDIO,
    "whisper_encoder": ("N,16,100", None),
    "bert": TOKENS,
    "distilbert": TOKENS,
    "gpt2": TOKENS,
    "t5_encoder": TOKENS,
    "llama": TOKENS,
}


@pytest.fixture(scope="module")
def factory_file(tmp_path_factory):
    """FACTORIES as a file, plus ``meta_<name>`` factories that build each model on the meta device."""
    path = tmp_path_factory.mktemp("architectures") / "architectures.py"
    meta = "".join(f"\n\ndef meta_{name}():\n    with torch.device('meta'):\n        return {name}()\n"
                   for name in ARCHITECTURES)
    path.write_text(FACTORIES + meta)
    return path


@pytest.fixture(scope="module")
def factories(factory_file):
    spec = importlib.util.spec_from_file_location("architectures", factory_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _listing(findings) -> str:
    return "\n".join(f"{f['severity']} {f['rule']} {f['message']}" if isinstance(f, dict) else
                     f"{f.severity} {f.rule} {f.message}" for f in findings)


def _check(findings, key=lambda f: (f.severity, f.rule, f.message)):
    """No error or warning (notes, such as BERT's longest input, S <= 512, are fine), and the trace went through
    the whole forward pass (a trace stopped at the first layer would leave nothing to find errors in)."""
    listing = _listing(findings)
    for f in findings:
        severity, rule, message = key(f)
        assert severity not in ("error", "warning"), listing
        assert not (rule == "CL011" and message.startswith("tracing stopped")), listing


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_api_finds_no_error_and_leaves_the_model_alone(name, factories):
    model = getattr(factories, name)()
    dims, dtype = ARCHITECTURES[name]
    before = snapshot(model)
    report = convlint.lint(model, input_shape=dims, input_dtype=dtype)
    same(before, snapshot(model))
    _check(report.findings)
    assert report.ok, _listing(report.findings)


def _groups():
    """Architectures that take the same input, so that one CLI run lints them together."""
    groups = {}
    for name, spec in ARCHITECTURES.items():
        groups.setdefault(spec, []).append(name)
    return [pytest.param(spec, names, id="+".join(names)) for spec, names in groups.items()]


@pytest.mark.parametrize("spec, names", _groups())
def test_cli_finds_no_error_in_meta_device_models(spec, names, factory_file):
    dims, dtype = spec
    targets = [f"{factory_file}:meta_{name}" for name in names]
    args = ["check", *targets, "--input-shape", dims, "--format", "json"]
    proc = run_cli(*args, *(["--input-dtype", dtype] if dtype else []))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert sorted(r["target"] for r in results) == sorted(targets)
    for r in results:
        assert r["error"] is None, r
        _check(r["findings"], key=lambda f: (f["severity"], f["rule"], f["message"]))


def test_an_inconsistent_configuration_is_found(factories):
    # The check above can fail: a config whose hidden_dim disagrees with the top conv's width builds fine, and the
    # first batch fails; convlint names the layer before that.
    model = factories.efficientnet(hidden_dim=64)
    with pytest.raises(RuntimeError, match="running_mean should contain 128 elements not 64"):
        model(torch.zeros(1, 3, 64, 64))
    [error] = convlint.lint(model, input_shape=IMAGES[0]).errors
    assert (error.rule, error.location["module"]) == ("CL320", "encoder.top_bn")
    assert "with 128 channels on axis 1" in error.message and "have 64 values" in error.message
