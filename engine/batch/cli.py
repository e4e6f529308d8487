"""`python -m engine batch SHOTS.toml [--ray auto|local|ADDRESS] [--resume] [--dry-run] [--import-into-blend [--in-place]]`.

Exit codes: 0 every shot done (or skipped with --resume), 1 a shot failed (the others still completed),
2 the shot list is refused (every problem listed) or the command line is wrong.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from .blender import BlenderError, default_blender, run_blender
from ..formats.shotlist import ShotList, ShotListError, check_against_blends, check_outputs_free, load_shot_list

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def add_parser(commands) -> None:
    batch = commands.add_parser("batch", help="render and generate every shot of a TOML shot list on Ray")
    batch.add_argument("shot_list", help="the shot list (TOML)")
    batch.add_argument("--ray", default="local", help="'local' (a Ray for this run, the default), 'auto' (a running cluster, else local) or a cluster ADDRESS")
    batch.add_argument("--resume", action="store_true", help="skip shots whose take is complete; reuse complete bundles")
    batch.add_argument("--dry-run", action="store_true", help="check the list and show the plan; run nothing")
    batch.add_argument("--blender", default=None, help="Blender binary or Python with bpy for the conditioning (default: $NEURAL_PREVIS_BLENDER, else this Python)")
    batch.add_argument("--import-into-blend", action="store_true", help="put each take on its .blend's timeline (in a copy beside the take)")
    batch.add_argument("--in-place", action="store_true", help="with --import-into-blend: save into the original .blend")


def _print(text: str = "") -> None:
    print(text, flush=True)


def prepare(path: str, blender: str, resume: bool) -> ShotList:
    shot_list = load_shot_list(path)
    blends = sorted({str(shot.blend) for shot in shot_list.shots})
    try:
        answer = run_blender(blender, "inspect", {"blends": blends}, timeout=600)
    except BlenderError as error:
        raise ShotListError([str(error)]) from None
    check_against_blends(shot_list, answer.get("blends", {}))
    check_outputs_free(shot_list, resume)
    return shot_list


def _status_line(outcomes) -> str:
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "skipped", "failed")}
    running = [f"{o.name}: {o.status}" for o in outcomes if o.status in ("conditioning", "queued", "generating")]
    return f"[{counts['done'] + counts['skipped']}/{len(outcomes)} done, {counts['failed']} failed] " + ", ".join(running)


def _consistency(take: Path) -> str:
    """The take's score for the summary table: mean consistency and its worst frames (engine.qc), '-' without one."""
    from ..qc.report import read_qc_summary

    qc = read_qc_summary(take)
    if not qc or qc.get("consistency_mean") is None:
        return "-"
    worst = ", ".join(map(str, qc.get("worst_frames", [])[:3]))
    return f"{qc['consistency_mean']:.1f}" + (f" (worst {worst})" if worst else "")


def _summary(outcomes, shot_list: ShotList) -> str:
    takes = {shot.name: shot.take for shot in shot_list.shots}
    scores = {o.name: _consistency(takes[o.name]) if o.status in ("done", "skipped") else "-" for o in outcomes}
    width = max(len(o.name) for o in outcomes)
    score_width = max(len("consistency"), *(len(v) for v in scores.values()))
    lines = [f"{'shot':<{width}}  {'status':<8}  {'seconds':>7}  {'consistency':<{score_width}}  message"]
    lines += [f"{o.name:<{width}}  {o.status:<8}  {o.seconds:7.1f}  {scores[o.name]:<{score_width}}  {o.message}" for o in outcomes]
    return "\n".join(lines)


def import_into_blends(shot_list: ShotList, completed: list[str], blender: str, in_place: bool) -> list[str]:
    problems = []
    for shot in shot_list.shots:
        if shot.name not in completed:
            continue
        target = shot.blend if in_place else shot.out / shot.blend.name
        if not in_place and not target.exists():
            shutil.copy2(shot.blend, target)
        request = {"blend": str(target), "scene": shot.scene, "take": str(shot.take), "save_as": str(target)}
        try:
            answer = run_blender(blender, "import", request, log=shot.out / "logs" / "import.log")
        except BlenderError as error:
            answer = {"ok": False, "message": str(error)}
        if answer.get("ok"):
            _print(f"{shot.name}: take on the timeline of {target} as {answer['strip']}")
        else:
            problems.append(f"{shot.name}: import into {target} failed: {answer.get('message')}")
    return problems


def run(args) -> int:
    blender = args.blender or default_blender()
    try:
        shot_list = prepare(args.shot_list, blender, args.resume)
    except ShotListError as error:
        print(f"error: the shot list is refused ({len(error.problems)} problem(s)):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_REFUSED
    if args.dry_run:
        for shot in shot_list.shots:
            frames = f"frames {shot.frames[0]}..{shot.frames[1]}" if shot.frames else f"markers {shot.markers[0]}..{shot.markers[1]}" if shot.markers else "scene range"
            _print(f"{shot.name}: {shot.blend.name} [{shot.scene or 'active scene'}] {frames} -> {shot.take} ({shot.params.model})")
        return EXIT_OK

    from .runner import connect, run_shots
    from .timeline_export import write_otio

    started = time.monotonic()
    ray = connect(args.ray)
    last_line = [None]

    def show(outcomes):
        line = _status_line(outcomes)
        if line != last_line[0]:
            last_line[0] = line
            _print(line)

    try:
        outcomes = run_shots(shot_list, ray, blender, args.resume, show)
    finally:
        ray.shutdown()
    completed = [o.name for o in outcomes if o.status in ("done", "skipped")]
    problems = []
    if completed:
        otio_path = write_otio(shot_list, completed, shot_list.out / "takes.otio")
        _print(f"Timeline of {len(completed)} take(s): {otio_path}")
        if args.import_into_blend:
            problems = import_into_blends(shot_list, completed, blender, args.in_place)
    _print()
    _print(_summary(outcomes, shot_list))
    _print(f"{len(completed)}/{len(outcomes)} shots done in {time.monotonic() - started:.1f} s")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_OK if len(completed) == len(outcomes) and not problems else EXIT_FAILED


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))
