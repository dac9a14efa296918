import json
import os

import numpy as np
import pytest
import torch
from torch import nn

import jobs
from trainyard_trainer.network import Reshape, build_layers

IMAGE_LAYERS = [
    {"type": "Unflatten", "dim": 1, "unflattened_size": [1, 8, 8]},
    {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
    {"type": "Linear", "in_features": 64, "out_features": 3},
]


def artifacts(job_dir):
    return os.path.join(job_dir, "artifacts")


def check_exports(job_dir, job):
    """model.pt and a hand-built eager model (state_dict + normalisation + head) reproduce
    reference_outputs.npy on the raw val rows."""
    out = artifacts(job_dir)
    for name in ("model.onnx", "model.pt", "state_dict.pt", "reference_outputs.npy", "trainer.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    ref = np.load(os.path.join(out, "reference_outputs.npy"))
    raw = np.load(os.path.join(job_dir, "val_x.npy"))[: job["reference_rows"]]
    assert ref.dtype == np.float32 and ref.shape[0] == raw.shape[0]

    scripted = torch.jit.load(os.path.join(out, "model.pt"))
    with torch.no_grad():
        got = scripted(torch.from_numpy(raw)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)

    # the state_dict loads into the spec's plain nn.Sequential (nn.Unflatten included)
    specs = [dict(s) for s in job["layers"]]
    plain = nn.Sequential(*[nn.Unflatten(s["dim"], tuple(s["unflattened_size"])) if s["type"] == "Unflatten"
                            else m for s, m in zip(specs, build_layers(specs))])
    plain.load_state_dict(torch.load(os.path.join(out, "state_dict.pt")))
    plain.eval()
    norm = job["normalization"]
    x = (torch.from_numpy(raw) - torch.tensor(norm["mean"])) / torch.tensor(norm["std"])
    with torch.no_grad():
        z = plain(x)
    if job["task"] == "binary_classification":
        expected = torch.sigmoid(z)
    elif job["task"] == "multiclass_classification":
        expected = torch.softmax(z, 1)
    else:
        tn = job["target_normalization"]
        expected = z * tn["std"] + tn["mean"] if tn else z
    np.testing.assert_allclose(expected.numpy(), ref, atol=1e-5, rtol=1e-5)
    with open(os.path.join(out, "model.onnx"), "rb") as f:
        onnx = f.read()
    assert b"features" in onnx and b"output" in onnx and b"batch" in onnx  # names and dynamic axis
    try:  # the Python ONNX Runtime is not a trainer dependency (the platform serves from Node, whose
        import onnxruntime  # parity tests run everywhere); where it is installed, check the graph too
    except ImportError:
        return ref
    session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["output"], {"features": raw})[0], ref, atol=1e-5, rtol=1e-4)
    return ref


@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification", "regression"])
def test_every_task_trains_and_exports(tmp_path, train_in_process, task):
    job = jobs.write_job(tmp_path, task=task, rows=400, val_rows=100, hyper={"epochs": 8})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    kinds = [e["event"] for e in run.events]
    assert kinds[0] == "started" and kinds[-2:] == ["exported", "completed"]
    epochs = run.of("epoch")
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    started = run.one("started")
    assert started["threads"] == 1 and started["device"] == "cpu" and started["parameters"] > 0
    assert started["train_rows"] == 400 and started["val_rows"] == 100
    want = {"binary_classification": {"loss", "accuracy", "precision", "recall", "f1", "roc_auc"},
            "multiclass_classification": {"loss", "accuracy", "macro_f1"},
            "regression": {"loss", "rmse", "mae", "r2"}}[task]
    assert set(epochs[-1]["train"]) == want and set(epochs[-1]["val"]) == want
    assert epochs[-1]["val"]["loss"] < epochs[0]["val"]["loss"]
    done = run.one("completed")
    assert done["truncated"] is False and done["epochs_run"] == 8
    assert done["metrics"]["val_loss"] == min(e["val"]["loss"] for e in epochs)
    ref = check_exports(tmp_path, job)
    if task == "binary_classification":
        assert ref.shape == (32, 1) and ((ref >= 0) & (ref <= 1)).all()
        assert done["metrics"]["val_accuracy"] > 0.8
    elif task == "multiclass_classification":
        assert ref.shape == (32, 3)
        np.testing.assert_allclose(ref.sum(1), 1, atol=1e-5)
    else:
        assert ref.shape == (32, 1) and 60 < ref.mean() < 140  # target units, not standardised
        assert done["metrics"]["val_r2"] > 0.5
    with open(os.path.join(artifacts(tmp_path), "trainer.json")) as f:
        summary = json.load(f)
    assert summary["best_epoch"] == done["best_epoch"] and set(summary["timings"]) >= {"load", "train", "export"}


def test_image_as_64_pixel_columns(tmp_path, train_in_process):
    x, y = jobs.synthetic("multiclass_classification", 300, 64, classes=3)
    job = jobs.write_job(tmp_path, task="multiclass_classification", layers=IMAGE_LAYERS,
                         x=x[:240], y=y[:240], val_x=x[240:], val_y=y[240:], hyper={"epochs": 3})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    check_exports(tmp_path, job)


