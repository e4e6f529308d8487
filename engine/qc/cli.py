"""``python -m engine qc TAKE_DIR [--bundle BUNDLE] [--assume-static]``: score a take's consistency.

Prints a summary and writes ``qc.json`` and ``qc.png`` into the take (each atomically; the frames are never touched).
The take's bundle is found from take.json, also when both were moved together (``engine.formats.take_folder``).
Exit codes: 0 scored, 1 failed (one line on stderr), 2 bad command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(commands) -> None:
    qc = commands.add_parser("qc", help="score a take's consistency: writes qc.json and qc.png into the take")
    qc.add_argument("take", metavar="TAKE_DIR", help="take folder (holding take.json)")
    qc.add_argument("--bundle", metavar="BUNDLE", help="the take's bundle, when it cannot be found from take.json")
    qc.add_argument("--assume-static", action="store_true",
                    help="for bundles without object motion (before schema 1.1): treat every object as standing still")


def score_take_folder(take_dir: str | Path, bundle_dir: str | Path | None = None, assume_static: bool = False):
    """(take, bundle, score) of a take folder on disk; ``EngineError`` for a bad take or bundle."""
    import numpy as np
    from PIL import Image

    from ..errors import TakeError
    from ..formats.bundle import read_bundle
    from ..formats.take_folder import check_take_matches_bundle, find_take_bundle, read_take
    from .score import score_take

    take = read_take(take_dir)
    bundle = read_bundle(bundle_dir) if bundle_dir else find_take_bundle(take)
    check_take_matches_bundle(take, bundle)
    files = [path for _, path in take.frames]

    def image_at(index: int) -> np.ndarray:
        try:
            with Image.open(files[index]) as image:
                pixels = np.asarray(image.convert("RGB"))
        except OSError as error:
            raise TakeError(f"frame {take.frames[index][0]} of take {take.root.name} cannot be read ({error})") from None
        if pixels.shape[:2] != (bundle.height, bundle.width):
            raise TakeError(
                f"frame {take.frames[index][0]} of take {take.root.name} is {pixels.shape[1]}x{pixels.shape[0]}, "
                f"its bundle {bundle.width}x{bundle.height}"
            )
        return pixels

    return take, bundle, score_take(bundle, image_at, assume_static=assume_static)


def summary_lines(name: str, score, bundle, assume_static: bool) -> list[str]:
    summary = score.summary
    if not score.frames:
        return [f"{name}: a single frame, nothing to compare"]
    lines = [f"{name}: {len(score.frames)} frame pairs, {score.valid_fraction_mean:.0%} of pixels usable"]
    if summary["consistency_mean"] is None:
        if bundle.motion is None and not assume_static:
            lines.append(
                "no pixel could be compared: the bundle has no object motion (written before schema 1.1); re-render it, "
                "or pass --assume-static if nothing but the camera moves"
            )
        else:
            lines.append("no pixel could be compared: no surface is seen in two consecutive frames")
        return lines
    worst = max((f for f in score.frames if f.consistency is not None), key=lambda f: f.consistency)
    flickery = max((f for f in score.frames if f.flicker is not None), key=lambda f: f.flicker)
    lines.append(
        f"consistency (mean RGB change after reprojection, 0-255): mean {summary['consistency_mean']:.2f}, "
        f"max {summary['consistency_max']:.2f} at frame {worst.frame}"
    )
    lines.append(f"flicker (brightness change): max {summary['flicker_max']:.2f} at frame {flickery.frame}")
    flagged = ", ".join(map(str, summary["worst_frames"])) or "none"
    lines.append(f"worst frames: {flagged}")
    return lines


def run(args) -> int:
    from ..errors import EngineError
    from .report import QC_FILE, QC_PLOT, write_report

    try:
        take, bundle, score = score_take_folder(args.take, args.bundle, args.assume_static)
        for line in summary_lines(take.root.name, score, bundle, args.assume_static):
            print(line)
        write_report(take.root, score, take.root.name)
    except EngineError as error:
        hint = "; give it with --bundle BUNDLE" if error.kind == "bundle" and not args.bundle else ""
        print(f"error: {error.message}{hint}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        print(f"error: cannot write the score into {args.take} ({error.strerror or error})", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {take.root / QC_FILE} and {QC_PLOT}")
    return EXIT_OK
