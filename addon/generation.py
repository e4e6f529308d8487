"""One generation from Blender: render the bundle (and the plate), send it to the warm engine, follow its progress, put the take on the timeline.

`Generation.tick()` does a slice of work and returns, so the modal operator keeps Blender responsive;
`run_blocking()` loops it for background mode, where timers never fire. All bpy work happens in these
calls, on the main thread; the engine's events arrive through the client's queue.

Cancelling: `cancel()` asks the engine to stop (it does within one denoising step, and between phases);
a phase that cannot stop in time (loading weights, a first step that compiles, a long decode) gets
`CANCEL_GRACE_S` plus two step times, then the worker is stopped and started afresh. `stop_now()` is the
same, waited for on the spot: Blender calls it when a file is loaded, a window closes or the add-on
is disabled mid-run. Either way nothing of the attempt is left: no strip, no take, no bundle, no plate.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..engine.errors import EngineError
from ..engine.formats.params import GenerateParams
from ..engine.models.loras import check_file as check_lora_file
from ..engine.worker import protocol
from ..engine.worker.client import WorkerError
from . import engine_session, model_download, model_store, storyboard
from .artist_messages import for_artist
from .compat import all_strips
from .conditioning import ConditioningError, ConditioningRender
from .cpu_warning import cpu_warning
from .extension import get_preferences
from .plate_render import PlateRender, PlateRenderError
from .take_files import TakeFolderError, read_take
from .takes import TAKE_PROPERTY, set_reference_rows, take_folder
from .timeline import TimelineError, place_take

ENGINE_START_TIMEOUT_S = 600.0  # importing torch and diffusers on a cold disk can take minutes
CANCEL_GRACE_S = 3.0  # how long a cancelled engine may take to stop, beyond two step times, before it is restarted

NO_PLATE = (
    "Selective mode keeps the rest of each frame from a plate: pick a take under Plate, choose a folder of frames, "
    "or choose Render Plate"
)
NO_PLATE_TO_KEEP = (
    "Objects whose control is Keep take their pixels from a plate: pick a take under Plate, choose a folder of frames, "
    "or choose Render Plate"
)

log = logging.getLogger(__name__)


class GenerationError(Exception):
    """Something the user can act on; one line."""


@dataclass
class Progress:
    phase: str = "conditioning"
    fraction: float = 0.0
    text: str = "Rendering conditioning"


@dataclass
class GenerationRequest:
    """What to generate; each field overrides the scene's Neural Previs setting of the same name when given."""

    prompt: str | None = None
    negative_prompt: str | None = None
    model: str | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    random_seed: bool | None = None
    mode: str | None = None
    objects: list[str] | None = None
    reference: str | None = None
    quality: str | None = None
    conditioning_scale: float | None = None
    offload: str | None = None
    """`none`/`model`/`group`, or `preferences` for the add-on preferences' profile."""
    plate_source: str | None = None
    """`TAKE`, `FOLDER` or `RENDER` (selective mode)."""
    plate_take: str | None = None
    plate_directory: str | None = None
    output_directory: str | None = None
    plate_from: list[str] | None = None
    """Take folders whose set is kept (default: the scene's set references, Use as Set Reference)."""
    loras: list[dict] | None = None
    """``[{"path", "weight"}]`` instead of the scene's LoRA list (the headless command's --lora)."""
    allow_cpu: bool = False
    """Run a real model even when the engine turns out to be on the CPU (the artist confirmed)."""
    # Storyboard control (issue 15)
    keyframes: list[dict] | None = None
    """`[{"frame", "image", "mode"}]`; None: the scene's Keyframes list."""
    controls: dict[str, str] | None = None
    """Object name -> depth/pose/keep; None: each object's own Neural Previs Control (those in the shot)."""
    warnings: list[str] = field(default_factory=list)


