"""Artifacts: model.onnx, model.pt (TorchScript), state_dict.pt, reference_outputs.npy; the
TorchScript model is checked against the eager export wrapper before anything is reported."""

import copy
import inspect
import io
import os
import warnings
from typing import List

import numpy as np
import torch
from torch import nn

from .errors import invalid_spec
from .network import ExportModel, Standardize
from .spec import Job

ONNX_OPSET = 14
TOLERANCE = 1e-5
# PyTorch >= 2.9 defaults to its torch.export-based ONNX exporter, which needs onnxscript and maps
# dynamic_axes only in part; asking for the TorchScript exporter keeps one graph on every version.
_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def export_wrapper(job: Job, layers: nn.Sequential) -> ExportModel:
    """A CPU, eval-mode copy of the network with normalisation and output activation."""
    model = ExportModel(Standardize(job.mean, job.std), copy.deepcopy(layers).cpu(), job.task,
                        job.target_mean, job.target_std)
    return model.eval()


def _onnx_export(model: nn.Module, example: torch.Tensor, target) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), target, input_names=["features"], output_names=["output"],
                          dynamic_axes={"features": {0: "batch"}, "output": {0: "batch"}},
                          opset_version=ONNX_OPSET, do_constant_folding=True, **_EXPORTER)


def check_onnx_exportable(job: Job, layers: nn.Sequential) -> None:
    """A trial export before training, so a network that cannot be served fails in seconds,
    not after the whole training run."""
    try:
        _onnx_export(export_wrapper(job, layers), torch.zeros(2, job.input_dim), io.BytesIO())
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = msg.split(" Please feel free")[0]
        raise invalid_spec(f"the network cannot be exported to ONNX (opset {ONNX_OPSET}): {msg}")


def export(job: Job, layers: nn.Sequential, reference_x: np.ndarray, log=lambda msg, level="info": None) -> List[str]:
    out = job.output_dir
    os.makedirs(out, exist_ok=True)
    model = export_wrapper(job, layers)
    ref = torch.from_numpy(np.ascontiguousarray(reference_x, dtype=np.float32))
    example = ref[:2] if ref.shape[0] >= 2 else torch.zeros(2, job.input_dim)
    artifacts = []

    # the network's own state_dict: keys as in nn.Sequential(*layers), e.g. "0.weight"
    torch.save(copy.deepcopy(layers).cpu().state_dict(), os.path.join(out, "state_dict.pt"))
    artifacts.append("state_dict.pt")

    _onnx_export(model, example, os.path.join(out, "model.onnx"))
    artifacts.insert(0, "model.onnx")

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (example,), check_trace=False)
    pt_path = os.path.join(out, "model.pt")
    traced.save(pt_path)
    artifacts.insert(1, "model.pt")

    if hasattr(torch, "export") and hasattr(torch.export, "export"):  # torch >= 2.1
        try:
            ep = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
            torch.export.save(ep, os.path.join(out, "model.pt2"))
            artifacts.insert(2, "model.pt2")
        except Exception as e:  # optional artifact: never fail the job for it
            log(f"model.pt2 (torch.export) was not written: {e}", "warning")

    with torch.no_grad():
        expected = model(ref) if ref.shape[0] else torch.zeros(0, 1)
    np.save(os.path.join(out, "reference_outputs.npy"), expected.numpy().astype(np.float32))
    artifacts.append("reference_outputs.npy")

    # the saved TorchScript must reproduce the eager wrapper, at other batch sizes too
    loaded = torch.jit.load(pt_path)
    with torch.no_grad():
        for rows in sorted({ref.shape[0], 1, 3}):
            if rows == 0 or rows > ref.shape[0]:
                continue
            got = loaded(ref[:rows])
            if got.shape != expected[:rows].shape or not torch.allclose(got, expected[:rows], atol=TOLERANCE, rtol=TOLERANCE):
                diff = (got - expected[:rows]).abs().max().item() if got.shape == expected[:rows].shape else "shape"
                raise RuntimeError(f"model.pt does not reproduce the eager model on {rows} rows (max diff {diff})")
    return artifacts
