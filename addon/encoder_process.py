"""Encoding the bundle's images in a child process. Pure Python: no bpy.

Why a process and not threads: Blender's drawing and readback calls hold the GIL while the GPU (or
Mesa's llvmpipe on a CPU machine) works, so encoder threads stall exactly when the main thread waits.
A child Python (Blender's own interpreter, `sys.executable`, which has numpy) encodes while Blender
draws. Frames travel over a pipe as a JSON header line plus the raw array; the child writes the files
and reports one line at the end: `ok N` or `error <message>`.

Run as a script, this file is the child: `python -I encoder_process.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

_KINDS = ("exr", "png16")


class EncoderProcessError(RuntimeError):
    pass


class EncoderProcess:
    """The parent's side: start the child, hand it arrays, collect its verdict."""

    def __init__(self):
        script = os.path.abspath(__file__)
        # -I: no user site-packages, no PYTHON* variables: the child sees only the interpreter's own packages.
        self._process = subprocess.Popen(
            [sys.executable, "-I", script, os.path.dirname(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._count = 0

    def submit(self, path: str, kind: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        header = {"path": str(path), "kind": kind, "dtype": array.dtype.str, "shape": list(array.shape)}
        try:
            self._process.stdin.write((json.dumps(header) + "\n").encode())
            self._process.stdin.write(memoryview(array).cast("B"))
        except (BrokenPipeError, OSError):
            raise EncoderProcessError(self._verdict_after_exit()) from None
        self._count += 1

    def finish(self) -> None:
        """Wait until every submitted image is written; raise with the child's message if one failed."""
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        verdict = self._process.stdout.read().decode(errors="replace").strip()
        self._process.wait()
        if self._process.returncode != 0 or verdict != f"ok {self._count}":
            raise EncoderProcessError(verdict or self._verdict_after_exit())

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass

    def _verdict_after_exit(self) -> str:
        self._process.wait()
        said = self._process.stdout.read().decode(errors="replace").strip()
        errors = self._process.stderr.read().decode(errors="replace").strip().splitlines()
        return said or (errors[-1] if errors else f"the image encoder exited with code {self._process.returncode}")


def _child() -> int:
    sys.path.insert(0, sys.argv[1])
    from image_files import encode_exr_float, encode_png_gray16

    encoders = {"exr": encode_exr_float, "png16": encode_png_gray16}
    source = sys.stdin.buffer
    count = 0
    try:
        while True:
            line = source.readline()
            if not line:
                break
            header = json.loads(line)
            dtype = np.dtype(header["dtype"])
            size = int(np.prod(header["shape"])) * dtype.itemsize
            data = source.read(size)
            if len(data) != size:
                raise EncoderProcessError("the image stream ended in the middle of an image")
            array = np.frombuffer(data, dtype=dtype).reshape(header["shape"])
            with open(header["path"], "wb") as file:
                file.write(encoders[header["kind"]](array))
            count += 1
    except Exception as error:  # the parent turns this line into its error message
        sys.stdout.write(f"error writing bundle images: {type(error).__name__}: {error}\n")
        return 1
    sys.stdout.write(f"ok {count}\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child())
