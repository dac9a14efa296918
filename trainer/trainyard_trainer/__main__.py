"""python3 -m trainyard_trainer {train,check} --job-dir DIR [--wait]

--wait: import torch and the trainer first, then wait for a line "go" on stdin before reading
job.json. The platform starts the trainer this way while it still prepares the data, so the
~2 s of `import torch` overlap the preparation instead of following it. Any other line, or stdin
closing, exits quietly (the job ended before training began). Thread counts then come from the
environment (OMP_NUM_THREADS etc.), which the platform sets."""

import argparse
import os
import signal
import sys
import time


def limit_memory(raw) -> None:
    if not raw or raw == "0":
        return
    import resource
    limit = int(raw)
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="trainyard_trainer", description=__doc__)
    parser.add_argument("command", choices=["train", "check"])
    parser.add_argument("--job-dir", required=True, help="folder holding job.json and the data files")
    parser.add_argument("--wait", action="store_true", help="start up, then wait for 'go' on stdin before reading job.json")
    args = parser.parse_args(argv)
    t_begin = time.monotonic()

    # A SIGTERM while torch is still importing must not kill the process silently: note it,
    # and the training command reports it as soon as its own handler is in place.
    early_signals = []
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda signum, _frame: early_signals.append(signal.Signals(signum).name))

    # The platform's memory limit for this trainer (TRAINYARD_TRAINER_MEMORY_BYTES), set before torch
    # loads: an allocation past it fails inside the trainer (reported as OUT_OF_MEMORY, not retried)
    # instead of the kernel's OOM killer picking a victim on a shared machine. RLIMIT_DATA (heap and
    # private writable mappings: every tensor) rather than RLIMIT_AS, which CUDA's address-space
    # reservations of tens of GiB would exhaust before any tensor exists.
    limit_memory(os.environ.get("TRAINYARD_TRAINER_MEMORY_BYTES"))

    # Thread counts must be in the environment before torch (and its BLAS) is imported.
    from .spec import read_threads_early
    threads = read_threads_early(args.job_dir)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))

    from .run import preload, run_check, run_train
    if args.wait:
        preload()
        if sys.stdin.readline().strip() != "go":
            return 0
        t_begin = time.monotonic()
    if args.command == "check":
        return run_check(args.job_dir)
    return run_train(args.job_dir, t_begin=t_begin, early_signals=early_signals)


if __name__ == "__main__":
    sys.exit(main())
