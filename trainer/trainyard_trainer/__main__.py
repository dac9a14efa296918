"""python3 -m trainyard_trainer {train,check} --job-dir DIR"""

import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="trainyard_trainer", description=__doc__)
    parser.add_argument("command", choices=["train", "check"])
    parser.add_argument("--job-dir", required=True, help="folder holding job.json and the data files")
    args = parser.parse_args(argv)

    # Thread counts must be in the environment before torch (and its BLAS) is imported.
    from .spec import read_threads_early
    threads = read_threads_early(args.job_dir)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(threads))

    from .run import run_check, run_train
    return run_train(args.job_dir) if args.command == "train" else run_check(args.job_dir)


if __name__ == "__main__":
    sys.exit(main())
