"""One generation from Blender: render the bundle, send it to the warm engine, follow its progress, put the take on the timeline.

`Generation.tick()` does a slice of work and returns, so the modal operator keeps Blender responsive;
`run_blocking()` loops it for background mode, where timers never fire. All bpy work happens in these
calls, on the main thread; the engine's events arrive through the client's queue.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..engine.worker import protocol
from ..engine.worker.client import WorkerError
from ..engine.errors import EngineError
from ..engine.formats.params import GenerateParams
from . import engine_session
from .conditioning import ConditioningError, ConditioningRender
from .extension import get_preferences
from .take_files import TakeFolderError, read_take
from .timeline import TimelineError, place_take

ENGINE_START_TIMEOUT_S = 600.0  # importing torch and diffusers on a cold disk can take minutes


class GenerationError(Exception):
    """Something the user can act on; one line."""


@dataclass
class Progress:
    phase: str = "conditioning"
    fraction: float = 0.0
    text: str = "Rendering conditioning"


@dataclass
class GenerationRequest:
    """What to generate; each field overrides the scene's Neural Previs settings when given."""

    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    mode: str | None = None
    objects: list[str] | None = None
    reference: str | None = None
    output_directory: str | None = None
    warnings: list[str] = field(default_factory=list)


def _output_root(settings, request: GenerationRequest) -> Path:
    folder = request.output_directory or settings.output_directory
    if folder.startswith("//"):
        if not bpy.data.filepath:
            fallback = Path(tempfile.gettempdir()) / "neural_previs"
            request.warnings.append(f"The .blend is not saved: takes go to {fallback}; save the file to keep them beside it")
            return fallback
        return Path(bpy.path.abspath(folder))
    return Path(folder).expanduser()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "shot"


def next_take_number(shot_folder: Path, strip_names, shot: str) -> int:
    """One past the highest take number found on disk or on the timeline: a take is never overwritten."""
    numbers = [0]
    if shot_folder.is_dir():
        numbers += [int(m.group(1)) for m in (re.match(r"^take_(\d+)(?:_bundle)?$", p.name) for p in shot_folder.iterdir()) if m]
    pattern = re.compile(rf"^{re.escape(shot)}_take_(\d+)$")
    numbers += [int(m.group(1)) for m in map(pattern.match, strip_names) if m]
    return max(numbers) + 1


def _selected_objects(settings, request: GenerationRequest) -> list[str]:
    if request.objects is not None:
        return list(request.objects)
    names = [name.strip() for name in settings.selective_objects.split(",") if name.strip()]
    if settings.selective_collection is not None:
        names += [obj.name_full for obj in settings.selective_collection.all_objects]
    return sorted(set(names))


def build_params(context, request: GenerationRequest, bundle_objects: list[str]) -> GenerateParams:
    settings = context.scene.neural_previs
    preferences = get_preferences(context)

    def pick(value, fallback):
        return fallback if value is None else value

    mode = pick(request.mode, settings.mode)
    objects = []
    if mode == "selective":
        wanted = _selected_objects(settings, request)
        objects = [name for name in wanted if name in bundle_objects]
        if not objects:
            raise GenerationError("Selective mode needs objects that are in the shot; choose a Restyle Collection or Restyle Objects")
    steps = pick(request.steps, settings.steps or None)
    guidance = pick(request.guidance, settings.guidance or None)
    seed = pick(request.seed, None if settings.random_seed else settings.seed)
    reference = pick(request.reference, settings.reference_image) or None
    params = GenerateParams(
        prompt=pick(request.prompt, settings.prompt),
        negative_prompt=pick(request.negative_prompt, settings.negative_prompt),
        model=pick(request.model, settings.model) or preferences.default_model,
        steps=steps,
        guidance=guidance,
        seed=seed,
        mode=mode,
        objects=objects,
        reference=bpy.path.abspath(reference) if reference else None,
        offload=preferences.offload,
        device=preferences.device,
    )
    try:
        params.check()
    except EngineError as error:
        raise GenerationError(str(error)) from None
    return params


