"""JSON-lines events on the real stdout, one object per line, flushed after each."""

import json
import math
import os
import sys


def _clean(value):
    """Non-finite floats become null (JSON has no NaN); numpy/torch scalars become Python ones."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalar
        return _clean(value.item())
    return value


class Events:
    def __init__(self, stream):
        self._stream = stream

    @classmethod
    def take_stdout(cls) -> "Events":
        """Keep fd 1 for events only: anything else printed to stdout, by Python or by native
        code (PyTorch, BLAS), is redirected to stderr so it cannot corrupt the event stream."""
        sys.stdout.flush()
        events_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return cls(os.fdopen(events_fd, "w", buffering=1, encoding="utf-8"))

    def emit(self, event: str, **fields) -> None:
        line = json.dumps(_clean({"event": event, **fields}), allow_nan=False, separators=(",", ":"))
        self._stream.write(line + "\n")
        self._stream.flush()

    def log(self, message: str, level: str = "info") -> None:
        print(f"[{level}] {message}", file=sys.stderr, flush=True)
        self.emit("log", level=level, message=message)
