"""The worker protocol: one JSON object per line on the worker's stdin (requests) and stdout (events).

Pure Python, no torch: the Blender add-on imports this module to talk to ``python -m engine serve``.
The full contract, with examples, is in docs/engine.md; in short:

    worker -> client   hello                     once, first, when the worker is ready
    client -> worker   generate {id, bundle, out, params}
    client -> worker   cancel {id}               honoured within one denoising step
    client -> worker   shutdown                  the worker exits 0 (a closed stdin does too)
    worker -> client   progress {id, phase, step, total, eta, ...}   any number, in order
    worker -> client   result {id, take} | cancelled {id} | error {id, message}   exactly one per generate

``python -m engine download`` speaks the same language on its stdout (id ``"download"``):
``download_progress`` any number of times, then ``downloaded`` or ``error``.

Field names are the JSON keys. Unknown keys in incoming messages are ignored (forward compatible);
a missing required key or an unknown ``type`` is a ``ProtocolError``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from ..errors import EngineError

PROTOCOL_VERSION = 1

#: Phases of a generation, in the order they first occur. With several windows, ``denoising`` and
#: ``decoding`` alternate once per window; ``step`` keeps counting up across windows.
PHASES = ("loading", "encoding", "denoising", "decoding", "writing")


class ProtocolError(EngineError):
    """A line that is not a valid protocol message."""

    kind = "protocol"


@dataclass
class Message:
    type: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type}
        data.update({k: v for k, v in dataclasses.asdict(self).items() if not (k == "extra" and not v)})
        extra = data.pop("extra", None) or {}
        data.update(extra)
        return data

    def to_json(self) -> str:
        """One line of JSON, no trailing newline. ``allow_nan=False``: NaN is not JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False, ensure_ascii=True)


# ---------------------------------------------------------------------------------------- requests


@dataclass
class Generate(Message):
    """Generate a take from a bundle."""

    type: ClassVar[str] = "generate"
    id: str
    """Client-chosen request id; every event about this request carries it."""
    bundle: str
    """Path of the conditioning bundle folder (the one holding shot.json)."""
    out: str
    """Path of the take folder to create; it must not exist yet."""
    params: dict = field(default_factory=dict)
    """``engine.formats.params.GenerateParams`` as a JSON object (only the fields that differ from defaults
    are needed)."""


@dataclass
class Cancel(Message):
    """Cancel a queued or running request; answered by its ``cancelled`` event."""

    type: ClassVar[str] = "cancel"
    id: str


@dataclass
class Shutdown(Message):
    """Stop the worker: a running request is cancelled first, then the worker exits 0."""

    type: ClassVar[str] = "shutdown"


# ------------------------------------------------------------------------------------------ events


@dataclass
class Hello(Message):
    """First line the worker writes, once it is ready for requests."""

    type: ClassVar[str] = "hello"
    protocol: int
    """Protocol version; a client must refuse a version it does not know."""
    engine: str
    """Engine version (``engine.__version__``)."""
    device: str
    """The default device, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu``."""
    backends: list
    """One object per backend: ``name``, ``frame_rule``, ``size_multiple``, ``window``, ``conditioning``..."""
    pid: int
    """Process id of the worker (for a client that wants to kill it)."""
    models: list = field(default_factory=list)
    """The models known by name, then the diffusers folders found in the Models Folder: ``name``,
    ``backend``, ``repo_id``, ``title``, ``description``, ``licence``, ``download_gb``, ``gpu_memory_gb``,
    ``installed`` (complete on disk), ``available`` (runs offline), ``where`` (its folder), ``partial_bytes``
    (an interrupted download to resume), ``local`` for folders (see ``engine.models.installed``).
    Other folders and repo ids work too."""
    # What the default device is, in parts a UI can show. Added after protocol 1 shipped: an older
    # worker leaves them out, hence the defaults.
    device_type: str = ""
    """``cuda``, ``mps`` or ``cpu``; empty from a worker that does not say."""
    device_name: str = ""
    """e.g. ``NVIDIA GeForce RTX 4090``, ``Apple M3 Max`` or the CPU's name."""
    device_memory: int = 0
    """Bytes: the GPU's memory, Metal's recommended working set on Apple silicon, the RAM on a CPU."""
    dtype: str = ""
    """The precision ``dtype=auto`` resolves to on that device (probed)."""
    torch_version: str = ""
    cuda_version: Optional[str] = None
    """The CUDA version torch was built with, or ``None`` for a CPU or Apple build."""


