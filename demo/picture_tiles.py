"""The demo's explanatory pictures: labelled tiles laid out on a white sheet (docs/images/*.png)."""

from __future__ import annotations


def label(tile, text: str, size: int = 12):
    """The RGB array ``tile`` as a PIL image with ``text`` on a black tab in its top-left corner."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(tile)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size)
    draw.rectangle([0, 0, draw.textlength(text, font=font) + 8, size + 5], fill=(0, 0, 0))
    draw.text((4, 2), text, fill=(255, 255, 255), font=font)
    return image


def sheet(tiles, width: int, height: int, columns: int | None = None, gap: int = 4):
    """The tiles (all ``width`` x ``height``) in rows of ``columns`` (default: one row), ``gap`` pixels apart."""
    from PIL import Image

    columns = columns or len(tiles)
    rows = -(-len(tiles) // columns)
    page = Image.new("RGB", (width * columns + gap * (columns - 1), height * rows + gap * (rows - 1)), "white")
    for position, tile in enumerate(tiles):
        page.paste(tile, ((position % columns) * (width + gap), (position // columns) * (height + gap)))
    return page
