"""Tiled VAE encode and decode (diffusers' ``enable_tiling``), with tiles sized per shot.

Tiling bounds the VAE's memory, and changes pixels slightly near the seams (tiles are blended
there), so the policy turns it on only in the low-memory profiles.
"""

from __future__ import annotations

#: The largest tile, in pixels. The Wan VAE decodes one latent frame at a time, at about 18 KB per
#: pixel in float32. Live tensors counted by benchmarks/memory.py for 832x480x81: decode 8.2 GB in
#: one pass, 4.7 GB in two 480x480 tiles; encode 5.6 and 3.3 GB. 240,000 pixels keeps the profile's
#: VAE phases near 5 GB, inside 8 GB. An 832x480 shot becomes two 480x480 tiles (1.15x the pixels
#: of one pass), where diffusers' default 256-px tiles make fifteen (2.5x the pixels; 14.9 s
#: instead of 3.7 s to decode on an H200).
VAE_TILE_PIXELS = 240_000
#: Pixels blended across a seam between tiles (diffusers' default: 256-px tiles at a 192-px stride).
VAE_TILE_OVERLAP = 64


def set_tiling(vae, on: bool, tile_pixels: int = 0) -> dict:
    """Turn tiling on (tiles are sized per shot by ``size_tiles``) or off; what take.json records."""
    if not on:
        vae.disable_tiling()
        return {"vae_tiling": False}
    vae.enable_tiling()
    return {"vae_tiling": True, "vae_tile_pixels": tile_pixels or VAE_TILE_PIXELS}


def size_tiles(vae, height: int, width: int, tile_pixels: int = 0) -> dict | str | None:
    """Size a tiling VAE's tiles for frames of this size (``vae_tiles`` with tiles of at most
    ``tile_pixels``, 0: ``VAE_TILE_PIXELS``), through ``enable_tiling``; a frame that fits in one
    tile is encoded and decoded in one pass. Returns the tiles (``"one tile"`` for one pass), or
    None when the VAE does not tile."""
    if not getattr(vae, "use_tiling", False):
        return None
    tiles = vae_tiles(height, width, tile_pixels or VAE_TILE_PIXELS)
    vae.enable_tiling(**(tiles or {"tile_sample_min_height": height, "tile_sample_min_width": width,
                                   "tile_sample_stride_height": height, "tile_sample_stride_width": width}))
    return tiles or "one tile"


def vae_tiles(height: int, width: int, max_pixels: int, overlap: int = VAE_TILE_OVERLAP, multiple: int = 16) -> dict | None:
    """Tile sizes for diffusers' tiled VAE (its ``tile_sample_*`` settings, in pixels): the fewest
    tiles of at most ``max_pixels`` each that cover the frame, ``overlap`` pixels blended at each
    seam; strides are chosen so that diffusers' ``range(0, size, stride)`` makes exactly that many
    tiles (no sliver tile at the edge). None: the frame fits in one tile (no tiling needed)."""
    if height * width <= max_pixels:
        return None

    def ceil_to(value: float, step: int) -> int:
        return int(-(-value // step) * step)

    best = None
    for rows in range(1, height // multiple + 1):
        for cols in range(1, width // multiple + 1):
            stride_h, stride_w = ceil_to(height / rows, multiple), ceil_to(width / cols, multiple)
            if (rows - 1) * stride_h >= height or (cols - 1) * stride_w >= width:
                continue  # rounding the stride up left a tile with nothing in it
            tile_h = stride_h + (min(overlap, stride_h) if rows > 1 else 0)
            tile_w = stride_w + (min(overlap, stride_w) if cols > 1 else 0)
            if tile_h * tile_w > max_pixels:
                continue
            candidate = (rows * cols, tile_h * tile_w, tile_h, tile_w, stride_h, stride_w)
            if best is None or candidate < best:
                best = candidate
            break  # more columns only make more tiles
    if best is None:
        raise ValueError(f"no VAE tiling of {width}x{height} fits {max_pixels} pixels a tile")
    _, _, tile_h, tile_w, stride_h, stride_w = best
    return {"tile_sample_min_height": tile_h, "tile_sample_min_width": tile_w,
            "tile_sample_stride_height": stride_h, "tile_sample_stride_width": stride_w}