@dataclass
class Progress(Message):
    """Where a request is. ``step``/``total`` count denoising steps from 1 over all windows."""

    type: ClassVar[str] = "progress"
    id: str
    phase: str
    """One of ``PHASES``."""
    step: int
    total: int
    eta: Optional[float] = None
    """Seconds left in the denoising and decoding, estimated from the steps so far; ``None`` until known."""
    window: int = 1
    """Which window (1-based) of a long shot is being generated."""
    windows: int = 1
    extra: dict = field(default_factory=dict)
    """Additional keys (e.g. ``note``), flattened into the JSON object."""


@dataclass
class Result(Message):
    """The take is complete on disk."""

    type: ClassVar[str] = "result"
    id: str
    take: str
    """Absolute path of the take folder."""
    frames: int = 0
    """Number of frames written (always the bundle's frame count)."""
    seconds: float = 0.0
    """Wall time of the request, queueing excluded."""
    extra: dict = field(default_factory=dict)


@dataclass
class Cancelled(Message):
    """The request was cancelled; nothing was written."""

    type: ClassVar[str] = "cancelled"
    id: str


@dataclass
class Error(Message):
    """The request failed; nothing was written. ``message`` is one line a user can act on."""

    type: ClassVar[str] = "error"
    id: Optional[str]
    """The request's id, or ``None`` for a line that could not be parsed."""
    message: str
    kind: str = "engine"
    """Category: ``bundle``, ``params``, ``model``, ``not_downloaded``, ``download``, ``take``,
    ``out_of_memory``, ``protocol``, ``worker`` (the worker died) or ``internal`` (a bug)."""
    extra: dict = field(default_factory=dict)
    """Details for a client that words its own message, flattened into the JSON object: a ``download``
    error's ``reason`` (``not_found``, ``gated``, ``missing_file``, ``disk_space``, ``read_only``,
    ``network``, ``offline``, ...) and what it concerns (``repo``, ``file``, ``folder``, ``needed``, ``free``)."""


# ----------------------------------------------------------------------------------- downloads


@dataclass
class DownloadProgress(Message):
    """Where a model download is (``python -m engine download``)."""

    type: ClassVar[str] = "download_progress"
    id: str
    model: str
    repo: str
    """The repository being fetched (AnimateDiff's model has three)."""
    file: str
    """The file being fetched, as named in its repository; empty when done."""
    done: int
    """Bytes of everything the model needs that are on disk, resumed parts included."""
    total: int
    speed: Optional[float] = None
    """Bytes per second over the last seconds; ``None`` until measured."""
    eta: Optional[float] = None
    """Seconds left at that speed; ``None`` until measured."""
    files_done: int = 0
    files_total: int = 0


@dataclass
class Downloaded(Message):
    """The model is complete on disk and loads offline from now on."""

    type: ClassVar[str] = "downloaded"
    id: str
    model: str
    paths: list = field(default_factory=list)
    """The snapshot folder of each repository, the pipeline's first."""
    total: int = 0
    """Bytes the model occupies."""
    seconds: float = 0.0


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (Generate, Cancel, Shutdown, Hello, Progress, Result, Cancelled, Error, DownloadProgress, Downloaded)
}


def parse_message(line: str) -> Message:
    """Parse one protocol line into its message dataclass, or raise ``ProtocolError``."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"not JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a protocol message must be a JSON object")
    kind = data.get("type")
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}; known: {', '.join(MESSAGE_TYPES)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {name: data[name] for name in fields if name in data and name != "extra"}
    if "extra" in fields:
        kwargs["extra"] = {k: v for k, v in data.items() if k not in fields and k != "type"}
    missing = [
        f.name
        for f in fields.values()
        if f.name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ProtocolError(f"{kind} message lacks {', '.join(missing)}")
    if "id" in kwargs and kwargs["id"] is not None and not isinstance(kwargs["id"], str):
        raise ProtocolError(f"{kind} message id must be a string")
    for name, expected in _FIELD_TYPES.get(kind, {}).items():
        if name in kwargs and not isinstance(kwargs[name], expected):
            raise ProtocolError(f"{kind} message field {name} must be a {expected.__name__}")
    return cls(**kwargs)


#: Field types checked on requests (events come from the engine itself).
_FIELD_TYPES = {"generate": {"id": str, "bundle": str, "out": str, "params": dict}, "cancel": {"id": str}}
