"""Writes small synthetic (or given) jobs to a folder, as the platform would."""

import json
import os
import subprocess
import sys

import numpy as np

TRAINER_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the interpreter running the tests (the suite runs /usr/bin/python3; a GPU machine may keep torch elsewhere)
PYTHON = os.environ.get("TRAINYARD_PYTHON") or sys.executable


def mlp(input_dim, output_dim, hidden=16):
    return [{"type": "Linear", "in_features": input_dim, "out_features": hidden}, {"type": "ReLU"},
            {"type": "Linear", "in_features": hidden, "out_features": output_dim}]


def synthetic(task, rows, input_dim, classes=3, seed=0, offset=5.0, scale=3.0):
    """Raw (not standardised) features with a learnable signal."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, input_dim)).astype(np.float32)
    w = rng.normal(size=(input_dim,)).astype(np.float32)
    x = (z * scale + offset).astype(np.float32)
    if task == "binary_classification":
        y = (z @ w + 0.3 * rng.normal(size=rows) > 0).astype(np.float32)
    elif task == "multiclass_classification":
        W = rng.normal(size=(input_dim, classes)).astype(np.float32)
        y = np.argmax(z @ W, axis=1).astype(np.int64)
    else:
        y = (100 + 20 * (z @ w) + rng.normal(size=rows)).astype(np.float32)
    return x, y


def write_job(job_dir, task="binary_classification", rows=200, val_rows=64, input_dim=6, layers=None,
              classes=None, hyper=None, x=None, y=None, val_x=None, val_y=None, **extra):
    os.makedirs(job_dir, exist_ok=True)
    n_classes = len(classes) if classes else 3
    if x is None:
        x_all, y_all = synthetic(task, rows + val_rows, input_dim, classes=n_classes)
        x, y, val_x, val_y = x_all[:rows], y_all[:rows], x_all[rows:], y_all[rows:]
    input_dim = x.shape[1]
    output_dim = n_classes if task == "multiclass_classification" else 1
    if classes is None and task != "regression":
        classes = ["0", "1"] if task == "binary_classification" else [f"c{i}" for i in range(n_classes)]
    for name, arr in (("train_x", x), ("train_y", y), ("val_x", val_x), ("val_y", val_y)):
        np.save(os.path.join(job_dir, f"{name}.npy"), arr)
    target_norm = None
    if task == "regression":
        target_norm = {"mean": float(y.mean()), "std": float(y.std() or 1.0)}
    # resolved hyperparameters, as the platform writes them (contracts/trainer-job.schema.json):
    # every field present, the optimizer's lr, momentum and weight_decay and early stopping's fields filled in
    hp = {"epochs": 5, "batch_size": 32, "optimizer": {"type": "Adam", "lr": 0.01, "momentum": 0, "weight_decay": 0},
          "lr_scheduler": None, "loss": None, "validation_split": 0.2, "early_stopping": None, "seed": 42,
          "max_runtime_seconds": None, "checkpoint": {"enabled": True, "every_epochs": None, "every_seconds": 300}}
    hyper = dict(hyper or {})
    if "optimizer" in hyper:
        hyper["optimizer"] = {"lr": 0.001, "momentum": 0, "weight_decay": 0, **hyper["optimizer"]}
    if hyper.get("early_stopping"):
        hyper["early_stopping"] = {"monitor": "val_loss", "patience": 5, "min_delta": 0, **hyper["early_stopping"]}
    hp.update(hyper)
    job = {
        "task": task, "layers": layers if layers is not None else mlp(input_dim, output_dim),
        "input_dim": input_dim, "output_dim": output_dim,
        "normalization": {"mean": x.mean(0).astype(float).tolist(),
                          "std": [float(s) if s > 0 else 1.0 for s in x.std(0)]},
        "target_normalization": target_norm, "classes": classes if task != "regression" else None,
        "hyperparameters": hp, "threads": 1, "device": "cpu",
        "data": {"train_x": "train_x.npy", "train_y": "train_y.npy", "val_x": "val_x.npy", "val_y": "val_y.npy"},
        "output_dir": "artifacts", "reference_rows": 32,
        "checkpoint_dir": "checkpoints", "resume": [], "init_weights": None,
    }
    job.update(extra)
    with open(os.path.join(job_dir, "job.json"), "w") as f:
        json.dump(job, f)
    return job


def parse_events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run_trainer(job_dir, command="train", timeout=120, env=None):
    """Runs the real process, as the platform does. Returns (exit code, events, stderr)."""
    env = dict(os.environ, PYTHONPATH=TRAINER_ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **(env or {}))
    p = subprocess.run([PYTHON, "-m", "trainyard_trainer", command, "--job-dir", str(job_dir)],
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=TRAINER_ROOT)
    return p.returncode, parse_events(p.stdout), p.stderr
