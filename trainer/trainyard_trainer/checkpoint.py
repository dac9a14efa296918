"""Checkpoints: everything a later attempt needs to continue a run as if it had never stopped.

A checkpoint holds the network, optimizer and LR-scheduler state, the early-stopping state (best
weights, best value, epochs without improvement), the metrics history, the epoch (and, after a
SIGTERM mid-epoch, the batch) reached, the train outputs and targets of that epoch so far, and
every RNG state (torch, CUDA, numpy, Python's random). The data order needs no state: each epoch's
order is a function of (seed, epoch) alone (stream.py).

Each is written atomically: to a temporary file, fsync'd, renamed over its name, and the folder
fsync'd, so a kill at any instant leaves the previous checkpoint or the new one, never half of
one. Its SHA-256 travels with it (the `checkpoint` event), and a resume checks it before loading:
`load_first_valid` takes the newest checkpoint that verifies and loads, else the one before."""

import hashlib
import os
import random
import time
from typing import Callable, List, Optional

import numpy as np
import torch

FORMAT = 1


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: str, state: dict) -> None:
    """torch.save to `path` so that a reader (or a crash) never sees a partial file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def load_first_valid(candidates: List[dict], job_dir: str, log: Callable[[str, str], None]) -> Optional[dict]:
    """The first of `candidates` ({file, sha256}, newest first) that exists, matches its SHA-256
    and loads as a checkpoint of this format, with `file` added; None when none does."""
    for candidate in candidates:
        path = os.path.join(job_dir, candidate["file"])
        if not os.path.isfile(path):
            log(f"checkpoint {candidate['file']} is missing; trying the previous one", "warning")
            continue
        actual = sha256_file(path)
        if actual != candidate["sha256"]:
            log(f"checkpoint {candidate['file']} is corrupt (SHA-256 {actual[:12]}…, expected "
                f"{candidate['sha256'][:12]}…); trying the previous one", "warning")
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped the same way
            log(f"checkpoint {candidate['file']} cannot be read ({e}); trying the previous one", "warning")
            continue
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            log(f"checkpoint {candidate['file']} is not a checkpoint of format {FORMAT}; trying the previous one", "warning")
            continue
        state["file"] = candidate["file"]
        return state
    return None


class Checkpointer:
    """Decides when to checkpoint (hyperparameters.checkpoint), writes each one and announces it."""

    def __init__(self, policy: dict, folder: str, job_dir: str, emit: Callable[..., None]):
        self.enabled = bool(policy.get("enabled"))
        self.every_epochs = policy.get("every_epochs")
        self.every_seconds = policy.get("every_seconds")
        self.folder = folder
        self.job_dir = job_dir
        self.emit = emit
        self.last = time.monotonic()
        self.saved = 0

    def due(self, epoch: int) -> bool:
        """At the end of `epoch`: whether the policy asks for a checkpoint now."""
        if not self.enabled:
            return False
        if self.every_epochs and epoch % self.every_epochs == 0:
            return True
        return bool(self.every_seconds) and time.monotonic() - self.last >= self.every_seconds

    def save(self, state: dict) -> str:
        self.saved += 1
        name = f"ckpt-e{state['epoch']:05d}-b{state['batch']:06d}-{self.saved}.pt"
        path = os.path.join(self.folder, name)
        write_atomic(path, {"format": FORMAT, **state})
        self.last = time.monotonic()
        self.emit("checkpoint", file=os.path.relpath(path, self.job_dir), epoch=state["epoch"], batch=state["batch"],
                  sha256=sha256_file(path), bytes=os.path.getsize(path))
        return path
