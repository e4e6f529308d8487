"""How long a worker lives: never longer than the client that started it, on every platform.

Pure Python, no torch. Four things tie the worker to its client (Blender):

- the protocol: ``shutdown``, or the client's end of stdin closing, makes the worker cancel what it
  runs and exit; a step that does not stop within ``EXIT_GRACE_S`` ends the process anyway;
- the client stops a worker with ``shutdown``, then a timed ``terminate()``, then ``kill()`` — no
  POSIX signal is needed (on Windows ``terminate`` is ``TerminateProcess``);
- the worker watches its client's process (``NEURAL_PREVIS_CLIENT_PID``): if the client dies while
  the worker is busy in a long step, model load or compile, the worker still leaves. On POSIX it
  notices being re-parented; on Windows it waits on the client's process handle;
- on Windows the client also puts the worker into a job object that kills it (and ffmpeg, its
  child) when the client's last handle to the job closes, which the system does when the client
  exits for any reason, crashes included.

The worker gets no console window on Windows (Blender is a GUI program; a console program started
from it would open one) and its own process group or session, so a Ctrl-C meant for Blender's
terminal does not cancel a take half-way: Blender decides when its worker stops.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

CLIENT_PID_VARIABLE = "NEURAL_PREVIS_CLIENT_PID"
#: After its client is gone, how long a running request gets to stop at its next step.
EXIT_GRACE_S = 10.0
#: How often a POSIX worker checks whether its client still exists.
_PARENT_POLL_S = 1.0

CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000


def background_process_options() -> dict:
    """``subprocess.Popen`` keywords for a program started from Blender that must not open a console
    window on Windows (pip, nvidia-smi, the engine's own Python)."""
    return {"creationflags": CREATE_NO_WINDOW} if sys.platform == "win32" else {}


def worker_process_options() -> dict:
    """``subprocess.Popen`` keywords for the worker: no console window, its own process group."""
    if sys.platform == "win32":
        return {"creationflags": CREATE_NO_WINDOW | CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def worker_environment(env: dict) -> dict:
    """The worker's environment: who its client is, and UTF-8 for its standard streams and files
    whatever the system's code page (paths with accents reach stderr and the log intact)."""
    env = dict(env)
    env[CLIENT_PID_VARIABLE] = str(os.getpid())
    env["PYTHONUTF8"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


class KillOnClose:
    """Windows: a job object that kills its processes when the client closes it or dies.

    Elsewhere it holds nothing: the worker's own watch of its client does the job there."""

    def __init__(self) -> None:
        self._job = None
        if sys.platform == "win32":
            self._job = _create_kill_on_close_job()

    def add(self, process: subprocess.Popen) -> None:
        if self._job is not None:
            _assign_to_job(self._job, process)

    def close(self) -> None:
        """Kill what is left in the job (Windows); the handle is gone afterwards."""
        if self._job is not None:
            import ctypes

            ctypes.WinDLL("kernel32").CloseHandle(self._job)
            self._job = None


def watch_client(on_gone) -> threading.Thread | None:
    """Worker side: call ``on_gone()`` on a daemon thread once the client process is gone.

    Does nothing without ``NEURAL_PREVIS_CLIENT_PID`` (a worker started by hand has no client to
    outlive)."""
    text = os.environ.get(CLIENT_PID_VARIABLE, "")
    if not text.isdigit():
        return None
    client_pid = int(text)
    wait = _wait_for_windows_process if sys.platform == "win32" else _wait_for_reparenting

    def run():
        if wait(client_pid):
            on_gone()

    thread = threading.Thread(target=run, name="engine-client-watch", daemon=True)
    thread.start()
    return thread


def _wait_for_reparenting(client_pid: int) -> bool:
    # A POSIX process whose parent exits is re-parented (to init or a subreaper), so a changed
    # parent id means the client is gone; unlike probing the pid, this cannot be fooled by reuse.
    if os.getppid() != client_pid:
        return False  # the client is not our parent (e.g. a wrapper script): nothing reliable to watch
    while os.getppid() == client_pid:
        time.sleep(_PARENT_POLL_S)
    return True


def _wait_for_windows_process(client_pid: int) -> bool:
    # By pid, not parent: a venv's python.exe on Windows is a launcher that starts the real
    # interpreter as its child, so the worker's parent is the launcher, not the client.
    import ctypes
    from ctypes import wintypes

    synchronize, infinite = 0x00100000, 0xFFFFFFFF
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    handle = kernel32.OpenProcess(synchronize, False, client_pid)
    if not handle:
        return True  # the client is already gone
    kernel32.WaitForSingleObject(handle, infinite)
    kernel32.CloseHandle(handle)
    return True


def _create_kill_on_close_job():
    import ctypes
    from ctypes import wintypes

    class BasicLimits(ctypes.Structure):  # JOBOBJECT_BASIC_LIMIT_INFORMATION
        _fields_ = [
            ("PerProcessUserTimeLimit", ctypes.c_int64),
            ("PerJobUserTimeLimit", ctypes.c_int64),
            ("LimitFlags", wintypes.DWORD),
            ("MinimumWorkingSetSize", ctypes.c_size_t),
            ("MaximumWorkingSetSize", ctypes.c_size_t),
            ("ActiveProcessLimit", wintypes.DWORD),
            ("Affinity", ctypes.c_size_t),
            ("PriorityClass", wintypes.DWORD),
            ("SchedulingClass", wintypes.DWORD),
        ]

    class IoCounters(ctypes.Structure):  # IO_COUNTERS
        _fields_ = [(name, ctypes.c_uint64) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]

    class ExtendedLimits(ctypes.Structure):  # JOBOBJECT_EXTENDED_LIMIT_INFORMATION
        _fields_ = [
            ("BasicLimitInformation", BasicLimits),
            ("IoInfo", IoCounters),
            ("ProcessMemoryLimit", ctypes.c_size_t),
            ("JobMemoryLimit", ctypes.c_size_t),
            ("PeakProcessMemoryUsed", ctypes.c_size_t),
            ("PeakJobMemoryUsed", ctypes.c_size_t),
        ]

    job_object_extended_limit_information, kill_on_job_close = 9, 0x00002000
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.CreateJobObjectW.argtypes = (ctypes.c_void_p, wintypes.LPCWSTR)
    kernel32.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD)
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        return None  # no job (very old Windows): the worker's own watch of its client remains
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = kill_on_job_close
    if not kernel32.SetInformationJobObject(job, job_object_extended_limit_information, ctypes.byref(limits), ctypes.sizeof(limits)):
        kernel32.CloseHandle(job)
        return None
    return job


def _assign_to_job(job, process: subprocess.Popen) -> None:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
    # Failing to assign (a parent job that forbids nesting) leaves the worker's own watch in charge.
    kernel32.AssignProcessToJobObject(job, int(process._handle))