def scene_prompt(settings) -> str:
    """The scene's prompt: its prompt text block when one is chosen (multi-line), else the one-line field."""
    if settings.prompt_text is not None:
        return settings.prompt_text.as_string().strip()
    return settings.prompt


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
        numbers += [int(m.group(1)) for m in (re.match(r"^take_(\d+)(?:_bundle|_plate)?$", p.name) for p in shot_folder.iterdir()) if m]
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


def _pick(value, fallback):
    return fallback if value is None else value


def _loras(settings, request: GenerationRequest) -> list[dict]:
    """The take's LoRAs: the request's, else the scene's used ones, files as absolute paths."""
    if request.loras is not None:
        entries = [dict(entry) for entry in request.loras]
    else:
        entries = [{"path": lora.path, "weight": _decimal(lora.weight)} for lora in settings.loras if lora.enabled and lora.path.strip()]
    for entry in entries:
        path = entry["path"]
        if path.startswith("//") or os.path.exists(bpy.path.abspath(path)):
            entry["path"] = os.path.abspath(bpy.path.abspath(path))  # a repo id stays as it is
    return entries


def _decimal(value: float | None) -> float | None:
    """A FloatProperty's value as the artist typed it: 0.8, not its 32-bit neighbour 0.800000011920929."""
    return None if value is None else round(float(value), 6)


def shot_size(scene) -> tuple[int, int, int]:
    """Frames, width and height of the shot the bundle will hold."""
    frames = len(range(scene.frame_start, scene.frame_end + 1, max(1, scene.frame_step)))
    scale = scene.render.resolution_percentage / 100
    return frames, round(scene.render.resolution_x * scale), round(scene.render.resolution_y * scale)


def cpu_warning_for(context, request: GenerationRequest, engine_device: dict | None) -> str | None:
    """The warning before a real model runs on the CPU (None when there is nothing to say)."""
    settings = context.scene.neural_previs
    preferences = get_preferences(context)
    model = (request.model if request.model is not None else settings.model) or preferences.default_model
    steps = request.steps if request.steps is not None else (settings.steps or None)
    guidance = request.guidance if request.guidance is not None else (settings.guidance or None)
    frames, width, height = shot_size(context.scene)
    return cpu_warning(model, preferences.device, engine_device, frames, width, height, steps, guidance is None or guidance > 1)


def cpu_refusal(warning: str) -> str:
    """A CPU warning as the reason a take did not start, with the way to run it anyway."""
    if bpy.app.background:
        return f"{warning}; to run it anyway pass allow_cpu=True (headless: --allow-cpu), or set Device to CPU in the Neural Previs preferences"
    return f"{warning}; to run it anyway, press Generate Take and confirm, or set Device to CPU in the Neural Previs preferences"


