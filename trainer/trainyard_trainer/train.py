"""The training loop: batches streamed from the memory-mapped splits in an order that is a pure
function of (seed, epoch) (stream.py), per-epoch metrics, best-epoch tracking, early stopping,
schedulers, stop requests (SIGTERM / max runtime), checkpoints and resuming from one
(checkpoint.py)."""

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

from . import metrics as M
from .checkpoint import Checkpointer, restore_rng, rng_state
from .data import Data
from .stream import SCAN_ROWS, MappedSplit
from .errors import NAN_LOSS, TrainerError
from .spec import Job


class StopRequest:
    """Set by the SIGTERM handler; also set when max_runtime_seconds is reached."""

    def __init__(self, deadline: Optional[float] = None):
        self.reason: Optional[str] = None
        self.deadline = deadline  # time.monotonic() value

    def signal(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def by_signal(self) -> bool:
        return self.reason is not None and self.reason != "max_runtime_seconds"

    def requested(self) -> bool:
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "max_runtime_seconds"
        return self.reason is not None


class Interrupted(Exception):
    """A signal stopped the run and its state is checkpointed: the trainer exits INTERRUPTED and a
    later attempt resumes from the checkpoint."""


@dataclass
class Result:
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    truncated: bool = False
    stop_reason: Optional[str] = None
    best_metrics: Dict[str, Optional[float]] = field(default_factory=dict)
    history: List[dict] = field(default_factory=list)
    seconds: float = 0.0


def make_loss(job: Job) -> nn.Module:
    return {"bce": nn.BCEWithLogitsLoss, "cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss,
            "l1": nn.L1Loss, "huber": nn.HuberLoss}[job.loss]()


def make_optimizer(job: Job, params, log: Callable[[str, str], None]) -> torch.optim.Optimizer:
    o = {k: v for k, v in job.optimizer.items() if k != "type" and v is not None}
    otype = job.optimizer["type"]
    if otype in ("Adam", "AdamW") and "momentum" in o:
        if o.pop("momentum"):
            log(f"{otype} has no 'momentum' argument (it uses betas); ignored momentum={job.optimizer['momentum']}", "warning")
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    cls = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
           "RMSprop": torch.optim.RMSprop}[otype]
    o.setdefault("lr", 0.01 if otype == "SGD" else 0.001)
    return cls(params, **o)


def make_scheduler(job: Job, optimizer):
    s = job.lr_scheduler
    if s is None:
        return None
    args = {k: v for k, v in s.items() if k not in ("type", "monitor", "mode") and v is not None}
    if s["type"] == "StepLR":
        return torch.optim.lr_scheduler.StepLR(optimizer, **args)
    if s["type"] == "CosineAnnealingLR":
        args.setdefault("T_max", job.epochs)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **args)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=s["monitor"].mode, **args)


class Evaluator:
    """Loss and the task's metrics from outputs (raw scores) and targets."""

    def __init__(self, job: Job, loss_fn: nn.Module):
        self.job = job
        self.loss_fn = loss_fn

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> Dict[str, Optional[float]]:
        job = self.job
        with torch.no_grad():
            result = {"loss": M.mean_loss(self.loss_fn, out, y)}
            if job.task == "binary_classification":
                result.update(M.binary_metrics(out, y))
            elif job.task == "multiclass_classification":
                result.update(M.multiclass_metrics(out, y, job.output_dim))
            else:
                scale = (job.target_std, job.target_mean) if job.target_mean is not None else (1.0, 0.0)
                result.update(M.regression_metrics(out, y, scale))
        return result


def predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def concat_clearing(parts: list) -> torch.Tensor:
    """The parts as one tensor, emptying the list so that its tensors are freed as soon as copied."""
    whole = torch.cat(parts)
    parts.clear()
    return whole


def predict_split(model: nn.Module, split: MappedSplit, device: torch.device, batch_size: int):
    """The network's outputs on a whole split and its targets, read front to back in chunks."""
    outs, ys = [], []
    for x, y in split.scan(device, max(batch_size, SCAN_ROWS)):
        outs.append(predict(model, x, batch_size))
        ys.append(y)
    return concat_clearing(outs), concat_clearing(ys)


