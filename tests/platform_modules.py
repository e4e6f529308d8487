"""Standard-library modules that one of the three platforms does not ship (Python 3.11 documentation:
"Unix Specific Services", "MS Windows Specific Services", "Superseded Modules" and each module's
"Availability" line). Used by the import scan (tests/pure/test_platform_imports.py) and by the
subprocess that runs the engine without them (tests/engine/no_unix_modules/sitecustomize.py)."""

#: Not on Windows. (posix and _posixsubprocess are the interpreter's own plumbing on POSIX and are
#: scanned for, but cannot be withheld from a running POSIX interpreter.)
UNIX_ONLY = frozenset({
    "resource", "fcntl", "termios", "tty", "pty", "pwd", "grp", "syslog", "crypt", "nis",
    "curses", "_curses", "readline", "posix", "_posixsubprocess", "_posixshmem",
})
#: Not on macOS either.
LINUX_ONLY = frozenset({"spwd", "ossaudiodev"})
#: Not on macOS or Linux.
WINDOWS_ONLY = frozenset({"msvcrt", "winreg", "winsound", "_winapi", "_overlapped", "nt"})

NOT_EVERYWHERE = UNIX_ONLY | LINUX_ONLY | WINDOWS_ONLY

#: What the engine subprocess is run without: the Unix-only modules a Windows Python lacks.
WITHHELD_FROM_ENGINE = (UNIX_ONLY | LINUX_ONLY) - {"posix", "_posixsubprocess", "_posixshmem"}
