import pytest
import torch
from torch import nn

from trainyard_trainer.errors import TrainerError
from trainyard_trainer.network import TORCH_LAYERS, Reshape, build_layers, check_shapes

# one network per allowed layer type, each a spec the TS shape inference could have produced
NETWORKS = {
    "mlp_activations": (8, [
        {"type": "Linear", "in_features": 8, "out_features": 12, "bias": True},
        {"type": "ReLU", "inplace": True}, {"type": "LeakyReLU", "negative_slope": 0.1},
        {"type": "ELU", "alpha": 1.0}, {"type": "GELU", "approximate": "tanh"}, {"type": "SiLU"},
        {"type": "Tanh"}, {"type": "Sigmoid"}, {"type": "Softplus", "beta": 1, "threshold": 20},
        {"type": "Dropout", "p": 0.2}, {"type": "BatchNorm1d", "num_features": 12, "momentum": None},
        {"type": "LayerNorm", "normalized_shape": 12, "eps": 1e-5}, {"type": "Identity"},
        {"type": "Linear", "in_features": 12, "out_features": 1}]),
    "image_8x8": (64, [
        {"type": "Unflatten", "dim": 1, "unflattened_size": [1, 8, 8]},
        {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": [3, 3], "padding": "same"},
        {"type": "AvgPool2d", "kernel_size": 2}, {"type": "AdaptiveAvgPool2d", "output_size": [2, 2]},
        {"type": "Flatten"}, {"type": "Linear", "in_features": 16, "out_features": 1}]),
    "sequence_1d": (16, [
        {"type": "Unflatten", "dim": 1, "unflattened_size": [2, 8]},
        {"type": "Conv1d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm1d", "num_features": 4}, {"type": "MaxPool1d", "kernel_size": 2},
        {"type": "AvgPool1d", "kernel_size": 2}, {"type": "AdaptiveAvgPool1d", "output_size": 1},
        {"type": "Flatten", "start_dim": 1, "end_dim": -1}, {"type": "Linear", "in_features": 4, "out_features": 1}]),
}


def test_every_allowed_layer_is_covered():
    used = {layer["type"] for _, layers in NETWORKS.values() for layer in layers}
    assert used == set(TORCH_LAYERS)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_builds_and_fits(name):
    input_dim, specs = NETWORKS[name]
    layers = build_layers(specs)
    assert check_shapes(layers, specs, input_dim, "binary_classification", 1) == [1]
    layers.train()
    out = layers(torch.randn(5, input_dim))
    assert out.shape == (5, 1)


def test_inplace_is_never_built():
    layers = build_layers([{"type": "ReLU", "inplace": True}, {"type": "Dropout", "p": 0.5, "inplace": True}])
    assert not layers[0].inplace and not layers[1].inplace


def test_unflatten_is_a_reshape_with_the_same_result():
    x = torch.randn(3, 64)
    r = Reshape(1, (1, 8, 8))
    assert torch.equal(r(x), nn.Unflatten(1, (1, 8, 8))(x))
    assert r.state_dict() == {}


def _error(specs, input_dim=4, task="binary_classification", output_dim=1):
    with pytest.raises(TrainerError) as e:
        layers = build_layers(specs)
        check_shapes(layers, specs, input_dim, task, output_dim)
    assert e.value.code == "INVALID_SPEC"
    return e.value.message


@pytest.mark.parametrize("specs,needles", [
    ([{"type": "Linear", "in_features": 4, "out_features": 1}, {"type": "Transformer"}], ["layer 1", "Transformer"]),
    ([{"type": "__import__"}], ["layer 0", "unknown layer type"]),
    ([{"type": "Linear", "in_features": 4, "out_features": 1, "bogus": 1}], ["layer 0 (Linear)", "bogus"]),
    ([{"type": "Linear", "in_features": 4}], ["layer 0 (Linear)", "out_features is required"]),
    ([{"type": "Linear", "in_features": 4, "out_features": "8"}], ["layer 0 (Linear)", "out_features", "integer"]),
    ([{"type": "Linear", "in_features": 4, "out_features": 1, "bias": 1}], ["bias", "true or false"]),
    ([{"type": "ReLU"}, {"type": "Dropout", "p": 1.5}], ["layer 1 (Dropout)", "p must be a number >= 0 and <= 1"]),
    ([{"type": "Linear", "in_features": 5, "out_features": 1}], ["layer 0 (Linear)", "does not fit"]),
    ([{"type": "Linear", "in_features": 4, "out_features": 3}], ["last layer", "[batch, 1]"]),
    ([{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 2, 2]},
      {"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": "same", "stride": 2}],
     ["layer 1 (Conv2d)"]),
    (["Linear"], ["layer 0", "object"]),
])
def test_bad_specs_name_the_layer(specs, needles):
    message = _error(specs)
    for needle in needles:
        assert needle in message, message


def test_string_padding_becomes_numeric_for_onnx():
    conv = build_layers([{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 5],
                          "padding": "same", "dilation": [2, 1]}])[0]
    assert conv.padding == (2, 2)
    assert build_layers([{"type": "Conv1d", "in_channels": 1, "out_channels": 2, "kernel_size": 3,
                          "padding": "valid"}])[0].padding == (0,)
    message = _error([{"type": "Conv1d", "in_channels": 1, "out_channels": 1, "kernel_size": 2, "padding": "same"}])
    assert "layer 0 (Conv1d)" in message and "even kernel" in message