class Generation:
    """Scene to strip for one take. begin(), then tick() until done; cancel() any time; result holds the strip name."""

    def __init__(self, context, request: GenerationRequest):
        self.context = context
        self.scene = context.scene
        self.request = request
        self.progress = Progress()
        self.done = False
        self.cancelled = False
        self.strip_name: str | None = None
        self.take_folder: Path | None = None
        self._phase = "conditioning"
        self._conditioning: ConditioningRender | None = None
        self._client = None
        self._request_id: str | None = None
        self._params: GenerateParams | None = None
        self._engine_wait_started = 0.0

    @property
    def warnings(self) -> list[str]:
        return self.request.warnings

    def begin(self) -> None:
        if not self.request.prompt and not self.scene.neural_previs.prompt:
            raise GenerationError("The prompt is empty; describe the look of the shot in the Neural Previs panel")
        try:
            engine_session.resolve_engine_python()
        except engine_session.EngineNotConfigured as error:
            raise GenerationError(str(error)) from None
        shot = _safe_name(self.scene.name)
        # No folder is made here: the bundle writer creates (and on failure removes) what it needs.
        shot_folder = _output_root(self.scene.neural_previs, self.request) / shot
        strip_names = [s.name for s in _all_strips(self.scene)]
        number = next_take_number(shot_folder, strip_names, self.scene.name)
        self.take_name = f"{self.scene.name}_take_{number:03d}"
        self.take_folder = shot_folder / f"take_{number:03d}"
        self.bundle_folder = shot_folder / f"take_{number:03d}_bundle"
        self._conditioning = ConditioningRender(self.context, str(self.bundle_folder))
        try:
            self._conditioning.begin()
            self._params = build_params(self.context, self.request, self._conditioning.owners)
        except ConditioningError as error:
            self._conditioning.abort()
            raise GenerationError(str(error)) from None
        except GenerationError:
            self._conditioning.abort()
            raise

    # -- the work, in slices ----------------------------------------------------------------------

    def tick(self, budget_s: float = 0.05, wait_s: float = 0.0) -> bool:
        """Work for about `budget_s`; True while more remains. `wait_s` lets background mode block on engine events."""
        deadline = time.monotonic() + budget_s
        if self._phase == "conditioning":
            more = True
            while more and time.monotonic() < deadline:
                more = self._conditioning.render_next_frame()
            done, total = self._conditioning.progress
            self.progress = Progress("conditioning", 0.1 * done / max(total, 1), f"Conditioning frame {done}/{total}")
            if not more:
                self._finish_conditioning()
            return True
        if self._phase in ("starting", "generating", "cancelling"):
            event = self._client.next_event(timeout=wait_s)
            while event is not None:
                self._handle(event)
                if self.done:
                    return False
                event = self._client.next_event(timeout=0)
            if self._phase == "starting" and time.monotonic() - self._engine_wait_started > ENGINE_START_TIMEOUT_S:
                self._fail(f"The engine did not start within {ENGINE_START_TIMEOUT_S:.0f} s")
            return not self.done
        return False

    def _finish_conditioning(self) -> None:
        try:
            self._conditioning.finish()
        except ConditioningError as error:
            raise GenerationError(str(error)) from None
        self._conditioning = None
        try:
            self._client = engine_session.launch()
        except engine_session.EngineNotConfigured as error:
            raise GenerationError(str(error)) from None
        if self._client.hello is None:
            self._phase = "starting"
            self._engine_wait_started = time.monotonic()
            self.progress = Progress("loading", 0.1, "Starting the engine")
        else:
            self._send()

    def _send(self) -> None:
        self._request_id = self._client.generate(str(self.bundle_folder), str(self.take_folder), self._params.to_dict())
        self._phase = "generating"
        self.progress = Progress("loading", 0.1, "Sent to the engine")

    def _handle(self, event) -> None:
        if isinstance(event, protocol.Hello):
            try:
                self._client.accept_hello(event)
            except WorkerError as error:
                self._fail(str(error))
                return
            if self._phase == "starting":
                self._send()
            return
        event_id = getattr(event, "id", None)
        if isinstance(event, protocol.Error) and event_id is None:
            tail = engine_session.stderr_tail(self._client)
            engine_session.forget(self._client)
            self._fail(f"The engine stopped: {event.message}" + (f" ({tail})" if tail else "") + "; start it again and retry")
            return
        if event_id != self._request_id:
            return
        if isinstance(event, protocol.Progress):
            self._show_progress(event)
        elif isinstance(event, protocol.Result):
            self._import(event.take)
        elif isinstance(event, protocol.Cancelled):
            self.cancelled = True
            self.done = True
            self._discard_bundle()
            self.progress = Progress("cancelled", 0.0, "Cancelled")
        elif isinstance(event, protocol.Error):
            if event.kind == "worker":
                tail = engine_session.stderr_tail(self._client)
                engine_session.forget(self._client)
                self._fail(event.message + (f" ({tail})" if tail else ""))
            else:
                self._fail(event.message)

    def _show_progress(self, event: protocol.Progress) -> None:
        phase = event.phase
        if phase == "denoising" and event.total:
            fraction = 0.15 + 0.75 * event.step / event.total
            eta = f", about {event.eta:.0f} s left" if event.eta is not None else ""
            note = f" ({event.extra['note']})" if event.extra.get("note") and event.step == 0 else ""
            text = f"Denoising step {event.step}/{event.total}{eta}{note}"
        else:
            fraction = {"loading": 0.1, "encoding": 0.15, "decoding": 0.9, "writing": 0.95}.get(phase, self.progress.fraction)
            text = phase.capitalize()
        self.progress = Progress(phase, fraction, text)

    def _import(self, take_path: str) -> None:
        try:
            take = read_take(take_path)
            strip = place_take(self.scene, take, self.take_name)
        except (TakeFolderError, TimelineError) as error:
            self._fail(str(error))
            return
        self.strip_name = strip.name
        self.done = True
        self.progress = Progress("done", 1.0, f"Take '{strip.name}' is on channel {strip.channel}")

    def _fail(self, message: str) -> None:
        self.done = True
        self._discard_bundle()
        raise GenerationError(message)

    def _discard_bundle(self) -> None:
        """A bundle whose take never came is removed with the attempt: nothing is left half done."""
        if self._phase != "conditioning" and not self.take_folder.exists():
            shutil.rmtree(self.bundle_folder, ignore_errors=True)
            try:
                self.bundle_folder.parent.rmdir()  # only if this attempt left it empty
            except OSError:
                pass

    # -- cancel and the blocking path --------------------------------------------------------------

    def cancel(self) -> None:
        """Stop as soon as possible; the engine honours it within one denoising step. Nothing is imported."""
        if self._phase == "conditioning" and self._conditioning is not None:
            self._conditioning.abort()
            self.cancelled = True
            self.done = True
        elif self._phase == "starting":
            self.cancelled = True
            self.done = True
            self._discard_bundle()
        elif self._phase == "generating" and self._request_id is not None:
            self._client.cancel(self._request_id)
            self._phase = "cancelling"
            self.progress = Progress("cancelling", self.progress.fraction, "Cancelling")

    def abort(self) -> None:
        """Release everything after an error (the engine stays warm)."""
        if self._conditioning is not None:
            self._conditioning.abort()
            self._conditioning = None
        if self._phase in ("generating", "cancelling") and not self.done and self._client is not None and self._request_id:
            self._client.cancel(self._request_id)

    def run_blocking(self, on_progress=None) -> None:
        """Background mode: run to the end, calling on_progress(Progress) whenever it changes."""
        last = None
        while self.tick(budget_s=1.0, wait_s=0.5):
            if on_progress and self.progress.text != last:
                last = self.progress.text
                on_progress(self.progress)
        if on_progress and self.progress.text != last:
            on_progress(self.progress)


def _all_strips(scene):
    from .compat import all_strips

    return list(all_strips(scene))
