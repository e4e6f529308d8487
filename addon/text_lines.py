"""Long text in a sidebar: wrapped into lines that fit the region, so no message is ever cut off. Pure Python."""

import textwrap

# Blender's UI font at scale 1 averages about 7 pixels a character; a little under-filled beats clipped.
_CHARACTER_PX = 7.0
_MARGIN_PX = 40.0


def wrap(text: str, region_width_px: float, ui_scale: float = 1.0, indent_px: float = 0.0) -> list[str]:
    """`text` as the lines that fit a region of that width (every word kept; very long words are split)."""
    characters = max(12, int((region_width_px - _MARGIN_PX - indent_px) / (_CHARACTER_PX * max(ui_scale, 0.1))))
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, width=characters, break_long_words=True, break_on_hyphens=False) or [""]
    return lines
