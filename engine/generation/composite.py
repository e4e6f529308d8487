"""Selective mode's last step: outside the regenerated objects, the take shows the plate's own pixels.

The model only approximates the pixels it was told to keep (the VAE is lossy, and the colours drift a
little), so after decoding the kept region is put back from the plate. A feather of at most
``FEATHER_PX`` pixels outside the selection's edge hides the seam: a pixel at distance ``d`` from the
nearest selected pixel takes ``1 - d / FEATHER_PX`` of the model's output, so every pixel
``FEATHER_PX`` or more away from all selected objects is the plate's, to the byte.

numpy only.
"""

from __future__ import annotations

import numpy as np

FEATHER_PX = 3


def feather_weights(generate: np.ndarray) -> np.ndarray:
    """float32 (H, W): 1 on the selection, ``1 - d / FEATHER_PX`` at distance ``d`` < ``FEATHER_PX``
    from it, 0 elsewhere (Euclidean distance between pixel centres)."""
    height, width = generate.shape
    nearest = np.full((height, width), np.inf, dtype=np.float32)
    reach = FEATHER_PX - 1
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            distance_squared = dy * dy + dx * dx
            if distance_squared >= FEATHER_PX * FEATHER_PX:
                continue
            shifted = np.zeros_like(generate)
            # shifted[y, x] = generate[y - dy, x - dx]: a selected pixel dy, dx away
            shifted[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = generate[
                max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
            ]
            np.minimum(nearest, np.where(shifted, np.float32(distance_squared), np.inf), out=nearest)
    return np.clip(1.0 - np.sqrt(nearest) / FEATHER_PX, 0.0, 1.0).astype(np.float32)


def keep_plate(frame: np.ndarray, plate: np.ndarray, generate: np.ndarray) -> np.ndarray:
    """uint8 RGB: the model's ``frame`` on the selection, the ``plate`` beyond the feather, a blend between."""
    weight = feather_weights(generate)[:, :, None]
    mixed = np.round(weight * frame.astype(np.float32) + (1.0 - weight) * plate.astype(np.float32))
    return np.where(weight > 0, np.clip(mixed, 0, 255).astype(np.uint8), plate)
