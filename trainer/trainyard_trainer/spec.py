"""job.json: parsed and validated into a frozen Job. Every problem is an INVALID_SPEC naming the field."""

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import invalid_spec

TASKS = ("binary_classification", "multiclass_classification", "regression")
OPTIMIZERS = {
    # allowed keys per optimizer, PyTorch's names. `momentum` is accepted (and ignored when 0)
    # for Adam/AdamW because the platform always sends it.
    "SGD": {"lr", "momentum", "weight_decay", "nesterov", "dampening"},
    "Adam": {"lr", "momentum", "weight_decay", "betas", "eps", "amsgrad"},
    "AdamW": {"lr", "momentum", "weight_decay", "betas", "eps", "amsgrad"},
    "RMSprop": {"lr", "momentum", "weight_decay", "alpha", "eps", "centered"},
}
SCHEDULERS = {
    "StepLR": {"step_size", "gamma"},
    "CosineAnnealingLR": {"T_max", "eta_min"},
    "ReduceLROnPlateau": {"monitor", "factor", "patience", "threshold", "cooldown", "min_lr", "mode"},
}
LOSSES = {"mse", "l1", "huber"}
TASK_METRICS = {
    "binary_classification": ("loss", "accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass_classification": ("loss", "accuracy", "macro_f1"),
    "regression": ("loss", "rmse", "mae", "r2"),
}
MIN_MODE_METRICS = {"loss", "rmse", "mae"}
# hyperparameters the platform uses itself (data preparation); the trainer ignores them
PLATFORM_ONLY_HYPERPARAMETERS = {"validation_split"}
HYPERPARAMETERS = {"epochs", "batch_size", "optimizer", "lr_scheduler", "loss", "early_stopping",
                   "seed", "max_runtime_seconds"} | PLATFORM_ONLY_HYPERPARAMETERS


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
    ignored: List[str] = field(default_factory=list)  # keys ignored, for a warning


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _need_int(obj, key, where, minimum=None, default=None, required=False):
    if key not in obj or obj[key] is None:
        if required:
            raise invalid_spec(f"{where}{key} is required")
        return default
    v = obj[key]
    if not _is_int(v):
        raise invalid_spec(f"{where}{key} must be an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise invalid_spec(f"{where}{key} must be >= {minimum}, got {v}")
    return v


def _need_num(obj, key, where, minimum=None, positive=False, default=None, required=False):
    if key not in obj or obj[key] is None:
        if required:
            raise invalid_spec(f"{where}{key} is required")
        return default
    v = obj[key]
    if not _is_num(v):
        raise invalid_spec(f"{where}{key} must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise invalid_spec(f"{where}{key} must be > 0, got {v}")
    if minimum is not None and v < minimum:
        raise invalid_spec(f"{where}{key} must be >= {minimum}, got {v}")
    return float(v)


def _need_obj(v, where):
    if not isinstance(v, dict):
        raise invalid_spec(f"{where} must be an object, got {v!r}")
    return v


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
    raw = _need_obj(raw, "job.json")
    ignored = []

    task = raw.get("task")
    if task not in TASKS:
        raise invalid_spec(f"task must be one of {', '.join(TASKS)}, got {task!r}")

    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise invalid_spec("layers must be a non-empty list of {type, ...args} objects")

    input_dim = _need_int(raw, "input_dim", "", minimum=1, required=True)
    output_dim = _need_int(raw, "output_dim", "", minimum=1, required=True)

    norm = _need_obj(raw.get("normalization"), "normalization")
    mean, std = norm.get("mean"), norm.get("std")
    for name, vec in (("mean", mean), ("std", std)):
        if not isinstance(vec, list) or len(vec) != input_dim or not all(_is_num(v) for v in vec):
            raise invalid_spec(f"normalization.{name} must be a list of {input_dim} finite numbers (input_dim)")
    bad = [i for i, s in enumerate(std) if s <= 0]
    if bad:
        raise invalid_spec(f"normalization.std must be > 0 everywhere; column(s) {bad[:10]} are not")

    target_mean = target_std = None
    tn = raw.get("target_normalization")
    if tn is not None:
        tn = _need_obj(tn, "target_normalization")
        if task != "regression":
            raise invalid_spec("target_normalization is only for regression")
        target_mean = _need_num(tn, "mean", "target_normalization.", required=True)
        target_std = _need_num(tn, "std", "target_normalization.", positive=True, required=True)

    classes = raw.get("classes")
    if task == "regression":
        if output_dim != 1:
            raise invalid_spec(f"regression needs output_dim 1, got {output_dim}")
        classes = None
    else:
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise invalid_spec(f"{task} needs classes: a list of label strings")
        if task == "binary_classification":
            if len(classes) != 2:
                raise invalid_spec(f"binary_classification needs exactly 2 classes, got {len(classes)}")
            if output_dim != 1:
                raise invalid_spec(f"binary_classification needs output_dim 1 (one logit), got {output_dim}")
        else:
            if len(classes) < 2:
                raise invalid_spec("multiclass_classification needs at least 2 classes")
            if output_dim != len(classes):
                raise invalid_spec(f"multiclass_classification with {len(classes)} classes needs "
                                   f"output_dim {len(classes)}, got {output_dim}")

    hp = _need_obj(raw.get("hyperparameters") or {}, "hyperparameters")
    for k in hp:
        if k not in HYPERPARAMETERS:
            ignored.append(f"hyperparameters.{k}")
    w = "hyperparameters."
    epochs = _need_int(hp, "epochs", w, minimum=1, default=20)
    batch_size = _need_int(hp, "batch_size", w, minimum=1, default=64)
    seed = _need_int(hp, "seed", w, minimum=0, default=42)
    max_runtime = _need_num(hp, "max_runtime_seconds", w, positive=True)

    opt = dict(_need_obj(hp.get("optimizer") or {"type": "Adam"}, w + "optimizer"))
    otype = opt.get("type", "Adam")
    if otype not in OPTIMIZERS:
        raise invalid_spec(f"{w}optimizer.type must be one of {', '.join(OPTIMIZERS)}, got {otype!r}")
    ow = f"{w}optimizer."
    for k in opt:
        if k != "type" and k not in OPTIMIZERS[otype]:
            raise invalid_spec(f"{ow}{k} is not an argument of {otype}; allowed: {', '.join(sorted(OPTIMIZERS[otype]))}")
    for k in ("lr", "momentum", "weight_decay", "eps", "alpha", "dampening"):
        if k in opt and opt[k] is not None:
            _need_num(opt, k, ow, minimum=0.0, positive=(k in ("lr", "eps")))
    _need_num(opt, "lr", ow, positive=True)
    for k in ("nesterov", "amsgrad", "centered"):
        if k in opt and not isinstance(opt[k], bool):
            raise invalid_spec(f"{ow}{k} must be true or false, got {opt[k]!r}")
    if "betas" in opt:
        b = opt["betas"]
        if not (isinstance(b, list) and len(b) == 2 and all(_is_num(x) and 0 <= x < 1 for x in b)):
            raise invalid_spec(f"{ow}betas must be two numbers in [0, 1), got {b!r}")
    opt["type"] = otype

    sched = hp.get("lr_scheduler")
    if sched is not None:
        sched = dict(_need_obj(sched, w + "lr_scheduler"))
        stype = sched.get("type")
        sw = f"{w}lr_scheduler."
        if stype not in SCHEDULERS:
            raise invalid_spec(f"{sw}type must be one of {', '.join(SCHEDULERS)}, got {stype!r}")
        for k in sched:
            if k != "type" and k not in SCHEDULERS[stype]:
                raise invalid_spec(f"{sw}{k} is not an argument of {stype}; allowed: {', '.join(sorted(SCHEDULERS[stype]))}")
        if stype == "StepLR":
            _need_int(sched, "step_size", sw, minimum=1, required=True)
            _need_num(sched, "gamma", sw, positive=True)
        elif stype == "CosineAnnealingLR":
            _need_int(sched, "T_max", sw, minimum=1)
            _need_num(sched, "eta_min", sw, minimum=0.0)
        else:
            _need_num(sched, "factor", sw, positive=True)
            if "factor" in sched and sched["factor"] is not None and sched["factor"] >= 1:
                raise invalid_spec(f"{sw}factor must be < 1, got {sched['factor']}")
            _need_int(sched, "patience", sw, minimum=0)
            _need_int(sched, "cooldown", sw, minimum=0)
            _need_num(sched, "threshold", sw, minimum=0.0)
            _need_num(sched, "min_lr", sw, minimum=0.0)
            monitor = parse_monitor(sched.get("monitor") or "val_loss", task, sw + "monitor")
            if sched.get("mode") not in (None, monitor.mode):
                raise invalid_spec(f"{sw}mode for {monitor.name} is {monitor.mode!r}, got {sched.get('mode')!r}")
            sched["monitor"] = monitor

    loss = hp.get("loss")
    if task == "regression":
        loss = loss or "mse"
        if loss not in LOSSES:
            raise invalid_spec(f"{w}loss must be one of mse, l1, huber for regression, got {loss!r}")
    else:
        if loss is not None:
            raise invalid_spec(f"{w}loss is only selectable for regression; {task} uses "
                               f"{'BCEWithLogitsLoss' if task == 'binary_classification' else 'CrossEntropyLoss'}")
        loss = "bce" if task == "binary_classification" else "cross_entropy"

    es = hp.get("early_stopping")
    monitor = parse_monitor("val_loss", task, "")
    if es is not None:
        es = dict(_need_obj(es, w + "early_stopping"))
        ew = f"{w}early_stopping."
        for k in es:
            if k not in ("monitor", "patience", "min_delta", "mode"):
                raise invalid_spec(f"{ew}{k} is not known; allowed: monitor, patience, min_delta")
        monitor = parse_monitor(es.get("monitor") or "val_loss", task, ew + "monitor")
        if es.get("mode") not in (None, monitor.mode):
            raise invalid_spec(f"{ew}mode for {monitor.name} is {monitor.mode!r}, got {es.get('mode')!r}")
        es["patience"] = _need_int(es, "patience", ew, minimum=1, default=5)
        es["min_delta"] = _need_num(es, "min_delta", ew, minimum=0.0, default=0.0)
        es["monitor"] = monitor.name

    threads = raw.get("threads")
    if threads is None or threads == 0:
        threads = os.cpu_count() or 1
    elif not _is_int(threads) or threads < 0:
        raise invalid_spec(f"threads must be a positive integer, got {threads!r}")

    device = raw.get("device") or "auto"
    if device not in ("auto", "cpu", "cuda"):
        raise invalid_spec(f"device must be auto, cpu or cuda, got {device!r}")

    data = _need_obj(raw.get("data"), "data")
    for k in ("train_x", "train_y", "val_x", "val_y"):
        if not isinstance(data.get(k), str) or not data[k]:
            raise invalid_spec(f"data.{k} must be a file name")

    output_dir = raw.get("output_dir") or "artifacts"
    if not isinstance(output_dir, str):
        raise invalid_spec(f"output_dir must be a path, got {output_dir!r}")
    reference_rows = _need_int(raw, "reference_rows", "", minimum=0, default=256)

    return Job(
        job_dir=job_dir, task=task, layers=layers, input_dim=input_dim, output_dim=output_dim,
        mean=[float(v) for v in mean], std=[float(v) for v in std],
        target_mean=target_mean, target_std=target_std, classes=classes,
        epochs=epochs, batch_size=batch_size, optimizer=opt, lr_scheduler=sched, loss=loss,
        early_stopping=es, monitor=monitor, seed=seed, max_runtime_seconds=max_runtime,
        threads=threads, device=device, data=dict(data),
        output_dir=os.path.join(job_dir, output_dir), reference_rows=reference_rows, ignored=ignored,
    )
