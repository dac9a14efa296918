"""The network: an allow-listed set of torch.nn layers built from the spec, a standardisation
module in front (so exported models take raw features) and the export wrapper (output activation,
target de-standardisation)."""

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from . import contracts
from .errors import invalid_spec


class Standardize(nn.Module):
    """(x - mean) / std with the platform's training-split statistics as buffers."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x):
        return (x - self.mean) / self.std


class Reshape(nn.Module):
    """nn.Unflatten's behaviour, written as a reshape: torch 1.13 cannot export aten::unflatten
    to ONNX, while this exports as Reshape and keeps the batch axis dynamic. No parameters, so
    the state_dict is the same as with nn.Unflatten."""

    def __init__(self, dim: int, unflattened_size: Tuple[int, ...]):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim if self.dim >= 0 else x.dim() + self.dim
        if dim == 0:
            raise RuntimeError("Unflatten of dim 0 (the batch axis) is not supported")
        if dim == 1 and x.dim() == 2:  # the usual case: [batch, features] -> [batch, *size]
            return x.reshape((x.shape[0],) + self.unflattened_size)
        return x.reshape(tuple(x.shape[:dim]) + self.unflattened_size + tuple(x.shape[dim + 1:]))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ---- the allow-list -----------------------------------------------------------------------------
# Which layers exist, their arguments, types, bounds and defaults come from the platform's layer
# catalogue (contracts/trainer-job.schema.json: the resolved layers a job hands over). This table
# only says which torch class builds each; tests/test_contracts.py checks that both list the same.

TORCH_LAYERS: Dict[str, Any] = {
    "Linear": nn.Linear, "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "ELU": nn.ELU, "GELU": nn.GELU,
    "SiLU": nn.SiLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "Softplus": nn.Softplus, "Dropout": nn.Dropout,
    "BatchNorm1d": nn.BatchNorm1d, "LayerNorm": nn.LayerNorm, "Identity": nn.Identity, "Flatten": nn.Flatten,
    "Unflatten": Reshape, "Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d, "MaxPool1d": nn.MaxPool1d,
    "MaxPool2d": nn.MaxPool2d, "AvgPool1d": nn.AvgPool1d, "AvgPool2d": nn.AvgPool2d,
    "AdaptiveAvgPool1d": nn.AdaptiveAvgPool1d, "AdaptiveAvgPool2d": nn.AdaptiveAvgPool2d,
}

#: Each layer's schema, by type: the catalogue's, with the arguments shape inference fills in required.
LAYERS: Dict[str, Dict[str, Any]] = contracts.variants(
    contracts.load("trainer-job")["properties"]["layers"]["items"], "type")


def _tuplify(v):
    return tuple(v) if isinstance(v, list) else v


def _numeric_padding(where: str, ltype: str, args: Dict[str, Any]):
    """padding='valid'/'same' as numbers: torch 1.13 cannot export string padding to ONNX
    (aten::_convolution_mode). 'same' is symmetric, hence exact, when (kernel-1)*dilation is even."""
    if args["padding"] == "valid":
        return 0
    k = 1 if ltype == "Conv1d" else 2
    def per_dim(v):
        return list(v) if isinstance(v, list) else [v] * k
    stride = per_dim(args.get("stride", 1))
    if any(st != 1 for st in stride):
        raise invalid_spec(f"{where}: padding='same' needs stride 1 (PyTorch's rule)")
    pads = []
    for kernel, dilation in zip(per_dim(args["kernel_size"]), per_dim(args.get("dilation", 1))):
        total = (kernel - 1) * dilation
        if total % 2:
            raise invalid_spec(f"{where}: padding='same' with an even kernel pads asymmetrically, which "
                               f"cannot be exported to ONNX on this PyTorch; use an odd kernel_size or numeric padding")
        pads.append(total // 2)
    return pads[0] if k == 1 else pads


def build_layer(index: int, spec: Any) -> nn.Module:
    if not isinstance(spec, dict):
        raise invalid_spec(f"layer {index}: must be an object with a 'type', got {spec!r}")
    ltype = spec.get("type")
    where = f"layer {index} ({ltype})"
    if not isinstance(ltype, str) or ltype not in LAYERS or ltype not in TORCH_LAYERS:
        raise invalid_spec(f"layer {index}: unknown layer type {ltype!r}; allowed: {', '.join(LAYERS)}")
    problem = contracts.check(LAYERS[ltype], spec)
    if problem:
        raise invalid_spec(f"{where}: {problem}")
    args = {k: v for k, v in spec.items() if k != "type"}
    if "inplace" in args:  # in-place ops could overwrite the (pre-standardised) input batch
        args["inplace"] = False
    if ltype in ("Conv1d", "Conv2d") and isinstance(args.get("padding"), str):
        args["padding"] = _numeric_padding(where, ltype, args)
    kwargs = {k: _tuplify(v) for k, v in args.items()}
    try:
        return TORCH_LAYERS[ltype](**kwargs)
    except Exception as e:  # PyTorch's own argument checks (e.g. padding='same' with stride > 1)
        raise invalid_spec(f"{where}: {e}")


def build_layers(layer_specs: List[Any]) -> nn.Sequential:
    return nn.Sequential(*[build_layer(i, s) for i, s in enumerate(layer_specs)])


def expected_output_shape(task: str, output_dim: int) -> Tuple[int, int]:
    return (2, 1) if task != "multiclass_classification" else (2, output_dim)


def check_shapes(layers: nn.Sequential, specs: List[Any], input_dim: int, task: str, output_dim: int) -> List[int]:
    """Forward 2 rows layer by layer (eval mode, CPU) and name the layer that does not fit."""
    was_training = layers.training
    layers.eval()
    x = torch.zeros(2, input_dim)
    try:
        with torch.no_grad():
            for i, layer in enumerate(layers):
                before = list(x.shape)
                try:
                    x = layer(x)
                except Exception as e:
                    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise invalid_spec(f"layer {i} ({specs[i].get('type')}) does not fit its input "
                                       f"of shape [batch, {', '.join(map(str, before[1:]))}]: {msg}")
    finally:
        layers.train(was_training)
    want = expected_output_shape(task, output_dim)
    if tuple(x.shape) != want:
        got = "[batch" + "".join(f", {d}" for d in x.shape[1:]) + "]"
        raise invalid_spec(f"the last layer ({len(specs) - 1}, {specs[-1].get('type')}) outputs {got} "
                           f"but {task} needs [batch, {want[1]}]")
    return list(x.shape[1:])


class ExportModel(nn.Module):
    """What model.onnx / model.pt compute: raw features in, probabilities or target units out."""

    def __init__(self, normalize: Standardize, layers: nn.Sequential, task: str,
                 target_mean: Optional[float] = None, target_std: Optional[float] = None):
        super().__init__()
        self.normalize = normalize
        self.layers = layers
        self.task = task
        self.destandardize = target_mean is not None
        if self.destandardize:
            self.register_buffer("target_mean", torch.tensor(float(target_mean)))
            self.register_buffer("target_std", torch.tensor(float(target_std)))

    def forward(self, features):
        z = self.layers(self.normalize(features))
        if self.task == "binary_classification":
            return torch.sigmoid(z)
        if self.task == "multiclass_classification":
            return torch.softmax(z, dim=1)
        if self.destandardize:
            return z * self.target_std + self.target_mean
        return z


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