@pytest.mark.parametrize("loss", ["l1", "huber"])
def test_regression_losses_and_no_target_normalisation(tmp_path, train_in_process, loss):
    job = jobs.write_job(tmp_path, task="regression", hyper={"loss": loss, "epochs": 2}, target_normalization=None)
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    check_exports(tmp_path, job)


@pytest.mark.parametrize("optimizer,scheduler", [
    ({"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001}, {"type": "StepLR", "step_size": 2, "gamma": 0.5}),
    ({"type": "AdamW", "lr": 0.01, "weight_decay": 0.01}, {"type": "CosineAnnealingLR", "T_max": 4, "eta_min": 0}),
    ({"type": "RMSprop", "lr": 0.01}, {"type": "ReduceLROnPlateau", "monitor": "val_loss", "factor": 0.5, "patience": 0}),
])
def test_optimizers_and_schedulers(tmp_path, train_in_process, optimizer, scheduler):
    jobs.write_job(tmp_path, hyper={"optimizer": optimizer, "lr_scheduler": scheduler, "epochs": 4})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    lrs = [e["lr"] for e in run.of("epoch")]
    assert lrs[0] == optimizer["lr"]
    if scheduler["type"] == "StepLR":
        assert lrs == [0.05, 0.05, 0.025, 0.025]
    elif scheduler["type"] == "CosineAnnealingLR":
        assert lrs[1] < lrs[0] and lrs[3] < lrs[2]


def test_nan_loss_is_a_user_error(tmp_path, train_in_process):
    jobs.write_job(tmp_path, task="regression", hyper={"optimizer": {"type": "SGD", "lr": 1e6}})
    run = train_in_process(tmp_path)
    assert run.code == 3
    failed = run.one("failed")
    assert failed["code"] == "NAN_LOSS"
    assert "epoch 1 batch" in failed["message"] and "lower the learning rate (lr=1000000.0)" in failed["message"]
    assert not run.of("completed")


def test_early_stopping_restores_the_best_epoch(tmp_path, train_in_process):
    # labels are noise: a wide network overfits, val loss rises after a few epochs
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 10)).astype(np.float32)
    y = rng.integers(0, 2, size=300).astype(np.float32)
    layers = jobs.mlp(10, 1, hidden=128)
    job = jobs.write_job(tmp_path, x=x[:200], y=y[:200], val_x=x[200:], val_y=y[200:], layers=layers,
                         reference_rows=1000,
                         hyper={"epochs": 60, "batch_size": 16, "optimizer": {"type": "Adam", "lr": 0.01},
                                "early_stopping": {"monitor": "val_loss", "patience": 3, "min_delta": 0}})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    done = run.one("completed")
    epochs = run.of("epoch")
    losses = [e["val"]["loss"] for e in epochs]
    best = int(np.argmin(losses)) + 1
    assert done["stopped_early"] is True and done["best_epoch"] == best
    assert done["epochs_run"] == best + 3 == len(epochs)
    assert done["metrics"]["val_loss"] == losses[best - 1]
    # the exported model is the best epoch's, not the last one's
    p = np.load(os.path.join(artifacts(tmp_path), "reference_outputs.npy")).reshape(-1).astype(np.float64)
    yv = y[200:]
    bce = -np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p))
    assert abs(bce - losses[best - 1]) < 1e-4 and abs(bce - losses[-1]) > 1e-4
    check_exports(tmp_path, job)


def test_early_stopping_on_a_max_metric(tmp_path, train_in_process):
    jobs.write_job(tmp_path, hyper={"epochs": 30, "early_stopping": {"monitor": "val_accuracy", "patience": 2}})
    run = train_in_process(tmp_path)
    accs = [e["val"]["accuracy"] for e in run.of("epoch")]
    done = run.one("completed")
    assert done["metrics"]["val_accuracy"] == max(accs)
    assert done["best_epoch"] == accs.index(max(accs)) + 1


def test_same_seed_same_run_other_seed_other_run(tmp_path, train_in_process):
    runs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        jobs.write_job(tmp_path / name, layers=[*jobs.mlp(6, 1)[:2], {"type": "Dropout", "p": 0.3},
                                                jobs.mlp(6, 1)[2]], hyper={"seed": seed, "epochs": 3})
        run = train_in_process(tmp_path / name)
        sd = torch.load(os.path.join(artifacts(tmp_path / name), "state_dict.pt"))
        runs.append(([(e["train"], e["val"]) for e in run.of("epoch")], sd))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert runs[0][0] != runs[2][0]


