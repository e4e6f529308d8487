"""Command line: ``python -m engine generate BUNDLE --out TAKE ...``, ``python -m engine serve``,
``python -m engine download NAME_OR_REPO_ID [--models-dir DIR]``,
``python -m engine qc TAKE_DIR`` and ``python -m engine check`` (can this Python run the engine, on which device: one JSON line).

``generate`` writes progress to stdout as protocol JSON lines (the same ``progress``/``result``/
``error`` messages as the worker, with id ``"generate"``), or a readable progress bar when stdout is
a terminal. Exit codes: 0 take complete, 1 failed (one-line reason on stderr), 2 bad command line,
130 interrupted (Ctrl-C or SIGTERM). Nothing is written to the take's folder unless it is complete.

``download`` reports ``download_progress`` lines and then ``downloaded`` or ``error`` (id ``"download"``),
or a progress bar on a terminal; exit code 0 only when every file the model needs is on disk, 130 when
interrupted (what arrived is kept, and the next run resumes it).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import __version__
from .formats.params import DTYPES, MODES, OFFLOAD_PROFILES, QUALITIES, WEIGHT_STORAGES, GenerateParams
from .generation.controls import parse_control_argument
from .generation.keyframes import parse_keyframe_argument
from .formats.lora_entries import parse_lora_argument

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CLI_REQUEST_ID = "generate"
DOWNLOAD_REQUEST_ID = "download"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Neural Previs engine: bundles in, takes out.")
    parser.add_argument("--version", action="version", version=f"neural-previs engine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="generate one take from a conditioning bundle")
    generate.add_argument("bundle", metavar="BUNDLE", help="bundle folder (holding shot.json)")
    generate.add_argument("--out", required=True, metavar="TAKE_DIR", help="take folder to create (must not exist)")
    defaults = GenerateParams()
    generate.add_argument("--model", default=defaults.model, metavar="MODEL", help=f"tiny-random, wan-vace-1.3b, wan-vace-14b, animatediff-controlnet, a diffusers folder or a repo id (default: {defaults.model})")
    generate.add_argument("--prompt", required=True, metavar="TEXT", help="the look of the shot")
    generate.add_argument("--negative-prompt", default="", metavar="TEXT", help="what to steer away from")
    generate.add_argument("--steps", type=int, metavar="N", help="denoising steps per window (default: the backend's)")
    generate.add_argument("--guidance", type=float, metavar="G", help="guidance scale, 1 = off (default: the backend's)")
    generate.add_argument("--seed", type=int, metavar="S", help="random seed, 0 to 2147483647 (default: drawn and recorded in take.json)")
    generate.add_argument("--mode", choices=MODES, default="restyle", help="restyle the whole frame, or only --objects (default: restyle)")
    generate.add_argument("--objects", default="", metavar="NAME,...", help="selective mode: objects to regenerate")
    generate.add_argument("--reference", metavar="IMAGE", help="style reference image")
    generate.add_argument("--plate", metavar="FRAMES_DIR", help="selective mode: frames (or a take) kept outside the objects")
    generate.add_argument("--plate-from", action="append", default=[], metavar="TAKE_DIR",
                          help="a take of another shot of the same set: the surfaces it shows are kept exactly (repeatable)")
    generate.add_argument("--conditioning-scale", type=float, default=1.0, metavar="X", help="depth conditioning strength (default: 1.0)")
    generate.add_argument("--quality", choices=QUALITIES, default="final",
                          help="final; preview: fewer steps and a quarter of the pixels; draft: 4 steps without guidance "
                               "with the model's step-distillation LoRA; draft-preview: both (default: final)")
    generate.add_argument("--offload", choices=OFFLOAD_PROFILES, default="none", help="GPU memory profile: none (fastest), model, group (least memory)")
    generate.add_argument("--device", default="auto", help="auto (CUDA GPU, else Apple GPU, else CPU), cpu, mps, cuda or cuda:N (default: auto)")
    generate.add_argument("--dtype", choices=DTYPES, default="auto", help="weights precision (default: the best the device computes, probed: bfloat16, else float16; float32 on the CPU)")
    generate.add_argument("--download", action="store_true", help="download missing weights first, as `download` does (offline otherwise)")
    generate.add_argument("--motion-adapter", metavar="ID", help="animatediff-controlnet: motion adapter folder or repo id")
    generate.add_argument("--controlnet", metavar="ID", help="animatediff-controlnet: depth ControlNet folder or repo id")
    # Storyboard control (issue 15)
    generate.add_argument("--keyframe", action="append", default=[], metavar="FRAME=IMAGE",
                          help="pin an image at a scene frame (repeatable); FRAME=IMAGE:guide conditions on it but keeps the model's frame")
    generate.add_argument("--control", action="append", default=[], metavar="NAME=CONTROL",
                          help="what an object's region shows the model: depth (default), pose (its skeleton) or keep (the plate's pixels); repeatable")
    # -- LoRAs (engine.models.loras) --
    generate.add_argument("--lora", action="append", default=[], metavar="PATH_OR_REPO[:WEIGHT]",
                          help="a LoRA .safetensors (file, org/name/file.safetensors or org/name) with its weight "
                               "(default 1.0), e.g. style.safetensors:0.8; repeat for several")
    # --- experts (issue 14 sections 4-6) ---
    generate.add_argument("--guidance-2", type=float, metavar="G",
                          help="two-expert models (wan2.2-vace-fun-a14b): guidance of the low-noise expert (default: --guidance)")
    generate.add_argument("--cache", metavar="KIND:THRESHOLD",
                          help="step cache for final takes: first-block:THRESHOLD or mag:THRESHOLD, e.g. first-block:0.05 (default: none)")
    generate.add_argument("--weights", choices=WEIGHT_STORAGES, default="auto",
                          help="transformer weight storage: auto (as --dtype), or fp8 (float8 storage, bfloat16 compute: half the memory)")

    commands.add_parser("serve", help="run the persistent JSON-lines worker on stdin/stdout")
    commands.add_parser("check", help="import torch and diffusers and report the device, as one JSON line (exit 0 when usable)")

    download = commands.add_parser(
        "download", help="download a model's weights from the Hugging Face Hub (only what the pipeline loads; resumable)"
    )
    download.add_argument("model", metavar="NAME_OR_REPO_ID", help="wan-vace-1.3b, wan-vace-14b, animatediff-controlnet, or a repo id (org/name)")
    download.add_argument("--models-dir", metavar="DIR",
                          help="a Hugging Face home: weights go to DIR/hub (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)")

    from .batch import cli as batch_cli
    from .qc import cli as qc_cli

    batch_cli.add_parser(commands)
    qc_cli.add_parser(commands)
    return parser


def params_from_args(args: argparse.Namespace) -> GenerateParams:
    return GenerateParams(
        prompt=args.prompt,
        model=args.model,
        negative_prompt=args.negative_prompt,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        mode=args.mode,
        objects=[name.strip() for name in args.objects.split(",") if name.strip()],
        reference=args.reference,
        plate=args.plate,
        plate_from=list(args.plate_from),
        conditioning_scale=args.conditioning_scale,
        quality=args.quality,
        offload=args.offload,
        device=args.device,
        dtype=args.dtype,
        download=args.download,
        motion_adapter=args.motion_adapter,
        controlnet=args.controlnet,
        keyframes=[parse_keyframe_argument(text) for text in args.keyframe],
        controls=dict(parse_control_argument(text) for text in args.control),
        loras=[parse_lora_argument(value) for value in args.lora],
        guidance_2=args.guidance_2,
        cache=args.cache,
        weights=args.weights,
    )


def main(argv: list[str] | None = None) -> int:
    from .worker.stdio import quiet_libraries, reserve_stdout

    quiet_libraries()
    args = build_parser().parse_args(argv)
    if args.command == "batch":  # a person's console, not a protocol stream: stdout stays as it is
        from .batch import cli as batch_cli

        return batch_cli.run(args)
    if args.command == "qc":  # a person's console too
        from .qc import cli as qc_cli

        return qc_cli.run(args)
    protocol_out = reserve_stdout()
    if args.command == "check":
        from .environment_check import main as check_main

        return check_main(protocol_out)
    if args.command == "serve":
        from .worker.serve import serve

        return serve(sys.stdin, protocol_out)
    if args.command == "download":
        return _download(args, protocol_out)
    return _generate(args, protocol_out)


def _interrupt(signum, frame):
    raise KeyboardInterrupt()


def _generate(args: argparse.Namespace, out) -> int:
    import signal

    from .worker import protocol
    from .errors import EngineError, GenerationCancelled
    from .progress_bar import ProgressBar

    # A farm cancels a job with SIGTERM: unwind like Ctrl-C so the partial take is removed.
    signal.signal(signal.SIGTERM, _interrupt)
    bar = ProgressBar(out) if out.isatty() else None

    def report(phase, step, total, **extra):
        if bar is not None:
            bar.update(phase, step, total, extra.get("eta"), extra.get("note"))
            return
        known = {k: extra.pop(k) for k in ("eta", "window", "windows") if k in extra}
        message = protocol.Progress(id=CLI_REQUEST_ID, phase=phase, step=step, total=total, extra=extra, **known)
        out.write(message.to_json() + "\n")

    def fail(message: str, kind: str) -> int:
        if bar is not None:
            bar.finish()
        else:
            out.write(protocol.Error(id=CLI_REQUEST_ID, message=message, kind=kind).to_json() + "\n")
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILED

    try:
        from .generation.generate import generate_take
        from .generation.session import Session

        params = params_from_args(args)
        summary = generate_take(Session(), args.bundle, args.out, params, report)
    except EngineError as error:
        return fail(error.message, error.kind)
    except (KeyboardInterrupt, GenerationCancelled):
        if bar is not None:
            bar.finish()
        print("interrupted: no take was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: full traceback on stderr, one line for the user
        traceback.print_exc(file=sys.stderr)
        first = str(error).splitlines()[0] if str(error) else ""
        return fail(f"internal error ({type(error).__name__}: {first}); see the traceback above", "internal")
    if bar is not None:
        bar.finish()
        print(f"take written: {summary.path}" + (" (tiny-random: noise)" if summary.synthetic else ""), file=out)
    else:
        result = protocol.Result(
            id=CLI_REQUEST_ID, take=str(summary.path), frames=summary.frames, seconds=round(summary.seconds, 3),
            extra={"synthetic": summary.synthetic},
        )
        out.write(result.to_json() + "\n")
    return EXIT_OK


def _download(args: argparse.Namespace, out) -> int:
    import signal
    import time
    from pathlib import Path

    from .errors import EngineError
    from .models.catalog import KNOWN_MODELS
    from .models.locations import engine_cache_dir, hub_cache_dir
    from .progress_bar import DownloadBar
    from .worker import protocol

    signal.signal(signal.SIGTERM, _interrupt)
    bar = DownloadBar(out) if out.isatty() else None
    hub_cache = Path(args.models_dir).expanduser() / "hub" if args.models_dir else hub_cache_dir()
    started = time.monotonic()

    def report(progress) -> None:
        if bar is not None:
            bar.update(progress)
            return
        out.write(protocol.DownloadProgress(id=DOWNLOAD_REQUEST_ID, **vars(progress)).to_json() + "\n")

    def done(paths: list[Path], total: int) -> int:
        if bar is not None:
            bar.finish()
            print(f"{args.model} is complete: {paths[0] if paths else ''}", file=out)
        else:
            message = protocol.Downloaded(id=DOWNLOAD_REQUEST_ID, model=args.model, paths=[str(p) for p in paths],
                                          total=total, seconds=round(time.monotonic() - started, 3))
            out.write(message.to_json() + "\n")
        return EXIT_OK

    try:
        known = KNOWN_MODELS.get(args.model)
        if known is not None and not known.repos:  # built on this machine, nothing to fetch
            from .models.weights import resolve_model

            return done([resolve_model(args.model).path], 0)
        from .models.download import download_model

        last = {}
        paths = download_model(args.model, hub_cache, lambda progress: (last.update(total=progress.total), report(progress)))
        return done(paths, last.get("total", 0))
    except EngineError as error:
        if bar is not None:
            bar.finish()
        else:
            extra = dict(getattr(error, "details", {}))
            out.write(protocol.Error(id=DOWNLOAD_REQUEST_ID, message=error.message, kind=error.kind, extra=extra).to_json() + "\n")
        print(f"error: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if bar is not None:
            bar.finish()
        print("interrupted: what arrived is kept; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug: full traceback on stderr, one line for the user
        traceback.print_exc(file=sys.stderr)
        message = f"internal error ({type(error).__name__}: {error}); see the traceback above"
        if bar is None:
            out.write(protocol.Error(id=DOWNLOAD_REQUEST_ID, message=" ".join(message.split()), kind="internal").to_json() + "\n")
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILED
