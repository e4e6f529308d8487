"""The headless command: `blender -b shot.blend --command neural_previs generate --prompt "..."`.

Renders, generates, imports the take, and saves the .blend only with --save. Progress goes to stdout;
the exit code is 0 only when the take is on the timeline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bpy

from ..engine.errors import EngineError
from ..engine.formats.params import QUALITIES
from ..engine.generation.controls import parse_control_argument
from ..engine.generation.keyframes import parse_keyframe_argument
from .generation import NO_PLATE, NO_PLATE_TO_KEEP, Generation, GenerationError, GenerationRequest
from ..engine.formats.lora_entries import parse_lora_argument
from .generation import NO_PLATE, Generation, GenerationError, GenerationRequest
from .properties import SCENE_OFFLOAD_ITEMS

COMMAND = "neural_previs"

NO_PLATE_HERE = "selective mode and objects with the keep control keep pixels from a plate: pass --plate-take STRIP, --plate FOLDER or --render-plate"

_handle = None  # what register_cli_command returned; needed to unregister


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"blender -b FILE.blend --command {COMMAND}", description="Neural Previs from the command line")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="render the conditioning, generate a take and add it to the timeline")
    generate.add_argument("--prompt", help="what the shot should look like (default: the scene's prompt)")
    generate.add_argument("--negative-prompt")
    generate.add_argument("--model", help="wan-vace-1.3b, wan-vace-14b, animatediff-controlnet, tiny-random, a folder or a repo id")
    generate.add_argument("--steps", type=int)
    generate.add_argument("--guidance", type=float)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--mode", choices=("restyle", "selective"))
    generate.add_argument("--objects", help="selective mode: object names, separated by commas")
    generate.add_argument("--reference", help="style reference image")
    generate.add_argument("--quality", choices=QUALITIES, help="the engine's quality (default: the scene's)")
    generate.add_argument("--conditioning-scale", type=float, help="strength of the layout's depth, 0 to 10 (default: the scene's)")
    generate.add_argument("--offload", choices=[item[0] for item in SCENE_OFFLOAD_ITEMS], help="memory profile (default: the scene's)")
    plate = generate.add_mutually_exclusive_group()
    plate.add_argument("--plate-take", metavar="STRIP", help="selective mode: keep the pixels of this take strip outside the objects")
    plate.add_argument("--plate", metavar="FOLDER", help="selective mode: keep the pixels of this folder of frames outside the objects")
    plate.add_argument("--render-plate", action="store_true", help="selective mode: render the scene's own frames as the plate")
    # Storyboard control (issue 15): these replace the scene's Keyframes list / the objects' controls when given
    generate.add_argument("--keyframe", action="append", metavar="FRAME=IMAGE",
                          help="pin an image at a scene frame (repeatable; FRAME=IMAGE:guide keeps the model's frame); default: the scene's Keyframes list")
    generate.add_argument("--control", action="append", metavar="NAME=CONTROL",
                          help="an object's control: depth, pose or keep (repeatable); default: each object's own")
    generate.add_argument("--lora", action="append", metavar="PATH_OR_REPO[:WEIGHT]",
                          help="a LoRA .safetensors and its weight (default 1.0), e.g. style.safetensors:0.8; repeat for "
                               "several; given at all, it replaces the scene's LoRA list")
    generate.add_argument("--out", help="output folder for bundles and takes (default: the scene's)")
    generate.add_argument("--scene", help="scene name (default: the file's active scene)")
    generate.add_argument("--save", action="store_true", help="save the .blend with the new strip")
    generate.add_argument("--allow-cpu", action="store_true",
                          help="run a real model even when the engine has no GPU (hours per take); without it such a take is refused")
    return parser


def run(argv: list[str]) -> int:
    """The command's body; returns the process exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse exits on --help and on bad arguments
        return int(exit_request.code or 0)
    if args.scene and args.scene != bpy.context.scene.name:
        scene = bpy.data.scenes.get(args.scene)
        if scene is None:
            print(f"Error: no scene '{args.scene}' in {bpy.data.filepath or 'the file'}; scenes: {', '.join(bpy.data.scenes.keys())}", file=sys.stderr)
            return 2
        with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
            return _generate(bpy.context, args)
    return _generate(bpy.context, args)


def _storyboard(args) -> tuple[list[dict] | None, dict | None]:
    """--keyframe and --control as the request's keyframes and controls (None: the scene's own)."""
    keyframes = None
    if args.keyframe:
        keyframes = [parse_keyframe_argument(text) for text in args.keyframe]
        for entry in keyframes:  # relative to where the command runs, or to the .blend with //
            entry["image"] = str(Path(bpy.path.abspath(entry["image"])).absolute())
    controls = dict(parse_control_argument(text) for text in args.control) if args.control else None
    return keyframes, controls


def _generate(context, args) -> int:
    try:
        keyframes, controls = _storyboard(args)
        loras = [parse_lora_argument(value) for value in args.lora] if args.lora is not None else None
    except EngineError as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        return 2
    request = GenerationRequest(
        keyframes=keyframes,
        controls=controls,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        model=args.model,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        mode=args.mode,
        objects=[name.strip() for name in args.objects.split(",") if name.strip()] if args.objects else None,
        reference=args.reference,
        quality=args.quality,
        conditioning_scale=args.conditioning_scale,
        offload=args.offload,
        plate_source="TAKE" if args.plate_take else "FOLDER" if args.plate else "RENDER" if args.render_plate else None,
        plate_take=args.plate_take,
        plate_directory=args.plate,
        output_directory=args.out,
        loras=loras,
        allow_cpu=args.allow_cpu,
    )
    generation = Generation(context, request)
    try:
        generation.begin()
        for warning in generation.warnings:
            print(f"Warning: {warning}", flush=True)
        generation.run_blocking(on_progress=lambda progress: print(f"Neural Previs: {progress.text}", flush=True))
    except GenerationError as error:
        generation.abort()
        message = NO_PLATE_HERE if str(error) in (NO_PLATE, NO_PLATE_TO_KEEP) else str(error)
        print(f"Error: {message}", file=sys.stderr, flush=True)
        return 1
    if generation.cancelled:
        print("Error: the generation was cancelled", file=sys.stderr)
        return 1
    print(f"Neural Previs: take '{generation.strip_name}' added ({generation.take_folder})", flush=True)
    if args.save:
        if not bpy.data.filepath:
            print("Error: --save needs a saved .blend; open the file with 'blender -b FILE.blend'", file=sys.stderr)
            return 1
        bpy.ops.wm.save_mainfile()
        print(f"Neural Previs: saved {bpy.data.filepath}", flush=True)
    return 0


def register():
    global _handle
    _handle = bpy.utils.register_cli_command(COMMAND, run)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
