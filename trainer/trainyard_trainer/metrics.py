"""Per-epoch metrics, in torch (so they run where the tensors are), no sklearn.
Undefined values (e.g. ROC AUC with one class present, R2 of a constant target) are None."""

from typing import Dict, Optional

import torch


def _f(t) -> Optional[float]:
    v = float(t)
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> Optional[float]:
    """Mann-Whitney U with average ranks for ties (matches sklearn.metrics.roc_auc_score)."""
    labels = labels.bool()
    n = labels.numel()
    n_pos = int(labels.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    sorted_scores, order = torch.sort(scores.float())
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg_rank = ends - (counts.double() - 1) / 2  # ranks are 1-based
    ranks = avg_rank[inverse]
    sum_pos = ranks[labels[order]].sum()
    return _f((sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(logits: torch.Tensor, y: torch.Tensor) -> Dict[str, Optional[float]]:
    logits = logits.reshape(-1)
    truth = y.reshape(-1) > 0.5
    pred = logits > 0  # probability > 0.5
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    n = truth.numel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": int((pred == truth).sum()) / n if n else None,
            "precision": precision, "recall": recall, "f1": f1, "roc_auc": roc_auc(logits, truth)}


def multiclass_metrics(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> Dict[str, Optional[float]]:
    pred = logits.argmax(dim=1)
    y = y.reshape(-1).long()
    n = y.numel()
    if n == 0:
        return {"accuracy": None, "macro_f1": None}
    cm = torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes).double()
    tp = cm.diag()
    support_true = cm.sum(1)
    support_pred = cm.sum(0)
    denom = support_true + support_pred
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
    present = denom > 0  # as sklearn: labels seen in y_true or y_pred
    return {"accuracy": _f(tp.sum() / n), "macro_f1": _f(f1[present].mean())}


def regression_metrics(pred: torch.Tensor, y: torch.Tensor) -> Dict[str, Optional[float]]:
    """pred and y in target units."""
    pred = pred.reshape(-1).double()
    y = y.reshape(-1).double()
    if y.numel() == 0:
        return {"rmse": None, "mae": None, "r2": None}
    err = pred - y
    ss_res = (err * err).sum()
    ss_tot = ((y - y.mean()) ** 2).sum()
    return {"rmse": _f(torch.sqrt(ss_res / y.numel())), "mae": _f(err.abs().mean()),
            "r2": _f(1 - ss_res / ss_tot) if float(ss_tot) > 0 else None}
