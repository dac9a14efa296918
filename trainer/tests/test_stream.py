"""The streamed epoch order: every row once, batches of batch_size, a pure function of (seed, epoch)."""

import numpy as np
import torch

from trainyard_trainer import stream
from trainyard_trainer.stream import MappedSplit


def split_of(rows, width=3, tmp_path=None):
    x = np.arange(rows * width, dtype=np.float32).reshape(rows, width)
    y = np.arange(rows, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    ym = np.load(tmp_path / "y.npy", mmap_mode="r")
    return MappedSplit(xm, ym, rows, torch.zeros(width), torch.ones(width), False, None, None), x


def order(split, seed, epoch, batch_size, drop=False):
    return [yb.reshape(-1).long().tolist() for _, yb in split.epoch(seed, epoch, batch_size, torch.device("cpu"), drop)]


def test_an_epoch_sees_every_row_once_in_full_batches_with_x_matching_y(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_ROWS", 16)
    monkeypatch.setattr(stream, "SHUFFLE_BUFFER_BYTES", 16 * 12 * 3)  # 3 blocks of 16 rows × 12 bytes per buffer
    split, x = split_of(1001, tmp_path=tmp_path)
    batches = list(split.epoch(5, 1, 64, torch.device("cpu")))
    assert [len(yb) for _, yb in batches] == [64] * 15 + [41]
    rows = [int(r) for _, yb in batches for r in yb.reshape(-1)]
    assert sorted(rows) == list(range(1001))
    for xb, yb in batches:
        assert torch.equal(xb, torch.from_numpy(x[yb.reshape(-1).long().numpy()]))
    # Shuffled beyond a block: the first batch mixes rows of several blocks, not in file order.
    first = order(split, 5, 1, 64)[0]
    assert len({r // 16 for r in first}) >= 3 and first != sorted(first)


def test_the_order_is_a_function_of_seed_and_epoch_only(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_ROWS", 8)
    monkeypatch.setattr(stream, "SHUFFLE_BUFFER_BYTES", 8 * 12 * 4)
    split, _ = split_of(300, tmp_path=tmp_path)
    assert order(split, 1, 3, 32) == order(split, 1, 3, 32)  # e.g. after a resume at epoch 3
    assert order(split, 1, 3, 32) != order(split, 1, 4, 32)
    assert order(split, 1, 3, 32) != order(split, 2, 3, 32)


def test_a_last_batch_of_one_row_can_be_left_out(tmp_path):
    split, _ = split_of(65, tmp_path=tmp_path)
    assert [len(b) for b in order(split, 0, 1, 32)] == [32, 32, 1]
    assert [len(b) for b in order(split, 0, 1, 32, drop=True)] == [32, 32]


def test_batches_are_standardised_and_the_maps_are_left_untouched(tmp_path):
    split, x = split_of(10, tmp_path=tmp_path)
    split.mean, split.std = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 2.0])
    xb, _ = split.read(0, 10, torch.device("cpu"))
    assert torch.allclose(xb, (torch.from_numpy(x) - split.mean) / split.std)
    assert np.array_equal(np.asarray(split.x), x)
