"""The prepared splits, read batch by batch from their memory-mapped .npy files: no split is ever
copied whole into memory, so the trainer's memory does not grow with the row count (the page cache
that backs the maps is the kernel's to reclaim).

Data order. An epoch's order is a pure function of (seed, epoch), so a run resumed at epoch k sees
exactly the batches an uninterrupted run would, with no shuffle state to save:
  1. the training split is cut into blocks of BLOCK_ROWS consecutive rows (the last may be shorter);
  2. the blocks are put in a random order (a permutation drawn from numpy's PCG64 seeded with
     [seed, epoch]);
  3. walking that order, consecutive blocks fill a shuffle buffer of about SHUFFLE_BUFFER_BYTES
     (window_rows(), a whole number of blocks); the buffer's rows are permuted at random (the same
     generator), standardised, and cut into batches of batch_size in that order. A batch that does
     not fill before a buffer ends continues in the next one, so every batch but the epoch's last has
     batch_size rows, as with a whole-split shuffle.
A batch thus mixes rows from many blocks spread over the whole split, and every row is seen once
per epoch. With a split smaller than one buffer this is a plain random permutation of all rows."""

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np
import torch

BLOCK_ROWS = 1024
SHUFFLE_BUFFER_BYTES = 32 * 1024 * 1024
# Rows per read when a split is scanned front to back (checks, validation passes).
SCAN_ROWS = 65536


def window_rows(row_bytes: int) -> int:
    """Rows in one shuffle buffer: a whole number of blocks, about SHUFFLE_BUFFER_BYTES of x."""
    return BLOCK_ROWS * max(1, SHUFFLE_BUFFER_BYTES // (BLOCK_ROWS * max(1, row_bytes)))


def epoch_generator(seed: int, epoch: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFFFFFFFFFF, epoch]))


def epoch_windows(rows: int, seed: int, epoch: int, row_bytes: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Each shuffle buffer of the epoch: (its blocks' first rows in read order, the permutation of
    the buffer's rows)."""
    gen = epoch_generator(seed, epoch)
    blocks = gen.permutation((rows + BLOCK_ROWS - 1) // BLOCK_ROWS)
    per_window = window_rows(row_bytes) // BLOCK_ROWS
    for w in range(0, len(blocks), per_window):
        starts = blocks[w:w + per_window] * BLOCK_ROWS
        size = int(sum(min(BLOCK_ROWS, rows - s) for s in starts))
        yield starts, gen.permutation(size)


@dataclass
class MappedSplit:
    """One split's memory-mapped tensors and how to turn rows of them into the network's input."""
    x: np.memmap  # [rows, input_dim], raw encoded features
    y: np.memmap  # [rows] or [rows, 1]
    rows: int
    mean: torch.Tensor
    std: torch.Tensor
    multiclass: bool
    target_mean: Optional[float]
    target_std: Optional[float]

    def _tensors(self, x: np.ndarray, y: np.ndarray, device: torch.device):
        """x and y are rows copied out of the maps (standardised in place, so never the maps themselves)."""
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        xt.sub_(self.mean).div_(self.std)
        if self.multiclass:
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64).reshape(-1))
        else:
            yt = torch.from_numpy(np.array(y, dtype=np.float32).reshape(-1, 1))
            if self.target_mean is not None:
                yt.sub_(self.target_mean).div_(self.target_std)
        return xt.to(device), yt.to(device)

    def read(self, start: int, stop: int, device: torch.device):
        """Rows [start, stop) as (standardised x, y) tensors on the device."""
        return self._tensors(np.array(self.x[start:stop], dtype=np.float32), np.array(self.y[start:stop]), device)

    def scan(self, device: torch.device, rows: int = SCAN_ROWS):
        """The split front to back, in chunks of `rows`."""
        for start in range(0, self.rows, rows):
            yield self.read(start, min(self.rows, start + rows), device)

    def epoch(self, seed: int, epoch: int, batch_size: int, device: torch.device,
              drop_single_last: bool = False) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches in the order the module docstring describes. With drop_single_last, a
        last batch of a single row is left out (BatchNorm cannot train on it)."""
        row_bytes = self.x.shape[1] * 4
        carry_x, carry_y = None, None
        for starts, perm in epoch_windows(self.rows, seed, epoch, row_bytes):
            x = np.concatenate([self.x[s:s + BLOCK_ROWS] for s in starts])
            y = np.concatenate([self.y[s:s + BLOCK_ROWS] for s in starts])
            xw, yw = self._tensors(x[perm], y[perm], device)
            del x, y
            at = 0
            if carry_x is not None:
                need = batch_size - carry_x.shape[0]
                carry_x, carry_y = torch.cat([carry_x, xw[:need]]), torch.cat([carry_y, yw[:need]])
                at = need
                if carry_x.shape[0] < batch_size:
                    continue
                yield carry_x, carry_y
                carry_x = carry_y = None
            while at + batch_size <= xw.shape[0]:
                yield xw[at:at + batch_size], yw[at:at + batch_size]
                at += batch_size
            if at < xw.shape[0]:
                carry_x, carry_y = xw[at:], yw[at:]
        if carry_x is not None and not (drop_single_last and carry_x.shape[0] == 1 and self.rows > 1):
            yield carry_x, carry_y
