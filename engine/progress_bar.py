"""A one-line progress bar for ``generate`` when stdout is a terminal (people, not scripts)."""

from __future__ import annotations


class ProgressBar:
    width = 30

    def __init__(self, stream):
        self.stream = stream
        self.shown = False

    def update(self, phase: str, step: int, total: int, eta: float | None, note: str | None = None) -> None:
        if note:
            self.stream.write(f"\r\033[K{note}\n")
        filled = int(self.width * step / total) if total else 0
        eta_text = f" eta {eta:.0f}s" if eta is not None else ""
        self.stream.write(f"\r\033[K{phase:<10} [{'#' * filled}{'.' * (self.width - filled)}] {step}/{total}{eta_text}")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.shown = False
