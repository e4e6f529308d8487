"""``qc.png``: the consistency and flicker of each frame, the flag level, and the worst frames marked (PIL only)."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from .score import WORST_FLOOR, TakeScore

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 18, 48, 44
CONSISTENCY, FLICKER, WORST, FLOOR, GRID, TEXT = (31, 96, 180), (235, 137, 33), (205, 30, 40), (150, 150, 150), (232, 232, 232), (30, 30, 30)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: its one bitmap size
        return ImageFont.load_default()


def _nice_step(span: float) -> float:
    """A 1-2-5 step giving four to eight grid lines over ``span``."""
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def draw_plot(score: TakeScore, title: str) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small, regular = _font(11), _font(13)
    summary = score.summary
    draw.text((LEFT, 6), f"{title}: consistency per frame (mean RGB change after reprojection, 0-255)", fill=TEXT, font=regular)

    frames = [f.frame for f in score.frames]
    values = [v for f in score.frames for v in (f.consistency, f.flicker) if v is not None]
    top_value = max([2 * WORST_FLOOR, *values]) * 1.1
    step = _nice_step(top_value)
    top_value = step * math.ceil(top_value / step)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP

    def x_of(frame: int) -> float:
        if len(frames) < 2:
            return (x0 + x1) / 2
        return x0 + (frame - frames[0]) / (frames[-1] - frames[0]) * (x1 - x0)

    def y_of(value: float) -> float:
        return y0 - value / top_value * (y0 - y1)

    value = 0.0
    while value <= top_value + 1e-9:
        y = y_of(value)
        draw.line([(x0, y), (x1, y)], fill=GRID)
        draw.text((x0 - 6, y), f"{value:g}", fill=TEXT, font=small, anchor="rm")
        value += step
    draw.line([(x0, y0), (x1, y0)], fill=TEXT)
    draw.line([(x0, y0), (x0, y1)], fill=TEXT)
    for frame in sorted({frames[0], frames[-1], *frames[:: max(1, len(frames) // 8)]}) if frames else ():
        x = x_of(frame)
        draw.line([(x, y0), (x, y0 + 4)], fill=TEXT)
        draw.text((x, y0 + 7), str(frame), fill=TEXT, font=small, anchor="mt")
    draw.text(((x0 + x1) / 2, HEIGHT - 14), "frame", fill=TEXT, font=small, anchor="mm")

    floor_y = y_of(WORST_FLOOR)
    for start in range(int(x0), int(x1), 8):
        draw.line([(start, floor_y), (min(start + 4, x1), floor_y)], fill=FLOOR)
    draw.text((x1 - 2, floor_y - 2), "flagged above", fill=FLOOR, font=small, anchor="rb")

    for attribute, colour, width in (("flicker", FLICKER, 1), ("consistency", CONSISTENCY, 2)):
        points = [(x_of(f.frame), y_of(getattr(f, attribute))) if getattr(f, attribute) is not None else None for f in score.frames]
        segment = []
        for point in points + [None]:
            if point is None:
                if len(segment) > 1:
                    draw.line(segment, fill=colour, width=width)
                segment = []
            else:
                segment.append(point)
        for point in points:
            if point is not None:
                draw.ellipse([point[0] - 2, point[1] - 2, point[0] + 2, point[1] + 2], fill=colour)

    by_frame = {f.frame: f for f in score.frames}
    for frame in summary["worst_frames"]:
        x, y = x_of(frame), y_of(by_frame[frame].consistency)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=WORST, width=2)
        draw.text((x, y - 8), str(frame), fill=WORST, font=small, anchor="mb")

    x = float(x0)
    for label, colour in (("consistency", CONSISTENCY), ("flicker (brightness change)", FLICKER)):
        draw.line([(x, 30), (x + 16, 30)], fill=colour, width=2)
        draw.text((x + 20, 30), label, fill=TEXT, font=small, anchor="lm")
        x += 36 + draw.textlength(label, font=small)
    draw.ellipse([x, 25, x + 10, 35], outline=WORST, width=2)
    draw.text((x + 14, 30), "worst frames", fill=TEXT, font=small, anchor="lm")
    usable = f"{score.valid_fraction_mean:.0%} of pixels usable" if score.frames else "a single frame: nothing to compare"
    draw.text((x1, 30), usable, fill=FLOOR, font=small, anchor="rm")
    return image