class _OneDnnLinear(nn.Module):
    """An inference-only nn.Linear computed by oneDNN's inner product (dense in, dense out)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach()
        bias = linear.bias.detach() if linear.bias is not None else torch.zeros(weight.shape[0])
        self.weight = weight.contiguous().to_mkldnn()
        self.bias = bias.contiguous().to_mkldnn()

    def forward(self, x):
        return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self.weight, self.bias).to_dense()


def _with_onednn_linears(model: nn.Module) -> nn.Module:
    fast = copy.deepcopy(model).eval()
    for parent in fast.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, _OneDnnLinear(child))
    return fast


def evaluation_network(model: nn.Module, device: torch.device, probe: torch.Tensor) -> nn.Module:
    """The network to run the validation pass with. On CPU its Linear layers go through oneDNN:
    Debian's PyTorch does Linear matmuls with the generic reference BLAS (BLAS_INFO=generic),
    which makes the per-epoch validation pass cost ~8 % of a training epoch; oneDNN's inner
    product is ~6x faster and matches to float32 rounding. Training keeps nn.Linear (autograd).
    Checked against the network on `probe` rows each time; any doubt, and the network itself is used."""
    model.eval()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available() or not any(isinstance(m, nn.Linear) for m in model.modules()):
        return model
    try:
        fast = _with_onednn_linears(model)
        with torch.no_grad():
            expected, got = model(probe), fast(probe)
        if got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            return fast
    except RuntimeError:
        pass
    return model


def train(job: Job, model: nn.Module, data: Data, device: torch.device, stop: StopRequest,
          emit: Callable[..., None], log: Callable[[str, str], None], skip_single_row_batch: bool,
          checkpointer: Optional[Checkpointer] = None, resume: Optional[dict] = None) -> Result:
    """`model` takes standardised features (the splits standardise each batch they hand out). On return it holds the best
    epoch's weights (by job.monitor). Raises TrainerError(NAN_LOSS) on a non-finite loss, and
    Interrupted when a signal stopped it with checkpoints enabled (after saving one).
    `resume`: a checkpoint (checkpoint.load_first_valid) to continue from."""
    torch.manual_seed(job.seed)
    loss_fn = make_loss(job)
    optimizer = make_optimizer(job, model.parameters(), log)
    scheduler = make_scheduler(job, optimizer)
    evaluate = Evaluator(job, loss_fn)
    train_split, val_split = data.train, data.val
    n, bs = train_split.rows, job.batch_size
    if skip_single_row_batch and n > bs and n % bs == 1:
        log(f"the last batch of each epoch has a single row and the network has BatchNorm; "
            f"that row is skipped each epoch (a different one every epoch)", "warning")
    eval_bs = max(bs, 4096)
    on_cuda = device.type == "cuda"
    check_every = 64  # on CUDA, check the loss every 64 batches: a sync per batch would cost

    res = Result()
    best_value = None
    best_state = None
    bad_epochs = 0
    es = job.early_stopping
    t_start = time.monotonic()
    first_epoch, first_batch, partial_outs, partial_ys = 1, 0, None, None
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None and resume["scheduler"] is not None:
            scheduler.load_state_dict(resume["scheduler"])
        best_value, best_state, bad_epochs = resume["best_value"], resume["best_state"], resume["bad_epochs"]
        res.best_epoch, res.best_metrics, res.history = resume["best_epoch"], resume["best_metrics"], resume["history"]
        res.epochs_run = resume["epoch"]
        first_epoch, first_batch = resume["epoch"] + 1, resume["batch"]
        partial_outs, partial_ys = resume["partial_outs"], resume["partial_ys"]
        restore_rng(resume["rng"])  # last: nothing above draws from an RNG

    def snapshot(epochs_done: int, batches_done: int, outs, ys) -> dict:
        return {"epoch": epochs_done, "batch": batches_done, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "best_value": best_value, "best_epoch": res.best_epoch, "best_metrics": res.best_metrics,
                "best_state": best_state, "bad_epochs": bad_epochs, "history": res.history,
                "partial_outs": torch.cat(outs).cpu() if outs else None,
                "partial_ys": torch.cat(ys).cpu() if ys else None, "rng": rng_state()}

    def interrupt(epochs_done: int, batches_done: int, outs, ys) -> None:
        """A signal with checkpoints on: save where the run is, and ask to be run again."""
        if checkpointer is None or not checkpointer.enabled or not stop.by_signal():
            return
        checkpointer.save(snapshot(epochs_done, batches_done, outs, ys))
        log(f"stop requested ({stop.reason}) after {epochs_done} epoch(s) and {batches_done} batch(es) of the next; "
            "checkpoint saved, the next attempt resumes from it", "warning")
        raise Interrupted(stop.reason)

    def nan_error(epoch, b, value):
        lr = optimizer.param_groups[0]["lr"]
        return TrainerError(NAN_LOSS, f"training loss became {'NaN' if math.isnan(value) else 'infinite'} "
                            f"at epoch {epoch} batch {b + 1}; lower the learning rate (lr={lr}), "
                            f"or check the data for extreme values")

    def check_cuda_losses(epoch, losses, first):
        values = torch.stack(losses[first:])
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0, 0])
            raise nan_error(epoch, first + i, float(values[i]))

    for epoch in range(first_epoch, job.epochs + 1):
        t0 = time.monotonic()
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        interrupted = False
        resuming = epoch == first_epoch and partial_outs is not None
        # the batches' outputs and targets, for the epoch's train metrics (no second pass); a resumed
        # epoch starts with those of the batches done before the checkpoint
        outs = [partial_outs.to(device)] if resuming else []
        ys = [partial_ys.to(device)] if resuming else []
        losses = []  # CUDA only: loss tensors, checked every check_every batches
        checked = 0
        done = first_batch if epoch == first_epoch else 0
        b = 0
        for b, (xb, yb) in enumerate(train_split.epoch(job.seed, epoch, bs, device, skip_single_row_batch)):
            if b < done:
                continue  # done before the checkpoint: the order is the same, so skip to where it stopped
            if stop.requested():
                interrupted = True
                break
            out = model(xb)
            loss = loss_fn(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            outs.append(out.detach())
            ys.append(yb)
            if on_cuda:
                losses.append(loss.detach())
                if len(losses) - checked >= check_every:
                    check_cuda_losses(epoch, losses, checked)
                    checked = len(losses)
            else:
                value = loss.item()
                if not math.isfinite(value):
                    raise nan_error(epoch, b, value)
        if interrupted:
            interrupt(epoch - 1, b, outs, ys)
            log(f"stop requested ({stop.reason}) during epoch {epoch}; that epoch is discarded", "warning")
            break
        if on_cuda and checked < len(losses):
            check_cuda_losses(epoch, losses, checked)
        train_seconds = time.monotonic() - t0

        train_out, train_y = concat_clearing(outs), concat_clearing(ys)
        del losses
        train_m = evaluate(train_out, train_y)
        del train_out, train_y
        val_out, val_y = predict_split(evaluation_network(model, device, val_split.read(0, 64, device)[0]), val_split, device, eval_bs)
        val_m = evaluate(val_out, val_y)
        del val_out, val_y
        flat = {**{f"train_{k}": v for k, v in train_m.items()}, **{f"val_{k}": v for k, v in val_m.items()}}
        res.epochs_run = epoch
        seconds = time.monotonic() - t0
        emit("epoch", epoch=epoch, epochs=job.epochs, train=train_m, val=val_m, lr=lr,
             seconds=round(seconds, 4), train_seconds=round(train_seconds, 4))
        res.history.append({"epoch": epoch, "lr": lr, "seconds": seconds, **flat})

        value = flat.get(job.monitor.name)
        if job.monitor.improved(value, best_value, es["min_delta"] if es else 0.0):
            best_value = value
            res.best_epoch = epoch
            res.best_metrics = flat
            best_state = copy.deepcopy(model.state_dict())
            bad_epochs = 0
        else:
            bad_epochs += 1

        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                pv = flat.get(job.lr_scheduler["monitor"].name)
                scheduler.step(pv if pv is not None else float("nan"))
            else:
                scheduler.step()

        if es and bad_epochs >= es["patience"]:
            res.stopped_early = True
            log(f"early stopping after epoch {epoch}: {job.monitor.name} did not improve for "
                f"{es['patience']} epochs; restoring epoch {res.best_epoch}", "info")
            break
        if epoch == job.epochs:
            break
        saved = checkpointer is not None and checkpointer.due(epoch)
        if saved:
            checkpointer.save(snapshot(epoch, 0, None, None))
        if stop.requested():
            if saved and stop.by_signal():
                raise Interrupted(stop.reason)
            interrupt(epoch, 0, None, None)
            break

    if stop.reason is not None and not res.stopped_early and res.epochs_run < job.epochs:
        res.truncated = True
        res.stop_reason = stop.reason
    if best_state is not None:
        model.load_state_dict(best_state)
    elif res.epochs_run:  # the monitor was never finite: keep the last epoch
        res.best_epoch = res.epochs_run
        res.best_metrics = {k: v for k, v in res.history[-1].items() if k.startswith(("train_", "val_"))}
    res.seconds = time.monotonic() - t_start
    return res
