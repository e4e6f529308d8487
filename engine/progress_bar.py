"""One-line progress bars for ``generate`` and ``download`` when stdout is a terminal (people, not scripts)."""

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


def human_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"


def human_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class DownloadBar(ProgressBar):
    """``[#####.....] 4.1 GB / 20.5 GB  38.2 MB/s  7m10s left  transformer/diffusion_pytorch_model.safetensors``"""

    def update(self, progress) -> None:  # an engine.models.download.DownloadProgress
        filled = int(self.width * progress.done / progress.total) if progress.total else 0
        speed = f"  {human_bytes(progress.speed)}/s" if progress.speed else ""
        eta = f"  {human_seconds(progress.eta)} left" if progress.eta is not None else ""
        self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (self.width - filled)}] {human_bytes(progress.done)} / "
                          f"{human_bytes(progress.total)}{speed}{eta}  {progress.file}")
        self.stream.flush()
        self.shown = True
