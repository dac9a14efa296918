"""Opening the prepared .npy tensors: memory-mapped and checked in one front-to-back scan; the
training loop then reads them batch by batch (stream.py), standardising each batch as it goes."""

import os
from dataclasses import dataclass

import numpy as np
import torch

from .errors import bad_data
from .spec import Job
from .stream import SCAN_ROWS, MappedSplit


@dataclass
class Data:
    train: MappedSplit
    val: MappedSplit
    reference_x: np.ndarray  # the first reference_rows raw val rows, float32


def _load(job: Job, key: str) -> np.ndarray:
    path = os.path.join(job.job_dir, job.data[key])
    if not os.path.isfile(path):
        raise bad_data(f"data.{key}: {path} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise bad_data(f"data.{key}: {path} is not a readable .npy file ({e})")


def _check_y(job: Job, which: str, yv: np.ndarray) -> None:
    if job.task == "multiclass_classification":
        if np.issubdtype(yv.dtype, np.floating):
            if not np.all(np.isfinite(yv)) or not np.all(yv == np.round(yv)):
                raise bad_data(f"data.{which}_y must hold integer class indices for multiclass_classification")
        elif not np.issubdtype(yv.dtype, np.integer):
            raise bad_data(f"data.{which}_y has dtype {yv.dtype}; expected int64 class indices")
        if yv.size and (int(yv.min()) < 0 or int(yv.max()) >= job.output_dim):
            raise bad_data(f"data.{which}_y has class index {int(yv.min()) if int(yv.min()) < 0 else int(yv.max())} "
                           f"outside 0..{job.output_dim - 1} ({len(job.classes)} classes)")
        return
    if not (np.issubdtype(yv.dtype, np.floating) or np.issubdtype(yv.dtype, np.integer)):
        raise bad_data(f"data.{which}_y has dtype {yv.dtype}; expected float32")
    if not np.all(np.isfinite(yv)):
        raise bad_data(f"data.{which}_y contains NaN or infinite values; rows with a missing target must be left out")
    if job.task == "binary_classification" and not np.all((yv == 0) | (yv == 1)):
        raise bad_data(f"data.{which}_y must be 0 or 1 (index into classes) for binary_classification")


def _split(job: Job, which: str, keep_raw: int = 0):
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
    # One scan in bounded chunks checks every value, so training never meets a bad one halfway.
    for start in range(0, n, SCAN_ROWS):
        chunk = np.asarray(xa[start:start + SCAN_ROWS])
        finite = np.isfinite(chunk)
        if not finite.all():
            bad = start + int(np.flatnonzero(~finite.all(axis=1))[0])
            raise bad_data(f"data.{which}_x contains NaN or infinite values (first at row {bad}); "
                           "missing values must be imputed before training")
        _check_y(job, which, np.asarray(ya[start:start + SCAN_ROWS]).reshape(-1))
    raw = np.array(xa[:keep_raw], dtype=np.float32) if keep_raw else None
    target = job.task == "regression" and job.target_mean is not None
    split = MappedSplit(xa, ya, n, torch.as_tensor(job.mean, dtype=torch.float32), torch.as_tensor(job.std, dtype=torch.float32),
                        job.task == "multiclass_classification",
                        job.target_mean if target else None, job.target_std if target else None)
    return split, raw


def load_data(job: Job) -> Data:
    train, _ = _split(job, "train")
    val, raw = _split(job, "val", keep_raw=job.reference_rows)
    if train.rows == 0:
        raise bad_data("the training split has no rows")
    if val.rows == 0:
        raise bad_data("the validation split has no rows; the best epoch is chosen on it")
    return Data(train, val, raw)
