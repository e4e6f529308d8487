"""One line for the user, whatever went wrong: what operators report."""

import traceback


def failure_message(error: BaseException, expected: tuple, what: str) -> str:
    """The message of an expected (user-fixable) error; for anything else, a one-line summary, the traceback to the console."""
    if isinstance(error, expected):
        return str(error)
    traceback.print_exc()
    return f"{what} failed ({type(error).__name__}: {error}); see the system console for details"
