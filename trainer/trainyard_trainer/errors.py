"""User errors: a `failed` event is printed and the process exits with code 3 (no retry)."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER_ERROR = 3

INVALID_SPEC = "INVALID_SPEC"
BAD_DATA = "BAD_DATA"
NAN_LOSS = "NAN_LOSS"
TIMEOUT = "TIMEOUT"
OUT_OF_MEMORY = "OUT_OF_MEMORY"


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
