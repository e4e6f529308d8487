"""Facts about the host machine, asked the way each platform answers them: the peak memory of this
process, the total memory, the CPU's name.

Pure Python, no torch. Windows has no ``resource`` module and macOS no ``/proc``, so each answer is
per platform, and every platform-only module is imported inside the function that needs it (a test
checks that no module of the engine imports one at load time).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys


def process_peak_bytes() -> int:
    """Peak resident memory of this process since it started, in bytes (0 where unknown)."""
    if sys.platform == "win32":
        return _windows_peak_working_set()
    if sys.platform.startswith("linux"):
        return _linux_status_bytes("VmHWM")
    import resource  # macOS and the BSDs; Windows has no such module

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, the BSDs KiB


def total_memory_bytes() -> int:
    """Physical memory of the machine, in bytes (0 where unknown)."""
    if sys.platform == "win32":
        return _windows_total_physical()
    if sys.platform == "darwin":
        return _int_or_zero(_sysctl("hw.memsize"))
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def cpu_name() -> str:
    """A readable CPU name, e.g. ``AMD Ryzen 9 7950X 16-Core Processor`` or ``Apple M3 Max``."""
    if sys.platform == "darwin":
        name = _sysctl("machdep.cpu.brand_string")
    elif sys.platform == "win32":
        name = _windows_cpu_name()
    else:
        name = _linux_cpu_name()
    return name or platform.processor() or platform.machine() or "unknown CPU"


def _sysctl(key: str) -> str:
    try:
        result = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _int_or_zero(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _linux_status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (``VmHWM``: the resident peak), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # always reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _linux_cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model"):
                    return value.strip()
    except OSError:
        pass
    return ""


def _windows_cpu_name() -> str:
    import winreg  # Windows only

    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as key:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except OSError:
        return ""


def _windows_peak_working_set() -> int:
    import ctypes
    from ctypes import wintypes

    class ProcessMemoryCounters(ctypes.Structure):  # PROCESS_MEMORY_COUNTERS, psapi.h
        _fields_ = [
            ("cb", wintypes.DWORD),
            ("PageFaultCount", wintypes.DWORD),
            ("PeakWorkingSetSize", ctypes.c_size_t),
            ("WorkingSetSize", ctypes.c_size_t),
            ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
            ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
            ("PagefileUsage", ctypes.c_size_t),
            ("PeakPagefileUsage", ctypes.c_size_t),
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    # K32GetProcessMemoryInfo is kernel32's export of psapi's GetProcessMemoryInfo (Windows 7 and later).
    get_info = kernel32.K32GetProcessMemoryInfo
    get_info.argtypes = (wintypes.HANDLE, ctypes.POINTER(ProcessMemoryCounters), wintypes.DWORD)
    get_info.restype = wintypes.BOOL
    counters = ProcessMemoryCounters()
    counters.cb = ctypes.sizeof(ProcessMemoryCounters)
    if not get_info(kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb):
        return 0
    return int(counters.PeakWorkingSetSize)


def _windows_total_physical() -> int:
    import ctypes
    from ctypes import wintypes

    class MemoryStatusEx(ctypes.Structure):  # MEMORYSTATUSEX, sysinfoapi.h
        _fields_ = [
            ("dwLength", wintypes.DWORD),
            ("dwMemoryLoad", wintypes.DWORD),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    if not ctypes.WinDLL("kernel32").GlobalMemoryStatusEx(ctypes.byref(status)):
        return 0
    return int(status.ullTotalPhys)