class Generation:
    """Scene to strip for one take. begin(), then tick() until done; cancel() any time; strip_name holds the result."""

    def __init__(self, context, request: GenerationRequest):
        self.context = context
        self.scene = context.scene
        self.scene_name = context.scene.name
        self.request = request
        self.progress = Progress()
        self.done = False
        self.cancelled = False
        self.strip_name: str | None = None
        self.take_folder: Path | None = None
        self.bundle_folder: Path | None = None
        self.plate_folder: Path | None = None
        self._phase = "new"
        self._conditioning: ConditioningRender | None = None
        self._plate_render: PlateRender | None = None
        self._rendered_plate = False
        self._client = None
        self._request_id: str | None = None
        self._params: GenerateParams | None = None
        self._engine_wait_started = 0.0
        self._step_times: list[float] = []
        self._cancel_deadline: float | None = None
        self._restart_after_stop = True

    @property
    def warnings(self) -> list[str]:
        return self.request.warnings

    @property
    def running(self) -> bool:
        return not self.done

    # -- set-up --------------------------------------------------------------------------------------

    def begin(self) -> None:
        settings = self.scene.neural_previs
        if not (self.request.prompt or scene_prompt(settings)).strip():
            raise GenerationError("The prompt is empty; describe the look of the shot in the Neural Previs panel")
        try:
            engine_session.resolve_engine_python()
        except engine_session.EngineNotConfigured as error:
            raise GenerationError(str(error)) from None
        # Before rendering anything: first whether this machine can run the take at all (a real model on
        # an engine without GPU), then whether its weights are here (no point downloading 20 GB for hours of CPU).
        self._refuse_the_cpu_unless_allowed()
        preferences = get_preferences(self.context)
        model = self.request.model or self.scene.neural_previs.model or preferences.default_model
        if model_download.needs_download(model, self.context):
            raise GenerationError(model_store.not_downloaded_message(model, model_download.models_folder_of(preferences)))
        shot = _safe_name(self.scene.name)
        # No folder is made here: the bundle writer creates (and on failure removes) what it needs.
        shot_folder = _output_root(settings, self.request) / shot
        strip_names = [s.name for s in all_strips(self.scene)]
        number = next_take_number(shot_folder, strip_names, self.scene.name)
        self.take_name = f"{self.scene.name}_take_{number:03d}"
        self.take_folder = shot_folder / f"take_{number:03d}"
        self.bundle_folder = shot_folder / f"take_{number:03d}_bundle"
        # Keyframes and controls are checked before anything renders (issue 15).
        self._keyframes = self.request.keyframes if self.request.keyframes is not None else storyboard.keyframe_requests(settings)
        self._controls = self.request.controls if self.request.controls is not None else storyboard.scene_controls(self.scene)
        try:
            storyboard.check_keyframes(self._keyframes, storyboard.shot_frames(self.scene))
        except storyboard.StoryboardError as error:
            raise GenerationError(str(error)) from None
        plate = self._plate()
        self._conditioning = ConditioningRender(self.context, str(self.bundle_folder))
        try:
            self._conditioning.begin()
            self._params = self._build_params(self._conditioning.owners, plate)
        except ConditioningError as error:
            self._conditioning.abort()
            raise GenerationError(str(error)) from None
        except GenerationError:
            self._conditioning.abort()
            raise
        self._phase = "conditioning"

    def _mode(self) -> str:
        return _pick(self.request.mode, self.scene.neural_previs.mode)

    def _plate(self) -> str | None:
        """The plate folder for selective mode (checked now, so a wrong choice fails before any rendering)."""
        keeps = "keep" in self._controls.values()
        if self._mode() != "selective" and not keeps:
            return None
        no_plate = NO_PLATE if self._mode() == "selective" else NO_PLATE_TO_KEEP
        settings = self.scene.neural_previs
        source = _pick(self.request.plate_source, settings.plate_source)
        if source == "TAKE":
            name = _pick(self.request.plate_take, settings.plate_take)
            if not name:
                raise GenerationError(no_plate)
            strip = next((s for s in all_strips(self.scene) if s.name == name), None)
            if strip is None or TAKE_PROPERTY not in strip:
                raise GenerationError(f"The plate take '{name}' is not a take on this scene's timeline; pick another take under Plate")
            folder = take_folder(strip)
            if folder is None or not folder.is_dir():
                raise GenerationError(f"The folder of the plate take '{name}' is missing ({folder}); pick another take under Plate")
            return str(folder)
        if source == "FOLDER":
            directory = _pick(self.request.plate_directory, settings.plate_directory)
            if not directory:
                raise GenerationError(no_plate)
            folder = Path(bpy.path.abspath(directory))
            if not folder.is_dir():
                raise GenerationError(f"The plate folder {folder} does not exist; choose a folder of frames under Plate")
            return str(folder)
        if source == "RENDER":
            self.plate_folder = self.take_folder.with_name(f"{self.take_folder.name}_plate")
            return str(self.plate_folder)
        raise GenerationError(no_plate)

    def _set_references(self) -> list[str]:
        """The set reference takes' folders, each checked now (a moved take fails before any rendering)."""
        if self.request.plate_from is not None:
            return [str(Path(bpy.path.abspath(folder))) for folder in self.request.plate_from]
        folders = []
        for name, folder, missing in set_reference_rows(self.scene):
            if missing:
                raise GenerationError(
                    f"The folder of the set reference take '{name}' is missing ({folder}); remove it under Set Reference in the Sequencer's Neural Previs tab"
                )
            folders.append(folder)
        return folders

    def _build_params(self, bundle_objects: list[str], plate: str | None) -> GenerateParams:
        settings = self.scene.neural_previs
        preferences = get_preferences(self.context)
        request = self.request
        mode = self._mode()
        objects = []
        if mode == "selective":
            wanted = _selected_objects(settings, request)
            objects = [name for name in wanted if name in bundle_objects]
            if not objects:
                raise GenerationError("Selective mode needs objects that are in the shot; choose a Collection or Objects to Regenerate")
        controls = self._controls if request.controls is not None else storyboard.controls_in_shot(
            self._controls, bundle_objects, getattr(self._conditioning, "characters", ()))
        try:
            storyboard.check_poses(controls, getattr(self._conditioning, "characters", ()))
        except storyboard.StoryboardError as error:
            raise GenerationError(str(error)) from None
        if mode != "selective" and "keep" not in controls.values():  # the kept objects are not in the shot
            plate, self.plate_folder = None, None
        random_seed = _pick(request.random_seed, settings.random_seed)
        offload = _pick(request.offload, settings.offload)
        reference = _pick(request.reference, settings.reference_image) or None
        params = GenerateParams(
            prompt=_pick(request.prompt, scene_prompt(settings)),
            negative_prompt=_pick(request.negative_prompt, settings.negative_prompt),
            model=_pick(request.model, settings.model) or preferences.default_model,
            steps=_pick(request.steps, settings.steps or None),
            guidance=_decimal(_pick(request.guidance, settings.guidance or None)),
            seed=_pick(request.seed, None if random_seed else settings.seed),
            mode=mode,
            objects=objects,
            reference=bpy.path.abspath(reference) if reference else None,
            plate=plate,
            conditioning_scale=_decimal(_pick(request.conditioning_scale, settings.conditioning_scale)),
            quality=_pick(request.quality, settings.quality),
            offload=preferences.offload if offload == "preferences" else offload,
            device=preferences.device,
            keyframes=self._keyframes,
            controls=controls,
            plate_from=self._set_references(),
            loras=_loras(settings, request),
            weights=settings.weights,  # FP8 weight storage (issue 14 section 6)
        )
        try:
            params.check()
            for lora in params.loras:  # before anything renders: a missing or wrong file is one line now
                check_lora_file(lora["path"])
        except EngineError as error:
            raise GenerationError(for_artist(str(error), error.kind)) from None
        self.blender_settings = {
            "random_seed": bool(random_seed and request.seed is None),
            "plate_source": _pick(request.plate_source, settings.plate_source) if plate else "",
            "plate_take": _pick(request.plate_take, settings.plate_take) if plate else "",
            "offload": offload,
        }
        return params

    # -- the work, in slices -------------------------------------------------------------------------

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
        if self._phase == "plate":
            try:
                more = self._plate_render.render_next_frame()
                done, total = self._plate_render.progress
                self.progress = Progress("plate", 0.1, f"Rendering the plate, frame {done}/{total}")
                if not more:
                    self._plate_render.finish()
                    self._plate_render = None
                    self._rendered_plate = True
                    self._start_engine()
            except PlateRenderError as error:
                self._fail(str(error))
            return True
        if self._phase in ("starting", "generating", "cancelling"):
            event = self._client.next_event(timeout=wait_s)
            while event is not None:
                self._handle(event)
                if self.done:
                    return False
                event = self._client.next_event(timeout=0)
            now = time.monotonic()
            if self._phase == "starting" and now - self._engine_wait_started > ENGINE_START_TIMEOUT_S:
                self._fail(f"The engine did not start within {ENGINE_START_TIMEOUT_S:.0f} s")
            if self._phase == "cancelling" and now > self._cancel_deadline:
                self._stop_engine()
            return not self.done
        return False

    def _finish_conditioning(self) -> None:
        try:
            self._conditioning.finish()
        except ConditioningError as error:
            self._conditioning = None
            raise GenerationError(str(error)) from None
        frames = self._conditioning.frames
        self._conditioning = None
        if self.plate_folder is not None:
            self._phase = "plate"
            self._plate_render = PlateRender(self.scene, self.plate_folder, frames)
            try:
                self._plate_render.begin()
            except PlateRenderError as error:
                self._plate_render = None
                self._fail(str(error))
            return
        self._start_engine()

    def _start_engine(self) -> None:
        try:
            self._client = engine_session.launch()
        except engine_session.EngineNotConfigured as error:
            self._fail(str(error))
        if self._client.hello is None:
            self._phase = "starting"
            self._engine_wait_started = time.monotonic()
            self.progress = Progress("loading", 0.1, "Starting the engine")
        else:
            self._send()

    def _refuse_the_cpu_unless_allowed(self) -> None:
        warning = None if self.request.allow_cpu else cpu_warning_for(self.context, self.request, engine_session.known_device())
        if warning:
            raise GenerationError(cpu_refusal(warning))

    def _send(self) -> None:
        try:
            self._refuse_the_cpu_unless_allowed()  # an engine started just now may be the first to say it has no GPU
        except GenerationError as error:
            self._fail(str(error))
        self._request_id = self._client.generate(str(self.bundle_folder), str(self.take_folder), self._params.to_dict())
        self._phase = "generating"
        self.progress = Progress("loading", 0.1, "Sent to the engine")

    def _handle(self, event) -> None:
        if isinstance(event, protocol.Hello):
            try:
                engine_session.accept_hello(self._client, event)
            except WorkerError as error:
                self._fail(str(error))
            if self._phase == "starting":
                self._send()
            return
        event_id = getattr(event, "id", None)
        if isinstance(event, protocol.Error) and event_id is None:
            self._engine_died(event.message)
            return
        if event_id != self._request_id:
            return
        if isinstance(event, protocol.Progress):
            self._show_progress(event)
        elif isinstance(event, protocol.Result):
            if self._phase == "cancelling":  # finished before the cancel arrived: the artist asked for no take
                shutil.rmtree(event.take, ignore_errors=True)
                self._end_cancelled()
            else:
                self._import(event.take)
        elif isinstance(event, protocol.Cancelled):
            self._end_cancelled()
        elif isinstance(event, protocol.Error):
            if event.kind == "not_downloaded":  # the engine's line names command-line flags; an artist gets the button
                folder = model_download.models_folder_of(get_preferences(self.context))
                self._fail(model_store.not_downloaded_message(self._params.model, folder),
                           detail=f"engine error ({event.kind}): {event.message}")
            elif event.kind == "worker":
                self._engine_died(event.message)
            else:
                self._fail(for_artist(event.message, event.kind), detail=f"engine error ({event.kind}): {event.message}")

    def _engine_died(self, message: str) -> None:
        tail = engine_session.stderr_tail(self._client)
        engine_session.forget(self._client)
        if self._phase == "cancelling":
            self._end_cancelled()
            return
        self._fail(for_artist(message, "worker"), detail=f"engine worker died: {message} | {tail}")

    def _show_progress(self, event: protocol.Progress) -> None:
        phase = event.phase
        note = f" ({event.extra['note']})" if event.extra.get("note") else ""
        if phase == "denoising" and event.step:
            self._step_times.append(time.monotonic())
        if self._phase == "cancelling":
            return
        if phase == "denoising" and event.total:
            fraction = 0.15 + 0.75 * event.step / event.total
            eta = f", about {event.eta:.0f} s left" if event.eta is not None else ""
            text = f"Denoising step {event.step}/{event.total}{eta}{note if event.step == 0 else ''}"
        else:
            fraction = {"loading": 0.1, "encoding": 0.15, "decoding": 0.9, "writing": 0.95}.get(phase, self.progress.fraction)
            text = phase.capitalize() + note
        self.progress = Progress(phase, fraction, text)

    def _step_seconds(self) -> float:
        times = self._step_times[-2:]
        return times[1] - times[0] if len(times) == 2 else 0.0

    def _import(self, take_path: str) -> None:
        scene = bpy.data.scenes.get(self.scene_name)
        try:
            if scene is None:
                raise TimelineError(f"The scene '{self.scene_name}' is gone; the take is in {take_path}, import it with Import Take")
            take = read_take(take_path)
            strip = place_take(scene, take, self.take_name, settings=self.blender_settings)
        except (TakeFolderError, TimelineError) as error:
            self._fail(str(error), keep_files=True)
            return
        self.strip_name = strip.name
        self.done = True
        seed = take.record.get("resolved", {}).get("seed")
        self.progress = Progress("done", 1.0, f"Take '{strip.name}' is on channel {strip.channel} (seed {seed})")

    # -- endings -------------------------------------------------------------------------------------

    def _fail(self, message: str, detail: str | None = None, keep_files: bool = False) -> None:
        log.warning("Neural Previs generation failed: %s", detail or message)
        self.done = True
        if not keep_files:
            self._discard()
        # Every failure shown in Blender says where the full detail is (the engine's log).
        raise GenerationError(engine_session.with_log(message))

    def _end_cancelled(self) -> None:
        self.cancelled = True
        self.done = True
        self._discard()
        self.progress = Progress("cancelled", 0.0, "Cancelled")

    def _discard(self) -> None:
        """Nothing of an attempt without a take is left: its bundle, its rendered plate, a half-written take."""
        if self._conditioning is not None:
            self._conditioning.abort()
            self._conditioning = None
        if self._plate_render is not None:
            self._plate_render.abort()
            self._plate_render = None
        if self.take_folder is None or self.take_folder.exists():
            return
        shutil.rmtree(self.bundle_folder, ignore_errors=True)
        if self._rendered_plate:
            shutil.rmtree(self.plate_folder, ignore_errors=True)
        shot_folder = self.take_folder.parent
        if shot_folder.is_dir():
            for partial in shot_folder.glob(f".{self.take_folder.name}.partial-*"):  # a worker stopped while writing
                shutil.rmtree(partial, ignore_errors=True)
            try:
                shot_folder.rmdir()  # only if this attempt left it empty
            except OSError:
                pass

    def _stop_engine(self) -> None:
        """The engine did not stop in time: stop the worker (what it was doing is lost) and start a fresh one."""
        log.warning("Neural Previs: the engine did not stop within %.1f s of the cancel; restarting it", CANCEL_GRACE_S)
        engine_session.forget(self._client)
        self._end_cancelled()
        if self._restart_after_stop:
            try:
                engine_session.launch()
            except engine_session.EngineNotConfigured as error:
                log.warning("Neural Previs: the engine could not be restarted: %s", error)

    # -- cancel and the blocking path ----------------------------------------------------------------

    def cancel(self) -> None:
        """Stop as soon as possible; nothing is imported and nothing of the attempt stays on disk."""
        if self.done:
            return
        if self._phase in ("new", "conditioning", "plate", "starting"):
            self._end_cancelled()
        elif self._phase == "generating":
            self._client.cancel(self._request_id)
            self._phase = "cancelling"
            self._cancel_deadline = time.monotonic() + CANCEL_GRACE_S + 2 * self._step_seconds()
            self.progress = Progress("cancelling", self.progress.fraction, "Cancelling")

    def stop_now(self, restart_engine: bool = True) -> None:
        """Cancel and wait for it here (bounded by the cancel deadline): the file is changing or the add-on going away."""
        self._restart_after_stop = restart_engine
        self.cancel()
        while not self.done:
            try:
                self.tick(budget_s=0.05, wait_s=0.05)
            except GenerationError:
                break

    def abort(self) -> None:
        """Release everything after an error (the engine stays warm)."""
        if self._conditioning is not None:
            self._conditioning.abort()
            self._conditioning = None
        if self._plate_render is not None:
            self._plate_render.abort()
            self._plate_render = None
        if self._phase in ("generating", "cancelling") and self._client is not None and self._request_id:
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
