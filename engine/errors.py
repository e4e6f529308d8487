"""Errors the engine reports to people: each carries one line a user can act on.

Anything raised as an ``EngineError`` ends up, verbatim, as the CLI's last stderr line or as the
``message`` of a protocol ``error`` event. Anything else is a bug and is reported with its type name.
"""


class EngineError(Exception):
    """A failure with a one-line, actionable message (no traceback is shown to the user)."""

    #: short machine-readable category, copied into protocol ``error`` events as ``kind``
    kind = "engine"

    def __init__(self, message: str):
        # Messages must stay on one line: they are shown in a status bar and parsed by scripts.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return self.args[0]


class BundleError(EngineError):
    """The conditioning bundle is missing, malformed or inconsistent."""

    kind = "bundle"


class ParamsError(EngineError):
    """A generation parameter is invalid (unknown mode, unknown object name, bad number...)."""

    kind = "params"


class ModelError(EngineError):
    """The model is unknown, its weights are absent, or they are not safe to load."""

    kind = "model"


class TakeError(EngineError):
    """The take cannot be written (it already exists, the folder is not writable...) or read back (not a take, damaged)."""

    kind = "take"


class OutOfMemory(EngineError):
    """The accelerator ran out of memory; the message names the ``--offload`` profile to try next."""

    kind = "out_of_memory"


class GenerationCancelled(Exception):
    """Raised from inside the denoising loop when the client cancelled the request.

    Deliberately not an ``EngineError``: a cancel is not a failure and produces a ``cancelled`` event.
    """
