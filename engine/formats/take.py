"""Writing a take: ``frames/<frame>.png``, ``take.json``, ``preview.mp4``, all or nothing.

Everything is written into a hidden sibling folder (``.<name>.partial-<random>``) and renamed to the
take's name at the end, so a reader never sees half a take; a failure or a cancel removes the
partial folder. An existing take is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..errors import TakeError

TAKE_SCHEMA = "neural_previs.take/1"


def frame_file_name(frame: int) -> str:
    """``1001.png``, ``0007.png``: the scene frame number, zero-padded to 4 digits so image-sequence
    readers (Blender's included) find the sequence."""
    return f"{frame:04d}.png"


class TakeWriter:
    def __init__(self, out: str | Path):
        self.final = Path(out).expanduser().absolute()
        self.partial: Path | None = None
        self.check_writable()

    def check_writable(self) -> None:
        """Fail before any work if the take cannot be created."""
        if self.final.exists():
            raise TakeError(f"take {self.final} already exists; takes are never overwritten, choose a new --out")
        parent = self.final.parent
        if not parent.is_dir():
            raise TakeError(f"cannot create take {self.final}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise TakeError(f"cannot create take {self.final}: folder {parent} is not writable")

    def begin(self) -> Path:
        self.check_writable()
        self.partial = self.final.parent / f".{self.final.name}.partial-{uuid.uuid4().hex[:8]}"
        (self.partial / "frames").mkdir(parents=True)
        return self.partial

    def write_frames(self, frame_numbers: list[int], frames: np.ndarray) -> list[str]:
        """One PNG per frame, encoded on several threads (zlib releases the GIL: 81 frames at
        832x480 took 8.4 s of a 119 s take on one thread on an H200 machine; see docs/speed.md)."""
        import os
        from concurrent.futures import ThreadPoolExecutor

        from PIL import Image

        names = [f"frames/{frame_file_name(number)}" for number in frame_numbers]

        def save(index: int) -> None:
            Image.fromarray(frames[index]).save(self.partial / names[index], compress_level=4)

        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            list(pool.map(save, range(len(names))))  # list(): re-raises the first error
        return names

    def write_kept(self, frame_numbers: list[int], masks: list[np.ndarray]) -> list[str]:
        """``kept/<frame>.png`` (the names of ``frames/``): 8-bit masks, 255 = the pixel is a source take's."""
        from PIL import Image

        (self.partial / "kept").mkdir()
        names = [f"kept/{frame_file_name(number)}" for number in frame_numbers]
        for name, mask in zip(names, masks):
            Image.fromarray(mask, mode="L").save(self.partial / name, compress_level=4)
        return names

    def write_preview(self, frames: np.ndarray, fps: float) -> str:
        from .preview import write_preview

        write_preview(self.partial / "preview.mp4", frames, fps)
        return "preview.mp4"

    def write_json(self, record: dict) -> None:
        text = json.dumps(record, indent=2, allow_nan=False)
        (self.partial / "take.json").write_text(text + "\n", encoding="utf-8")

    def commit(self) -> Path:
        """Make the take appear, complete. Refuses to replace anything created meanwhile."""
        if self.final.exists():
            raise TakeError(f"take {self.final} appeared while generating; the new take was discarded")
        os.rename(self.partial, self.final)
        self.partial = None
        return self.final

    def abort(self) -> None:
        if self.partial is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial = None
