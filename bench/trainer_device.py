#!/usr/bin/env python3
"""The trainer on a GPU, against the CPU and against the hand-written script on the same device.

  python3 bench/trainer_device.py [--rows 1000000] [--epochs 3] [--batch-sizes 256,4096]

Writes one synthetic training-job folder (ROWS x 32 features, binary, the bench/train MLP
32-64-64-1, Adam lr 1e-3) as the platform would, then for each batch size and each device
(cuda where PyTorch sees one, and cpu with 1 thread, as a local job runs) runs:
  - the real trainer process (`python -m trainyard_trainer train`): validation, metrics, export;
  - bench/train_plain.py on the same folder: the training loop alone.
It prints one line per run and a table of median per-epoch training seconds (epochs after the
first, which pays CUDA's start-up), with trainer/script and cpu/cuda ratios. Run with the Python
that has PyTorch (/usr/bin/python3 on Debian; plain python3 on the GPU machines).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "trainer", "tests"))
import jobs  # noqa: E402  (the trainer tests' job writer: the folder layout the platform writes)


def run(cmd, env):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout, time.monotonic() - t0


def steady(seconds):
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-sizes", default="256,4096")
    args = ap.parse_args()

    import torch
    devices = (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, GPU: {gpu}, CPU cores: {os.cpu_count()}, rows: {args.rows}, epochs: {args.epochs}")

    x, y = jobs.synthetic("binary_classification", args.rows + args.rows // 10, 32)
    layers = [{"type": "Linear", "in_features": 32, "out_features": 64}, {"type": "ReLU"},
              {"type": "Linear", "in_features": 64, "out_features": 64}, {"type": "ReLU"},
              {"type": "Linear", "in_features": 64, "out_features": 1}]
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "trainer"),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            for device in devices:
                job_dir = os.path.join(tmp, f"{device}-{bs}")
                jobs.write_job(job_dir, x=x[:args.rows], y=y[:args.rows], val_x=x[args.rows:], val_y=y[args.rows:],
                               layers=layers, device=device, reference_rows=32,
                               hyper={"epochs": args.epochs, "batch_size": bs,
                                      "optimizer": {"type": "Adam", "lr": 1e-3, "momentum": 0, "weight_decay": 0}})
                out, trainer_wall = run([sys.executable, "-m", "trainyard_trainer", "train", "--job-dir", job_dir], env)
                events = jobs.parse_events(out)
                epochs = [e for e in events if e["event"] == "epoch"]
                started = next(e for e in events if e["event"] == "started")
                out, script_wall = run([sys.executable, os.path.join(HERE, "train_plain.py"), "--job-dir", job_dir,
                                        "--device", device], env)
                plain = json.loads(out)
                row = {"batch_size": bs, "device": started["device"],
                       "trainer_epoch_train_s": steady([e["train_seconds"] for e in epochs]),
                       "trainer_epoch_total_s": steady([e["seconds"] for e in epochs]),
                       "script_epoch_s": steady(plain["epoch_seconds"]),
                       "trainer_wall_s": round(trainer_wall, 2), "script_wall_s": round(script_wall, 2),
                       "trainer_val_loss": epochs[-1]["val"]["loss"], "script_train_loss": plain["epoch_losses"][-1]}
                print(json.dumps(row), flush=True)
                rows.append(row)

    print("\nbatch | device | trainer epoch (train / with validation) | script epoch | trainer ÷ script | cpu ÷ cuda (trainer)")
    for r in rows:
        cpu = next((c for c in rows if c["batch_size"] == r["batch_size"] and c["device"] == "cpu"), None)
        speedup = f"{cpu['trainer_epoch_total_s'] / r['trainer_epoch_total_s']:.1f}x" if cpu and r["device"] != "cpu" else ""
        print(f"{r['batch_size']} | {r['device']} | {r['trainer_epoch_train_s']:.3f} / {r['trainer_epoch_total_s']:.3f} s | "
              f"{r['script_epoch_s']:.3f} s | {r['trainer_epoch_train_s'] / r['script_epoch_s']:.3f} | {speedup}")
    print(f"\nrerun: python3 bench/trainer_device.py --rows {args.rows} --epochs {args.epochs} --batch-sizes {args.batch_sizes}")


if __name__ == "__main__":
    main()
