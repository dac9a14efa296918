"""Loading the prepared .npy tensors: checked, copied once into torch, standardised in place
(once, instead of per batch), and moved once to the training device."""

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .errors import bad_data
from .spec import Job


@dataclass
class Split:
    x: torch.Tensor  # [n, input_dim] float32, standardised, on the device
    y: torch.Tensor  # binary/regression: [n, 1] float32 (regression standardised if asked); multiclass: [n] int64
    rows: int


@dataclass
class Data:
    train: Split
    val: Split
    reference_x: np.ndarray  # the first reference_rows raw val rows, float32


def _load(job: Job, key: str) -> np.ndarray:
    path = os.path.join(job.job_dir, job.data[key])
    if not os.path.isfile(path):
        raise bad_data(f"data.{key}: {path} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise bad_data(f"data.{key}: {path} is not a readable .npy file ({e})")


def _split(job: Job, which: str, device: torch.device, keep_raw: int = 0):
    xa = _load(job, f"{which}_x")
    ya = _load(job, f"{which}_y")
    if xa.ndim != 2 or xa.shape[1] != job.input_dim:
        raise bad_data(f"data.{which}_x has shape {list(xa.shape)}; expected [rows, {job.input_dim}] (input_dim)")
    if ya.ndim != 1 and not (ya.ndim == 2 and ya.shape[1] == 1):
        raise bad_data(f"data.{which}_y has shape {list(ya.shape)}; expected [rows]")
    if ya.shape[0] != xa.shape[0]:
        raise bad_data(f"data.{which}_x has {xa.shape[0]} rows but data.{which}_y has {ya.shape[0]}")
    if not (np.issubdtype(xa.dtype, np.floating) or np.issubdtype(xa.dtype, np.integer)):
        raise bad_data(f"data.{which}_x has dtype {xa.dtype}; expected float32")
    n = xa.shape[0]
    raw = np.array(xa[:keep_raw], dtype=np.float32) if keep_raw else None

    x = torch.from_numpy(np.array(xa, dtype=np.float32, order="C"))  # the one copy out of the mmap
    if not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).any(dim=1).nonzero()[0, 0].item()
        raise bad_data(f"data.{which}_x contains NaN or infinite values (first at row {bad}); "
                       "missing values must be imputed before training")
    x.sub_(torch.as_tensor(job.mean)).div_(torch.as_tensor(job.std))

    yv = np.asarray(ya).reshape(-1)
    if job.task == "multiclass_classification":
        if np.issubdtype(yv.dtype, np.floating):
            if not np.all(np.isfinite(yv)) or not np.all(yv == np.round(yv)):
                raise bad_data(f"data.{which}_y must hold integer class indices for multiclass_classification")
        elif not np.issubdtype(yv.dtype, np.integer):
            raise bad_data(f"data.{which}_y has dtype {yv.dtype}; expected int64 class indices")
        y = torch.from_numpy(np.array(yv, dtype=np.int64))
        if n and (int(y.min()) < 0 or int(y.max()) >= job.output_dim):
            raise bad_data(f"data.{which}_y has class index {int(y.min()) if int(y.min()) < 0 else int(y.max())} "
                           f"outside 0..{job.output_dim - 1} ({len(job.classes)} classes)")
    else:
        if not (np.issubdtype(yv.dtype, np.floating) or np.issubdtype(yv.dtype, np.integer)):
            raise bad_data(f"data.{which}_y has dtype {yv.dtype}; expected float32")
        y = torch.from_numpy(np.array(yv, dtype=np.float32)).reshape(-1, 1)
        if not bool(torch.isfinite(y).all()):
            raise bad_data(f"data.{which}_y contains NaN or infinite values; rows with a missing target must be left out")
        if job.task == "binary_classification":
            if not bool(((y == 0) | (y == 1)).all()):
                raise bad_data(f"data.{which}_y must be 0 or 1 (index into classes) for binary_classification")
        elif job.target_mean is not None:
            y.sub_(job.target_mean).div_(job.target_std)
    return Split(x.to(device), y.to(device), n), raw


def load_data(job: Job, device: torch.device) -> Data:
    train, _ = _split(job, "train", device)
    val, raw = _split(job, "val", device, keep_raw=job.reference_rows)
    if train.rows == 0:
        raise bad_data("the training split has no rows")
    if val.rows == 0:
        raise bad_data("the validation split has no rows; the best epoch is chosen on it")
    return Data(train, val, raw)
