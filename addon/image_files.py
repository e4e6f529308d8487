"""Writers for the bundle's image files: one-channel float32 OpenEXR, 16-bit greyscale and 8-bit RGB PNG.

Pure numpy + zlib, because Blender's Python has neither OpenEXR nor an image library and we must not
install packages into it. Both follow the published file specifications; tests read the output back
with the reference OpenEXR bindings and Pillow.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_EXR_MAGIC = 20000630
_EXR_VERSION = 2  # single-part scanline file, no flags
_EXR_FLOAT = 2
# compression name -> (the header's code, scanlines per block) from the OpenEXR file layout
EXR_COMPRESSIONS = {"none": (0, 1), "zip": (3, 16)}


def _exr_attribute(name: str, type_name: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + type_name.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _exr_header(width: int, height: int, channel: str, compression_code: int) -> bytes:
    channels = channel.encode() + b"\0" + struct.pack("<iB3xii", _EXR_FLOAT, 0, 1, 1) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    return b"".join(
        [
            struct.pack("<ii", _EXR_MAGIC, _EXR_VERSION),
            _exr_attribute("channels", "chlist", channels),
            _exr_attribute("compression", "compression", bytes([compression_code])),
            _exr_attribute("dataWindow", "box2i", window),
            _exr_attribute("displayWindow", "box2i", window),
            _exr_attribute("lineOrder", "lineOrder", bytes([0])),
            _exr_attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
            _exr_attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
            _exr_attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
            b"\0",
        ]
    )


def _exr_zip_blocks(pixels: np.ndarray, checkpoint=None) -> list[bytes]:
    """OpenEXR ZIP blocks of 16 rows: interleave even/odd bytes, delta-predict, deflate; raw when that is not smaller.

    The byte shuffling runs on all blocks at once so that encoder threads spend their time in zlib,
    which releases the GIL, rather than in many small numpy calls that need it.
    """
    lines_per_block = EXR_COMPRESSIONS["zip"][1]
    height = pixels.shape[0]
    row_bytes = pixels.shape[1] * pixels.itemsize
    full_blocks = height // lines_per_block
    raw = pixels.view(np.uint8).reshape(height, row_bytes)
    groups = []
    if full_blocks:
        groups.append(raw[: full_blocks * lines_per_block].reshape(full_blocks, -1))
    if height % lines_per_block:
        groups.append(raw[full_blocks * lines_per_block :].reshape(1, -1))
    blocks = []
    for group in groups:
        reordered = np.concatenate([group[:, 0::2], group[:, 1::2]], axis=1)
        predicted = np.empty_like(reordered)
        predicted[:, 0] = reordered[:, 0]
        np.subtract(reordered[:, 1:], reordered[:, :-1], out=predicted[:, 1:])  # uint8 arithmetic wraps modulo 256
        predicted[:, 1:] += 128
        for block_raw, block_predicted in zip(group, predicted):
            if checkpoint is not None:
                checkpoint()
            # Level 1: float mantissas barely compress harder at higher levels, and encoding is the bundle's bottleneck.
            packed = zlib.compress(block_predicted.tobytes(), 1)
            blocks.append(packed if len(packed) < block_raw.size else block_raw.tobytes())
    return blocks


def encode_exr_float(image: np.ndarray, channel: str = "Z", compression: str = "zip", checkpoint=None) -> bytes:
    """A one-channel float32 OpenEXR file (rows top to bottom) as bytes.

    `compression`: "zip" (lossless, about a third of the size, costs CPU time) or "none".
    `checkpoint`, if given, is called between blocks (see encoder_threads: where the encoder may pause).
    """
    pixels = np.ascontiguousarray(image, dtype="<f4")
    if pixels.ndim != 2 or pixels.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {pixels.shape}")
    if compression not in EXR_COMPRESSIONS:
        raise ValueError(f"unknown EXR compression {compression!r}; use one of {sorted(EXR_COMPRESSIONS)}")
    code, lines_per_block = EXR_COMPRESSIONS[compression]
    height, width = pixels.shape
    header = _exr_header(width, height, channel, code)
    data_blocks = _exr_zip_blocks(pixels, checkpoint) if compression == "zip" else [row.tobytes() for row in pixels]
    blocks = [
        struct.pack("<ii", index * lines_per_block, len(data)) + data
        for index, data in enumerate(data_blocks)
    ]
    offsets = []
    position = len(header) + 8 * len(blocks)
    for block in blocks:
        offsets.append(position)
        position += len(block)
    return header + struct.pack(f"<{len(offsets)}Q", *offsets) + b"".join(blocks)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png_gray16(image: np.ndarray, checkpoint=None) -> bytes:
    """A 16-bit greyscale PNG (no interlace, filter 'Up' on every row) as bytes. (`checkpoint`: as for EXR; one block.)"""
    pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {pixels.shape}")
    if pixels.min() < 0 or pixels.max() > 0xFFFF:
        raise ValueError("16-bit PNG values must lie in 0..65535")
    height, width = pixels.shape
    rows = pixels.astype(">u2").view(np.uint8).reshape(height, width * 2)
    # 'Up' filtering turns the large flat areas of id masks into zero runs that deflate well.
    up = rows.copy()
    up[1:] = rows[1:] - rows[:-1]
    filtered = np.empty((height, width * 2 + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = up
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 1)),
            _png_chunk(b"IEND", b""),
        ]
    )


def encode_png_rgb8(image: np.ndarray, checkpoint=None) -> bytes:
    """An 8-bit RGB PNG (no interlace, filter 'Up' on every row) of a (H, W, 3) uint8 image, as bytes."""
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size == 0 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a non-empty (H, W, 3) uint8 image, got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width * 3)
    up = rows.copy()
    up[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as PNG filtering does
    filtered = np.empty((height, width * 3 + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = up
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 1)),
            _png_chunk(b"IEND", b""),
        ]
    )
