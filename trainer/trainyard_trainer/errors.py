"""Errors the user can act on: a `failed` event is printed and the process exits with USER_ERROR.

The codes and exit statuses are the platform's job-error registry (src/jobs/errors.ts), read from
contracts/job-errors.json: a code the registry does not list for the trainer fails at import, and
tests/test_contracts.py checks the trainer's codes against it."""

from . import contracts

_REGISTRY = contracts.job_errors()
_EXIT = _REGISTRY["trainer_exit_codes"]

EXIT_OK = _EXIT["OK"]
EXIT_INTERNAL = _EXIT["INTERNAL"]  # an unexpected exception: the platform may retry
EXIT_USER_ERROR = _EXIT["USER_ERROR"]  # a `failed` event was printed; a retry cannot help
EXIT_INTERRUPTED = _EXIT["INTERRUPTED"]  # EX_TEMPFAIL: stopped before the end, run me again


def _code(name: str) -> str:
    info = _REGISTRY["codes"].get(name)
    if info is None or not info["trainer"]:
        raise RuntimeError(f"{name} is not a trainer error code of the job-error registry (contracts/job-errors.json)")
    return name


INVALID_SPEC = _code("INVALID_SPEC")
BAD_DATA = _code("BAD_DATA")
NAN_LOSS = _code("NAN_LOSS")
TIMEOUT = _code("TIMEOUT")
OUT_OF_MEMORY = _code("OUT_OF_MEMORY")
INTERRUPTED = _code("INTERRUPTED")


class TrainerError(Exception):
    """An error the user can act on. Anything else that escapes is an infrastructure failure."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_spec(message: str) -> TrainerError:
    return TrainerError(INVALID_SPEC, message)


def bad_data(message: str) -> TrainerError:
    return TrainerError(BAD_DATA, message)
