"""The `train` and `check` commands: events, exit codes, signals, timings."""

import json
import os
import signal
import sys
import time
import traceback

import torch

from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USER_ERROR, OUT_OF_MEMORY, TIMEOUT, TrainerError, invalid_spec
from .events import Events
from .spec import Job, load_job

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def preload() -> None:
    """Imports what a training run uses (the --wait start-up does it before the job is ready)."""
    from . import data, export, network, train  # noqa: F401


def _pick_device(job: Job, log) -> torch.device:
    if job.device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if job.device == "cuda":
        log("device 'cuda' was asked for but CUDA is not available to this PyTorch; training on CPU", "warning")
    return torch.device("cpu")


def _set_threads(job: Job) -> None:
    # (not set_num_interop_threads: it aborts the process if any parallel work already ran)
    torch.set_num_threads(job.threads)


def _is_oom(e: BaseException) -> bool:
    # CUDA says "out of memory"; torch's CPU allocator "can't allocate memory" (1.13) or "not enough memory".
    text = str(e).lower()
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "not enough memory")))


def _build(job: Job):
    from .export import check_onnx_exportable
    from .network import build_layers, check_shapes, count_parameters
    layers = build_layers(job.layers)
    check_shapes(layers, job.layers, job.input_dim, job.task, job.output_dim)
    check_onnx_exportable(job, layers)
    return layers, count_parameters(layers)


def _write_json(path: str, obj) -> None:
    from .events import _clean
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_clean(obj), f, indent=2, allow_nan=False)
    os.replace(tmp, path)


def run_train(job_dir: str, events: Events = None, t_begin: float = None, early_signals=()) -> int:
    t_begin = t_begin or time.monotonic()
    events = events or Events.take_stdout()
    log = lambda msg, level="info": events.log(msg, level)  # noqa: E731
    from .train import Interrupted, StopRequest

    stop = StopRequest()

    def on_signal(signum, _frame):
        name = signal.Signals(signum).name
        if stop.reason is None:
            print(f"[warning] {name} received: stopping at the next batch boundary", file=sys.stderr, flush=True)
        stop.signal(name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    for name in early_signals:
        stop.signal(name)
    try:
        return _train(job_dir, events, log, stop, t_begin)
    except Interrupted:
        return EXIT_INTERRUPTED
    except TrainerError as e:
        events.emit("failed", code=e.code, message=e.message)
        print(f"[error] {e.code}: {e.message}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except Exception as e:  # noqa: BLE001
        if _is_oom(e):
            msg = (f"ran out of memory ({str(e).splitlines()[0][:200]}); lower batch_size or use a smaller "
                   "model, or run on a machine with more memory")
            events.emit("failed", code=OUT_OF_MEMORY, message=msg)
            return EXIT_USER_ERROR
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL  # infrastructure failure: the platform may retry
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _load_init_weights(job: Job, layers) -> None:
    """Warm start: the earlier version's state_dict.pt into the network (the platform checked that
    the layers fit at submission; a file that still does not fit is INVALID_SPEC)."""
    try:
        state = torch.load(job.init_weights, map_location="cpu")
        layers.load_state_dict(state)
    except (RuntimeError, OSError, KeyError) as e:
        raise invalid_spec(f"init_from: the weights do not fit this network ({str(e).splitlines()[0][:300]})")


def _train(job_dir, events, log, stop, t_begin) -> int:
    from .checkpoint import Checkpointer, load_first_valid
    from .data import load_data
    from .export import export
    from .network import has_batchnorm
    from .train import Interrupted, train

    job = load_job(job_dir)
    if job.max_runtime_seconds is not None:
        stop.deadline = t_begin + job.max_runtime_seconds
    _set_threads(job)
    device = _pick_device(job, log)
    torch.manual_seed(job.seed)  # before the build: it draws the initial weights
    layers, parameters = _build(job)
    if job.init_weights:
        _load_init_weights(job, layers)

    t0 = time.monotonic()
    data = load_data(job)
    t_load = time.monotonic() - t0

    events.emit("started", torch_version=torch.__version__, device=str(device), threads=torch.get_num_threads(),
                thread_env={k: os.environ.get(k) for k in THREAD_ENV},
                train_rows=data.train.rows, val_rows=data.val.rows, parameters=parameters)
    print(f"[info] network:\n{layers}", file=sys.stderr, flush=True)

    checkpointer = Checkpointer(job.checkpoint, job.checkpoint_dir, job.job_dir, events.emit)
    if stop.requested():
        if checkpointer.enabled and stop.by_signal():
            raise Interrupted(stop.reason)  # the latest checkpoint, if any, is still the place to resume from
        raise TrainerError(TIMEOUT, _timeout_message(job, stop, "before training started"))

    resume = load_first_valid(job.resume, job.job_dir, log) if job.resume else None
    if resume is not None:
        events.emit("resumed", file=resume["file"], epoch=resume["epoch"], batch=resume["batch"])
    elif job.resume:
        log("no checkpoint of an earlier attempt could be used; training starts from the beginning", "warning")

    # the network trains on pre-standardised tensors; Standardize goes into the exported model
    layers.to(device)
    result = train(job, layers, data, device, stop, events.emit, log, has_batchnorm(layers), checkpointer, resume)
    if result.epochs_run == 0:
        raise TrainerError(TIMEOUT, _timeout_message(job, stop, "before the first epoch finished"))

    t0 = time.monotonic()
    artifacts = export(job, layers, data.reference_x, log)
    artifacts.append("trainer.json")
    t_export = time.monotonic() - t0
    summary = {
        "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "epochs": job.epochs,
        "stopped_early": result.stopped_early, "truncated": result.truncated,
        "stop_reason": result.stop_reason, "monitor": job.monitor.name, "metrics": result.best_metrics,
        "torch_version": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
        "thread_env": {k: os.environ.get(k) for k in THREAD_ENV},
        "timings": {"load": round(t_load, 4), "train": round(result.seconds, 4), "export": round(t_export, 4),
                    "total": round(time.monotonic() - t_begin, 4)},
        "parameters": parameters, "train_rows": data.train.rows, "val_rows": data.val.rows,
        "artifacts": artifacts, "history": result.history,
    }
    _write_json(os.path.join(job.output_dir, "trainer.json"), summary)
    events.emit("exported", artifacts=artifacts, seconds=round(t_export, 4))
    events.emit("completed", best_epoch=result.best_epoch, epochs_run=result.epochs_run,
                stopped_early=result.stopped_early, truncated=result.truncated, metrics=result.best_metrics)
    return EXIT_OK


def _timeout_message(job: Job, stop, when: str) -> str:
    if stop.reason == "max_runtime_seconds":
        return (f"max_runtime_seconds={job.max_runtime_seconds:g} was reached {when}, so there is no model "
                "to save; raise max_runtime_seconds, or use fewer rows or a smaller model")
    return f"training was stopped ({stop.reason}) {when}, so there is no model to save"


def run_check(job_dir: str, events: Events = None) -> int:
    """Builds the network and runs 2 rows through it (and a trial ONNX export); no training."""
    events = events or Events.take_stdout()
    try:
        job = load_job(job_dir)
        _set_threads(job)
        layers, parameters = _build(job)
        from .network import expected_output_shape
        events.emit("checked", parameters=parameters, torch_version=torch.__version__,
                    output_shape=["batch", expected_output_shape(job.task, job.output_dim)[1]])
        return EXIT_OK
    except TrainerError as e:
        events.emit("failed", code=e.code, message=e.message)
        return EXIT_USER_ERROR
