import itertools

import numpy as np
import torch

from trainyard_trainer import metrics as M


def brute_auc(scores, labels):
    pos = [s for s, l in zip(scores, labels) if l]
    neg = [s for s, l in zip(scores, labels) if not l]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_with_ties_matches_pairwise_count():
    rng = np.random.default_rng(1)
    for _ in range(5):
        scores = rng.integers(0, 5, size=40).astype(np.float32)  # many ties
        labels = rng.integers(0, 2, size=40).astype(bool)
        got = M.roc_auc(torch.from_numpy(scores), torch.from_numpy(labels))
        assert abs(got - brute_auc(scores, labels)) < 1e-12
    assert M.roc_auc(torch.tensor([0.1, 0.2]), torch.tensor([True, True])) is None


def test_binary_metrics():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0], [1.0]])
    y = torch.tensor([[1.0], [1.0], [0.0], [0.0], [1.0]])
    m = M.binary_metrics(logits, y)
    # pred 1,0,1,0,1 ; tp=2 fp=1 fn=1
    assert m["accuracy"] == 3 / 5
    assert m["precision"] == 2 / 3 and m["recall"] == 2 / 3
    assert abs(m["f1"] - 2 / 3) < 1e-12
    assert abs(m["roc_auc"] - brute_auc(logits.flatten().tolist(), y.flatten().tolist())) < 1e-12


def test_multiclass_macro_f1():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 1, 1, 1, 2, 0])
    logits = torch.nn.functional.one_hot(pred, 4).float()  # class 3 never seen: not averaged (as sklearn)
    m = M.multiclass_metrics(logits, y, 4)
    f1 = [2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 2 * 1 / (2 + 1)]
    assert m["accuracy"] == 4 / 6
    assert abs(m["macro_f1"] - sum(f1) / 3) < 1e-12


def test_regression_metrics():
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    pred = torch.tensor([1.5, 2.0, 2.0, 4.0])
    m = M.regression_metrics(pred, y)
    assert abs(m["rmse"] - (1.25 / 4) ** 0.5) < 1e-9
    assert abs(m["mae"] - 1.5 / 4) < 1e-9
    assert abs(m["r2"] - (1 - 1.25 / 5)) < 1e-9
    assert M.regression_metrics(pred, torch.ones(4))["r2"] is None


def test_metrics_over_chunks_equal_the_whole_split():
    """The trainer's metrics run chunk by chunk to bound memory; the chunking must not change them."""
    rng = np.random.default_rng(7)
    n = 1000
    logits = torch.from_numpy(rng.normal(size=(n, 1)).astype(np.float32).round(1))  # rounding makes ties
    labels = torch.from_numpy(rng.integers(0, 2, size=(n, 1)).astype(np.float32))
    whole, chunked = M.binary_metrics(logits, labels, rows=n), M.binary_metrics(logits, labels, rows=7)
    assert whole == chunked
    assert abs(whole["roc_auc"] - brute_auc(logits.flatten().tolist(), (labels.flatten() > 0.5).tolist())) < 1e-12

    scores = torch.from_numpy(rng.normal(size=(n, 5)).astype(np.float32))
    classes = torch.from_numpy(rng.integers(0, 5, size=n))
    assert M.multiclass_metrics(scores, classes, 5, rows=n) == M.multiclass_metrics(scores, classes, 5, rows=13)

    pred, y = torch.from_numpy(rng.normal(size=n).astype(np.float32)), torch.from_numpy(rng.normal(size=n).astype(np.float32))
    whole, chunked = M.regression_metrics(pred, y, (3.0, 10.0), rows=n), M.regression_metrics(pred, y, (3.0, 10.0), rows=11)
    unscaled = M.regression_metrics(pred.double() * 3 + 10, y.double() * 3 + 10)
    for key in ("rmse", "mae", "r2"):
        assert abs(whole[key] - chunked[key]) < 1e-9 and abs(whole[key] - unscaled[key]) < 1e-9

    loss = torch.nn.BCEWithLogitsLoss()
    assert abs(M.mean_loss(loss, logits, labels, rows=9) - float(loss(logits, labels))) < 1e-6
