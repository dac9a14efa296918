"""job.json: parsed and validated into a frozen Job. Every problem is an INVALID_SPEC naming the field."""

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import contracts
from .errors import invalid_spec

# job.json's grammar is the platform's (contracts/trainer-job.schema.json); the layers in it are
# checked one by one by network.py, against the same file, so that messages name the layer.
JOB_SCHEMA = contracts.load("trainer-job")
_JOB_WITHOUT_LAYERS = contracts.without(JOB_SCHEMA, "layers")
TASK_METRICS = {
    "binary_classification": ("loss", "accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass_classification": ("loss", "accuracy", "macro_f1"),
    "regression": ("loss", "rmse", "mae", "r2"),
}
MIN_MODE_METRICS = {"loss", "rmse", "mae"}


@dataclass(frozen=True)
class Monitor:
    name: str  # e.g. "val_loss"
    split: str  # "val" | "train"
    metric: str  # "loss"
    mode: str  # "min" | "max"

    def improved(self, value, best, min_delta: float = 0.0) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if best is None:
            return True
        return value < best - min_delta if self.mode == "min" else value > best + min_delta


@dataclass(frozen=True)
class Job:
    job_dir: str
    task: str
    layers: List[Dict[str, Any]]
    input_dim: int
    output_dim: int
    mean: List[float]
    std: List[float]
    target_mean: Optional[float]
    target_std: Optional[float]
    classes: Optional[List[str]]
    epochs: int
    batch_size: int
    optimizer: Dict[str, Any]
    lr_scheduler: Optional[Dict[str, Any]]
    loss: str
    early_stopping: Optional[Dict[str, Any]]
    monitor: Monitor  # picks the exported (best) epoch; early_stopping.monitor, else val_loss
    seed: int
    max_runtime_seconds: Optional[float]
    threads: int
    device: str
    data: Dict[str, str]
    output_dir: str
    reference_rows: int
    checkpoint: Dict[str, Any]  # hyperparameters.checkpoint: enabled, every_epochs, every_seconds
    checkpoint_dir: str  # absolute
    resume: List[Dict[str, str]]  # earlier attempts' checkpoints, newest first: {file, sha256}
    init_weights: Optional[str]  # warm start: an absolute path to a state_dict.pt, or None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_monitor(name: Any, task: str, where: str) -> Monitor:
    if not isinstance(name, str) or not name:
        raise invalid_spec(f"{where} must be a metric name such as 'val_loss', got {name!r}")
    split, metric = ("val", name)
    for prefix in ("val_", "train_"):
        if name.startswith(prefix):
            split, metric = prefix[:-1], name[len(prefix):]
    if metric not in TASK_METRICS[task]:
        allowed = ", ".join(f"val_{m}" for m in TASK_METRICS[task])
        raise invalid_spec(f"{where} {name!r} is not a metric of {task}; use one of {allowed} (or train_*)")
    return Monitor(f"{split}_{metric}", split, metric, "min" if metric in MIN_MODE_METRICS else "max")


def read_threads_early(job_dir: str) -> Optional[int]:
    """The thread count, read before torch is imported (BLAS reads its env vars at load)."""
    try:
        with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
            t = json.load(f).get("threads")
        return t if _is_int(t) and t > 0 else None
    except Exception:  # the real parse reports problems
        return None


def load_job(job_dir: str) -> Job:
    path = os.path.join(job_dir, "job.json")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise invalid_spec(f"{path} does not exist")
    except ValueError as e:
        raise invalid_spec(f"{path} is not valid JSON: {e}")
    return parse_job(raw, job_dir)


def parse_job(raw: Any, job_dir: str = ".") -> Job:
    if not isinstance(raw, dict):
        raise invalid_spec(f"job.json must be an object, got {raw!r}")
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise invalid_spec("layers must be a non-empty list of {type, ...args} objects")
    problem = contracts.check(_JOB_WITHOUT_LAYERS, raw)
    if problem:
        raise invalid_spec(problem)

    # What the schema cannot say: sizes that must agree, and metrics that must exist for the task.
    task = raw["task"]
    input_dim, output_dim = raw["input_dim"], raw["output_dim"]
    mean, std = raw["normalization"]["mean"], raw["normalization"]["std"]
    for name, vec in (("mean", mean), ("std", std)):
        if len(vec) != input_dim:
            raise invalid_spec(f"normalization.{name} must be a list of {input_dim} finite numbers (input_dim), got {len(vec)}")

    target_mean = target_std = None
    tn = raw["target_normalization"]
    if tn is not None:
        if task != "regression":
            raise invalid_spec("target_normalization is only for regression")
        target_mean, target_std = float(tn["mean"]), float(tn["std"])

    classes = raw["classes"]
    if task == "regression":
        if output_dim != 1:
            raise invalid_spec(f"regression needs output_dim 1, got {output_dim}")
        classes = None
    else:
        if classes is None:
            raise invalid_spec(f"{task} needs classes: a list of label strings")
        if task == "binary_classification":
            if len(classes) != 2:
                raise invalid_spec(f"binary_classification needs exactly 2 classes, got {len(classes)}")
            if output_dim != 1:
                raise invalid_spec(f"binary_classification needs output_dim 1 (one logit), got {output_dim}")
        elif output_dim != len(classes):
            raise invalid_spec(f"multiclass_classification with {len(classes)} classes needs "
                               f"output_dim {len(classes)}, got {output_dim}")

    hp = raw["hyperparameters"]
    w = "hyperparameters."
    opt = dict(hp["optimizer"])

    sched = hp["lr_scheduler"]
    if sched is not None:
        sched = dict(sched)
        if sched["type"] == "ReduceLROnPlateau":
            sched["monitor"] = parse_monitor(sched["monitor"], task, f"{w}lr_scheduler.monitor")

    loss = hp["loss"]
    if task == "regression":
        loss = loss or "mse"
    else:
        if loss is not None:
            raise invalid_spec(f"{w}loss is only selectable for regression; {task} uses "
                               f"{'BCEWithLogitsLoss' if task == 'binary_classification' else 'CrossEntropyLoss'}")
        loss = "bce" if task == "binary_classification" else "cross_entropy"

    es = hp["early_stopping"]
    monitor = parse_monitor("val_loss", task, "")
    if es is not None:
        es = dict(es)
        monitor = parse_monitor(es["monitor"], task, f"{w}early_stopping.monitor")
        es["monitor"] = monitor.name

    threads = raw["threads"] or os.cpu_count() or 1
    max_runtime = hp["max_runtime_seconds"]

    return Job(
        job_dir=job_dir, task=task, layers=layers, input_dim=input_dim, output_dim=output_dim,
        mean=[float(v) for v in mean], std=[float(v) for v in std],
        target_mean=target_mean, target_std=target_std, classes=classes,
        epochs=hp["epochs"], batch_size=hp["batch_size"], optimizer=opt, lr_scheduler=sched, loss=loss,
        early_stopping=es, monitor=monitor, seed=hp["seed"],
        max_runtime_seconds=float(max_runtime) if max_runtime is not None else None,
        threads=threads, device=raw["device"], data=dict(raw["data"]),
        output_dir=os.path.join(job_dir, raw["output_dir"]), reference_rows=raw["reference_rows"],
        checkpoint=dict(hp["checkpoint"]), checkpoint_dir=os.path.join(job_dir, raw["checkpoint_dir"]),
        resume=[dict(r) for r in raw["resume"]],
        init_weights=os.path.join(job_dir, raw["init_weights"]) if raw["init_weights"] else None,
    )
