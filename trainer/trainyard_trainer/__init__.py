"""Trainyard's training process: builds a PyTorch network from a job manifest, trains it,
streams JSON-lines events on stdout and writes the exported artifacts. See ../README.md."""

__version__ = "0.1.0"