def test_max_runtime_truncates(tmp_path, train_in_process):
    jobs.write_job(tmp_path, rows=4000, hyper={"epochs": 10000, "batch_size": 8, "max_runtime_seconds": 2})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    done = run.one("completed")
    assert done["truncated"] is True and 0 < done["epochs_run"] < 10000
    assert os.path.exists(os.path.join(artifacts(tmp_path), "model.onnx"))


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: np.save(d / "train_x.npy", np.full((200, 6), np.nan, np.float32)), "NaN"),
    (lambda d: np.save(d / "train_x.npy", np.zeros((10, 5), np.float32)), "[rows, 6]"),
    (lambda d: np.save(d / "train_y.npy", np.full(200, 2, np.float32)), "0 or 1"),
    (lambda d: np.save(d / "train_y.npy", np.zeros(199, np.float32)), "rows"),
    (lambda d: os.remove(d / "val_y.npy"), "does not exist"),
    (lambda d: (d / "val_x.npy").write_text("not npy"), "not a readable"),
])
def test_bad_data(tmp_path, train_in_process, mutate, needle):
    jobs.write_job(tmp_path)
    mutate(tmp_path)
    run = train_in_process(tmp_path)
    assert run.code == 3
    failed = run.one("failed")
    assert failed["code"] == "BAD_DATA" and needle in failed["message"], failed


def test_multiclass_label_out_of_range(tmp_path, train_in_process):
    jobs.write_job(tmp_path, task="multiclass_classification")
    np.save(tmp_path / "val_y.npy", np.full(64, 3, np.int64))
    run = train_in_process(tmp_path)
    assert run.code == 3 and run.one("failed")["code"] == "BAD_DATA"


@pytest.mark.parametrize("change,needle", [
    ({"layers": [{"type": "Linear", "in_features": 6, "out_features": 4}, {"type": "Bilinear"}]}, "layer 1"),
    ({"layers": [{"type": "Linear", "in_features": 6, "out_features": 1, "weight": 3}]}, "layer 0 (Linear)"),
    ({"layers": []}, "layers"),
    ({"hyper": {"optimizer": {"type": "LBFGS", "lr": 1}}}, "optimizer.type"),
    ({"hyper": {"optimizer": {"type": "SGD", "lr": 1, "betas": [0.9, 0.99]}}}, "optimizer.betas is not known here"),
    ({"hyper": {"early_stopping": {"monitor": "val_r2", "patience": 2}}}, "val_r2"),
    ({"normalization": {"mean": [0] * 6, "std": [1, 1, 1, 0, 1, 1]}}, "std"),
])
def test_invalid_spec(tmp_path, train_in_process, change, needle):
    jobs.write_job(tmp_path, **change)
    run = train_in_process(tmp_path)
    assert run.code == 3
    failed = run.one("failed")
    assert failed["code"] == "INVALID_SPEC" and needle in failed["message"], failed


def test_check_command(tmp_path, train_in_process):
    jobs.write_job(tmp_path)
    run = train_in_process(tmp_path, command="check")
    assert run.code == 0 and run.one("checked")["parameters"] == 6 * 16 + 16 + 16 + 1


@pytest.mark.parametrize("name", ["mlp_activations", "image_8x8", "sequence_1d"])
def test_every_layer_trains_and_exports(tmp_path, train_in_process, name):
    from test_network import NETWORKS
    input_dim, layers = NETWORKS[name]
    # 65 rows with batch 32: the last batch has one row, which BatchNorm cannot train on
    job = jobs.write_job(tmp_path, rows=65, val_rows=20, input_dim=input_dim, layers=layers,
                         hyper={"epochs": 2, "batch_size": 32})
    run = train_in_process(tmp_path)
    assert run.code == 0, run.events
    check_exports(tmp_path, job)
    if name != "image_8x8":  # these have BatchNorm1d
        assert any("single row" in e["message"] for e in run.of("log"))


@pytest.mark.parametrize("specs", [
    [{"type": "Linear", "in_features": 12, "out_features": 16}, {"type": "BatchNorm1d", "num_features": 16},
     {"type": "GELU"}, {"type": "Dropout", "p": 0.3}, {"type": "Linear", "in_features": 16, "out_features": 3, "bias": False}],
    [{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 4]}, {"type": "Linear", "in_features": 4, "out_features": 5},
     {"type": "LayerNorm", "normalized_shape": [5]}, {"type": "Flatten"}, {"type": "Linear", "in_features": 15, "out_features": 1}],
    [{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 2, 2]}, {"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 2},
     {"type": "ReLU"}, {"type": "Flatten"}, {"type": "Linear", "in_features": 4, "out_features": 2}],
])
def test_validation_network_matches_the_trained_network(specs):
    from trainyard_trainer.train import _OneDnnLinear, evaluation_network, predict
    torch.manual_seed(0)
    model = build_layers(specs)
    model.train()
    x = torch.randn(64, 32)[:, :12].contiguous() * 3
    model(x)  # a training step's forward: BatchNorm running statistics move off their defaults
    net = evaluation_network(model, torch.device("cpu"), x[:16])
    if torch.backends.mkldnn.is_available():
        assert any(isinstance(m, _OneDnnLinear) for m in net.modules())  # the fast path was taken
    assert not any(isinstance(m, _OneDnnLinear) for m in model.modules())  # the trained network is untouched
    expected = predict(model, x, 7)
    np.testing.assert_allclose(predict(net, x, 7).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
