"""The network: an allow-listed set of torch.nn layers built from the spec, a standardisation
module in front (so exported models take raw features) and the export wrapper (output activation,
target de-standardisation)."""

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

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


# ---- argument checking: PyTorch's argument names, JSON types -------------------------------

def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ints(k):
    """an int or a list of k ints (JSON has no tuples)"""
    def check(v):
        return _int(v) or (isinstance(v, list) and len(v) == k and all(_int(x) for x in v))
    return check, f"an integer or a list of {k} integers"


def _padding(k):
    base, desc = _ints(k)
    return (lambda v: base(v) or v in ("same", "valid")), f"{desc}, or 'same' / 'valid'"


def _output_size(k):
    def check(v):
        return _int(v) or (isinstance(v, list) and len(v) == k and all(x is None or _int(x) for x in v))
    return check, f"an integer or a list of {k} integers (or null)"


INT = (_int, "an integer")
NUM = (_num, "a number")
BOOL = (lambda v: isinstance(v, bool), "true or false")
OPT_NUM = (lambda v: v is None or _num(v), "a number or null")
OPT_INT = (lambda v: v is None or _int(v), "an integer or null")
SHAPE = (lambda v: _int(v) or (isinstance(v, list) and v and all(_int(x) for x in v)), "an integer or a list of integers")
SIZES = (lambda v: isinstance(v, list) and v and all(_int(x) for x in v), "a list of integers")
GELU_APPROX = (lambda v: v in ("none", "tanh"), "'none' or 'tanh'")
PADDING_MODE = (lambda v: v in ("zeros", "reflect", "replicate", "circular"), "'zeros', 'reflect', 'replicate' or 'circular'")
INPLACE = {"inplace": BOOL}  # accepted, always built with inplace=False (see README)


def _conv(k):
    ints = _ints(k)
    return ({"in_channels": INT, "out_channels": INT, "kernel_size": ints},
            {"stride": ints, "padding": _padding(k), "dilation": ints, "groups": INT, "bias": BOOL,
             "padding_mode": PADDING_MODE})


def _maxpool(k):
    ints = _ints(k)
    return {"kernel_size": ints}, {"stride": (lambda v: v is None or ints[0](v), ints[1] + " or null"),
                                   "padding": ints, "dilation": ints, "ceil_mode": BOOL}


def _avgpool(k):
    ints = _ints(k)
    opt = {"stride": (lambda v: v is None or ints[0](v), ints[1] + " or null"), "padding": ints,
           "ceil_mode": BOOL, "count_include_pad": BOOL}
    if k == 2:
        opt["divisor_override"] = OPT_INT
    return {"kernel_size": ints}, opt


# type -> (torch class or builder, required args, optional args). Nothing outside this table is built.
LAYERS: Dict[str, Tuple[Any, Dict[str, Any], Dict[str, Any]]] = {
    "Linear": (nn.Linear, {"in_features": INT, "out_features": INT}, {"bias": BOOL}),
    "ReLU": (nn.ReLU, {}, INPLACE),
    "LeakyReLU": (nn.LeakyReLU, {}, {"negative_slope": NUM, **INPLACE}),
    "ELU": (nn.ELU, {}, {"alpha": NUM, **INPLACE}),
    "GELU": (nn.GELU, {}, {"approximate": GELU_APPROX}),
    "SiLU": (nn.SiLU, {}, INPLACE),
    "Tanh": (nn.Tanh, {}, {}),
    "Sigmoid": (nn.Sigmoid, {}, {}),
    "Softplus": (nn.Softplus, {}, {"beta": NUM, "threshold": NUM}),
    "Dropout": (nn.Dropout, {}, {"p": NUM, **INPLACE}),
    "BatchNorm1d": (nn.BatchNorm1d, {"num_features": INT},
                    {"eps": NUM, "momentum": OPT_NUM, "affine": BOOL, "track_running_stats": BOOL}),
    "LayerNorm": (nn.LayerNorm, {"normalized_shape": SHAPE}, {"eps": NUM, "elementwise_affine": BOOL}),
    "Identity": (nn.Identity, {}, {}),
    "Flatten": (nn.Flatten, {}, {"start_dim": INT, "end_dim": INT}),
    "Unflatten": (Reshape, {"dim": INT, "unflattened_size": SIZES}, {}),
    "Conv1d": (nn.Conv1d, *_conv(1)),
    "Conv2d": (nn.Conv2d, *_conv(2)),
    "MaxPool1d": (nn.MaxPool1d, *_maxpool(1)),
    "MaxPool2d": (nn.MaxPool2d, *_maxpool(2)),
    "AvgPool1d": (nn.AvgPool1d, *_avgpool(1)),
    "AvgPool2d": (nn.AvgPool2d, *_avgpool(2)),
    "AdaptiveAvgPool1d": (nn.AdaptiveAvgPool1d, {"output_size": INT}, {}),
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, {"output_size": _output_size(2)}, {}),
}


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
    if not isinstance(ltype, str) or ltype not in LAYERS:
        raise invalid_spec(f"layer {index}: unknown layer type {ltype!r}; allowed: {', '.join(LAYERS)}")
    cls, required, optional = LAYERS[ltype]
    args = {k: v for k, v in spec.items() if k != "type"}
    for k in args:
        if k not in required and k not in optional:
            allowed = ", ".join(list(required) + list(optional)) or "none"
            raise invalid_spec(f"{where}: unknown argument {k!r}; allowed: {allowed}")
    for k in required:
        if k not in args:
            raise invalid_spec(f"{where}: missing argument {k!r}")
    for k, v in args.items():
        check, desc = required.get(k) or optional[k]
        if not check(v):
            raise invalid_spec(f"{where}: argument {k!r} must be {desc}, got {v!r}")
    for k in ("in_features", "out_features", "num_features", "in_channels", "out_channels", "groups"):
        if k in args and args[k] < 1:
            raise invalid_spec(f"{where}: argument {k!r} must be >= 1, got {args[k]}")
    if ltype == "Dropout" and not 0 <= args.get("p", 0.5) <= 1:
        raise invalid_spec(f"{where}: argument 'p' must be between 0 and 1, got {args['p']}")
    if "inplace" in args:  # in-place ops could overwrite the (pre-standardised) input batch
        args["inplace"] = False
    if ltype in ("Conv1d", "Conv2d") and isinstance(args.get("padding"), str):
        args["padding"] = _numeric_padding(where, ltype, args)
    kwargs = {k: _tuplify(v) for k, v in args.items()}
    try:
        return cls(**kwargs)
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
