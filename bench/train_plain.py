#!/usr/bin/env python3
"""The hand-written PyTorch baseline for bench/train (issue 3): the same training as the platform
job, on the same tensors, written as a PyTorch expert would, with no platform code.

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_plain.py --job-dir DIR

DIR is a prepared training-job folder (job.json + train_x.npy/train_y.npy as the platform writes
them). It reads the model (Linear/ReLU stack, e.g. 32-64-64-1), batch size, epochs, optimizer,
seed and thread count from job.json (override with --epochs/--batch-size/--threads), standardises
the features once with job.json's statistics, then trains a binary classifier with
BCEWithLogitsLoss and Adam, batches by slicing a tensor shuffled each epoch. No validation, no
metrics, no export: the per-epoch figures are pure training. Prints one JSON object.
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job-dir", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args()
    t_start = time.monotonic()

    with open(os.path.join(args.job_dir, "job.json")) as f:
        job = json.load(f)
    hp = job.get("hyperparameters") or {}
    threads = args.threads or job.get("threads") or 1
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))  # before torch loads its BLAS

    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    epochs = args.epochs or hp.get("epochs") or 5
    batch_size = args.batch_size or hp.get("batch_size") or 256
    opt = hp.get("optimizer") or {}
    lr = opt.get("lr") or 1e-3
    seed = hp.get("seed", 42)
    torch.manual_seed(seed)

    layers = []
    for spec in job["layers"]:
        if spec["type"] == "Linear":
            layers.append(nn.Linear(spec["in_features"], spec["out_features"], bias=spec.get("bias", True)))
        elif spec["type"] == "ReLU":
            layers.append(nn.ReLU())
        else:
            sys.exit(f"train_plain.py handles Linear/ReLU stacks only, not {spec['type']}")
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    model = nn.Sequential(*layers).to(device)

    t0 = time.monotonic()
    data = job["data"]
    x = torch.from_numpy(np.array(np.load(os.path.join(args.job_dir, data["train_x"]), mmap_mode="r"), dtype=np.float32))
    y = torch.from_numpy(np.array(np.load(os.path.join(args.job_dir, data["train_y"]), mmap_mode="r"), dtype=np.float32)).reshape(-1, 1)
    norm = job["normalization"]
    x.sub_(torch.tensor(norm["mean"])).div_(torch.tensor(norm["std"]))
    x, y = x.to(device), y.to(device)
    load_seconds = time.monotonic() - t0

    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator()
    gen.manual_seed(seed)
    n = x.shape[0]
    epoch_seconds, epoch_losses = [], []
    t_train = time.monotonic()
    for _ in range(epochs):
        t0 = time.monotonic()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        xs, ys = x[perm], y[perm]
        total = torch.zeros((), device=device) if on_cuda else 0.0
        for i in range(0, n, batch_size):
            xb, yb = xs[i:i + batch_size], ys[i:i + batch_size]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_cuda:
                total += loss.detach() * xb.shape[0]  # summed on the GPU: no sync per batch
            else:
                total += loss.item() * xb.shape[0]
        epoch_losses.append(float(total) / n)  # (on CUDA, waits for the epoch's kernels)
        epoch_seconds.append(round(time.monotonic() - t0, 4))
    train_seconds = time.monotonic() - t_train

    print(json.dumps({
        "script": "bench/train_plain.py", "torch_version": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "rows": n, "features": x.shape[1], "batch_size": batch_size, "epochs": epochs, "lr": lr,
        "epoch_seconds": epoch_seconds, "epoch_losses": epoch_losses,
        "load_seconds": round(load_seconds, 4), "train_seconds": round(train_seconds, 4),
        "total_seconds": round(time.monotonic() - t_start, 4),
    }))


if __name__ == "__main__":
    main()
