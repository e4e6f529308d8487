"""``preview.mp4``: H.264, yuv420p, even dimensions, the shot's exact frame rate.

Uses the ffmpeg binary that imageio-ffmpeg bundles, so no system ffmpeg is needed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def exact_fps(fps: float) -> Fraction:
    """The rational frame rate: 23.976 -> 24000/1001 (NTSC rates are stored rounded in shot.json)."""
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(fps - float(ntsc)) < 5e-4:
            return ntsc
    return Fraction(fps).limit_denominator(1001)


def write_preview(path: Path, frames: np.ndarray, fps: float) -> None:
    """Encode uint8 RGB ``frames`` (count, height, width, 3). yuv420p needs even sizes: odd ones are
    padded by repeating the last row/column (the frames/ PNGs keep the exact size)."""
    import imageio_ffmpeg

    count, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width + pad_w, height + pad_h),
        fps=exact_fps(fps),
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=1,  # we make sizes even ourselves; imageio's default would rescale to 16
        quality=None,
        output_params=["-crf", "18", "-preset", "veryfast", "-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    writer.send(None)  # start the generator
    for frame in frames:
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        writer.send(np.ascontiguousarray(frame))
    writer.close()
