"""The trainer's CUDA path. These run where PyTorch sees a GPU (the CPU-only CI skips them, apart
from the fallback test at the end); docs/benchmarks.md records where and when they last ran."""

import json
import os

import numpy as np
import pytest
import torch

import jobs
from test_train import IMAGE_LAYERS, artifacts, check_exports

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch sees no CUDA device here")

BATCHNORM_DROPOUT = [
    {"type": "Linear", "in_features": 6, "out_features": 128}, {"type": "BatchNorm1d", "num_features": 128},
    {"type": "ReLU"}, {"type": "Dropout", "p": 0.1}, {"type": "Linear", "in_features": 128, "out_features": 1},
]


def summary(job_dir):
    with open(os.path.join(artifacts(job_dir), "trainer.json")) as f:
        return json.load(f)


@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "auto"])
@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification", "regression"])
def test_trains_on_the_gpu_and_exports_cpu_artifacts(tmp_path, train_in_process, task, device):
    job = jobs.write_job(tmp_path, task=task, rows=400, val_rows=100, hyper={"epochs": 6}, device=device)
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    assert run.one("started")["device"] == "cuda"
    epochs = run.of("epoch")
    assert len(epochs) == 6 and epochs[-1]["val"]["loss"] < epochs[0]["val"]["loss"]
    assert summary(tmp_path)["device"] == "cuda"
    check_exports(tmp_path, job)  # TorchScript and state_dict load and agree on a CPU-only reader


@needs_cuda
@pytest.mark.parametrize("layers", [None, IMAGE_LAYERS], ids=["mlp", "conv"])
def test_cuda_and_cpu_runs_agree(tmp_path, train_in_process, layers):
    """Same seed, same initial weights (built on the CPU), same shuffles (a CPU generator): the two
    devices differ only by float rounding."""
    task = "multiclass_classification"
    x, y = jobs.synthetic(task, 500, 64 if layers else 6, classes=3)
    runs = {}
    for device in ("cpu", "cuda"):
        d = tmp_path / device
        jobs.write_job(d, task=task, layers=layers, x=x[:400], y=y[:400], val_x=x[400:], val_y=y[400:],
                       hyper={"epochs": 4}, device=device)
        runs[device] = train_in_process(d)
        assert runs[device].code == 0, runs[device].events
    cpu, gpu = ([e["val"]["loss"] for e in runs[dev].of("epoch")] for dev in ("cpu", "cuda"))
    np.testing.assert_allclose(gpu, cpu, rtol=2e-3)
    np.testing.assert_allclose(np.load(os.path.join(artifacts(tmp_path / "cuda"), "reference_outputs.npy")),
                               np.load(os.path.join(artifacts(tmp_path / "cpu"), "reference_outputs.npy")),
                               atol=2e-3)


@needs_cuda
def test_a_non_finite_loss_on_cuda_names_the_same_batch_as_on_cpu(tmp_path, train_in_process):
    """On CUDA the loss is checked every 64 batches (no sync per batch); the error must still name
    the first bad batch. One target of 3e38 (no target normalisation) squares to inf in exactly the
    batch that holds its row: batch 101 of epoch 1, in the second group of 64."""
    x, y = jobs.synthetic("regression", 3064, 6)
    gen = torch.Generator()
    gen.manual_seed(42)  # the trainer's shuffle: a CPU generator seeded with the job's seed
    y[int(torch.randperm(3000, generator=gen)[8 * 100 + 3])] = 3e38
    messages = {}
    for device in ("cpu", "cuda"):
        jobs.write_job(tmp_path / device, task="regression", x=x[:3000], y=y[:3000], val_x=x[3000:],
                       val_y=y[3000:], device=device, target_normalization=None, hyper={"batch_size": 8})
        run = train_in_process(tmp_path / device)
        assert run.code == 3, run.events
        messages[device] = run.one("failed")
        assert messages[device]["code"] == "NAN_LOSS"
    assert "at epoch 1 batch 101;" in messages["cpu"]["message"]
    assert messages["cuda"]["message"] == messages["cpu"]["message"]


@needs_cuda
def test_early_stopping_with_batchnorm_and_dropout_exports_the_best_epoch(tmp_path, train_in_process):
    """Noise labels: the network overfits, early stopping fires, and the exported model (built on
    the CPU from a CUDA state_dict, BatchNorm statistics included) gives the best epoch's val loss."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = rng.integers(0, 2, size=300).astype(np.float32)
    job = jobs.write_job(tmp_path, x=x[:200], y=y[:200], val_x=x[200:], val_y=y[200:], layers=BATCHNORM_DROPOUT,
                         reference_rows=1000, device="cuda",
                         hyper={"epochs": 60, "batch_size": 16,
                                "early_stopping": {"monitor": "val_loss", "patience": 3, "min_delta": 0}})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    done = run.one("completed")
    losses = [e["val"]["loss"] for e in run.of("epoch")]
    assert done["stopped_early"] is True and done["best_epoch"] == int(np.argmin(losses)) + 1
    p = np.load(os.path.join(artifacts(tmp_path), "reference_outputs.npy")).reshape(-1).astype(np.float64)
    bce = -np.mean(y[200:] * np.log(p) + (1 - y[200:]) * np.log(1 - p))
    assert abs(bce - min(losses)) < 1e-4
    check_exports(tmp_path, job)


@needs_cuda
def test_gpu_out_of_memory_is_a_user_error_with_advice(tmp_path):
    """One batch of 200,000 rows through a 131,072-wide layer wants ~100 GiB per activation."""
    layers = [{"type": "Linear", "in_features": 6, "out_features": 131072}, {"type": "ReLU"},
              {"type": "Linear", "in_features": 131072, "out_features": 1}]
    jobs.write_job(tmp_path, task="regression", rows=200_000, val_rows=16, layers=layers, device="cuda",
                   hyper={"batch_size": 200_000, "epochs": 1})
    code, events, stderr = jobs.run_trainer(tmp_path, timeout=300)
    assert code == 3, stderr
    failed = events[-1]
    assert failed["event"] == "failed" and failed["code"] == "OUT_OF_MEMORY", events
    assert "lower batch_size" in failed["message"]
    assert not os.path.exists(os.path.join(artifacts(tmp_path), "model.onnx"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback where there is no CUDA")
def test_cuda_asked_for_without_a_gpu_trains_on_cpu_with_a_warning(tmp_path, train_in_process):
    jobs.write_job(tmp_path, hyper={"epochs": 1}, device="cuda")
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    assert run.one("started")["device"] == "cpu"
    assert any(e["level"] == "warning" and "CUDA is not available" in e["message"] for e in run.of("log"))
