"""Per-epoch metrics, in torch (so they run where the tensors are), no sklearn.
Undefined values (e.g. ROC AUC with one class present, R2 of a constant target) are None.

Memory: an epoch's metrics cover every row of a split, so each metric runs over CHUNK_ROWS rows at a
time and keeps only sums and counts (float64); the one exception, ROC AUC, holds a sorted float32
copy of the scores (4 bytes a row). The trainer's memory then grows by a few bytes per row, not by
the dozens that whole-split float64 temporaries cost."""

from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch

CHUNK_ROWS = 1 << 20


def _f(t) -> Optional[float]:
    v = float(t)
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def chunks(n: int, rows: int = CHUNK_ROWS) -> Iterator[Tuple[int, int]]:
    for start in range(0, n, rows):
        yield start, min(n, start + rows)


def roc_auc(scores: torch.Tensor, labels: torch.Tensor, rows: int = CHUNK_ROWS) -> Optional[float]:
    """The probability that a positive outscores a negative, ties counting one half: the
    Mann-Whitney U with average ranks (matches sklearn.metrics.roc_auc_score). The negatives' scores
    are sorted once; each chunk of positives counts the negatives below and equal to it by binary search."""
    s = scores.detach().reshape(-1).float().cpu().numpy()
    labels = labels.detach().reshape(-1).bool().cpu().numpy()
    negatives = np.sort(s[~labels])
    positives = s[labels]
    if positives.size == 0 or negatives.size == 0:
        return None
    wins = 0.0
    for start, stop in chunks(positives.size, rows):
        p = positives[start:stop]
        below = np.searchsorted(negatives, p, side="left")
        not_above = np.searchsorted(negatives, p, side="right")
        wins += float(below.sum(dtype=np.float64)) + 0.5 * float((not_above - below).sum(dtype=np.float64))
    return _f(wins / (float(positives.size) * float(negatives.size)))


def binary_metrics(logits: torch.Tensor, y: torch.Tensor, rows: int = CHUNK_ROWS) -> Dict[str, Optional[float]]:
    logits = logits.reshape(-1)
    y = y.reshape(-1)
    n = logits.numel()
    tp = fp = fn = correct = 0
    for start, stop in chunks(n, rows):
        truth = y[start:stop] > 0.5
        pred = logits[start:stop] > 0  # probability > 0.5
        tp += int((pred & truth).sum())
        fp += int((pred & ~truth).sum())
        fn += int((~pred & truth).sum())
        correct += int((pred == truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": correct / n if n else None,
            "precision": precision, "recall": recall, "f1": f1, "roc_auc": roc_auc(logits, y > 0.5, rows)}


def multiclass_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int, rows: int = CHUNK_ROWS) -> Dict[str, Optional[float]]:
    y = y.reshape(-1)
    n = y.numel()
    if n == 0:
        return {"accuracy": None, "macro_f1": None}
    cm = torch.zeros(num_classes * num_classes, dtype=torch.float64, device=logits.device)
    for start, stop in chunks(n, rows):
        pred = logits[start:stop].argmax(dim=1)
        cm += torch.bincount(y[start:stop].long() * num_classes + pred, minlength=num_classes * num_classes).double()
    cm = cm.reshape(num_classes, num_classes)
    tp = cm.diag()
    support_true = cm.sum(1)
    support_pred = cm.sum(0)
    denom = support_true + support_pred
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
    present = denom > 0  # as sklearn: labels seen in y_true or y_pred
    return {"accuracy": _f(tp.sum() / n), "macro_f1": _f(f1[present].mean())}


def regression_metrics(pred: torch.Tensor, y: torch.Tensor, scale: Tuple[float, float] = (1.0, 0.0),
                       rows: int = CHUNK_ROWS) -> Dict[str, Optional[float]]:
    """pred and y times scale[0] plus scale[1] are in target units (the trainer standardises the target)."""
    pred = pred.reshape(-1)
    y = y.reshape(-1)
    n = y.numel()
    if n == 0:
        return {"rmse": None, "mae": None, "r2": None}
    std, mean = scale
    ss_res = abs_err = y_sum = 0.0
    for start, stop in chunks(n, rows):
        yc = y[start:stop].double() * std + mean
        err = pred[start:stop].double() * std + mean - yc
        ss_res += float((err * err).sum())
        abs_err += float(err.abs().sum())
        y_sum += float(yc.sum())
    y_mean = y_sum / n
    ss_tot = 0.0  # a second pass about the mean: a one-pass sum of squares loses digits to cancellation
    for start, stop in chunks(n, rows):
        d = y[start:stop].double() * std + mean - y_mean
        ss_tot += float((d * d).sum())
    return {"rmse": _f(np.sqrt(ss_res / n)), "mae": _f(abs_err / n),
            "r2": _f(1 - ss_res / ss_tot) if ss_tot > 0 else None}


def mean_loss(loss_fn: torch.nn.Module, out: torch.Tensor, y: torch.Tensor, rows: int = CHUNK_ROWS) -> Optional[float]:
    """A mean-reduced loss over all rows, as the row-weighted mean of its chunks' losses."""
    n = out.shape[0]
    if n == 0:
        return None
    total = 0.0
    for start, stop in chunks(n, rows):
        total += float(loss_fn(out[start:stop], y[start:stop])) * (stop - start)
    return _f(total / n)
