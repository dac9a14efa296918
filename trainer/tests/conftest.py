import io
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # trainyard_trainer
sys.path.insert(0, HERE)  # jobs.py


class Captured:
    def __init__(self, code, stream):
        self.code = code
        self.events = [json.loads(line) for line in stream.getvalue().splitlines()]

    def of(self, kind):
        return [e for e in self.events if e["event"] == kind]

    def one(self, kind):
        found = self.of(kind)
        assert len(found) == 1, (kind, self.events)
        return found[0]


@pytest.fixture
def train_in_process():
    """Runs `train` in this process (fast: torch is imported once), capturing the events."""
    from trainyard_trainer.events import Events
    from trainyard_trainer.run import run_train

    def run(job_dir, command="train"):
        from trainyard_trainer.run import run_check
        stream = io.StringIO()
        fn = run_train if command == "train" else run_check
        return Captured(fn(str(job_dir), Events(stream)), stream)

    return run
