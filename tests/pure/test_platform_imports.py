"""No module of the extension imports, at load time, a standard module that Windows, macOS or Linux
does not ship: the add-on registers and the engine says hello on all three.

Imports inside functions are allowed (that is how a per-platform branch asks for ``resource`` on
macOS or ``winreg`` on Windows); anything that runs when the module loads is not, guarded or not:
a module body, a class body, an ``if``/``try`` at module level.
"""

import ast
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from platform_modules import NOT_EVERYWHERE  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("engine", "addon", "operators", "ui")


def load_time_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import that runs when the module is loaded."""
    found = []

    def visit(node, in_function: bool):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        elif not in_function:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Call) and _imports_by_name(node):
                found.append((node.lineno, node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(source), False)
    return found


def _imports_by_name(call: ast.Call) -> bool:
    """``importlib.import_module("x")`` or ``__import__("x")`` with a literal name."""
    function = call.func
    named = (isinstance(function, ast.Attribute) and function.attr == "import_module") or (
        isinstance(function, ast.Name) and function.id in ("__import__", "import_module"))
    return named and bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def platform_only(source: str) -> list[tuple[int, str]]:
    return [(line, name) for line, name in load_time_imports(source) if name.split(".")[0] in NOT_EVERYWHERE]


def extension_sources():
    yield REPO / "__init__.py"
    for folder in SCANNED:
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_module_of_the_extension_imports_a_platform_only_module_at_load_time():
    offences = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in extension_sources()
        for line, name in platform_only(path.read_text(encoding="utf-8"))
    ]
    assert offences == []


def test_every_folder_is_scanned():
    scanned = {path.relative_to(REPO).parts[0] for path in extension_sources()}
    assert scanned == {"__init__.py", *SCANNED}
    assert sum(1 for _ in extension_sources()) > 50


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import resource\n", [(1, "resource")]),
        ("import os, fcntl as f\n", [(1, "fcntl")]),
        ("from pwd import getpwuid\n", [(1, "pwd")]),
        ("import sys\nif sys.platform == 'win32':\n    import winreg\n", [(3, "winreg")]),
        ("try:\n    import termios\nexcept ImportError:\n    termios = None\n", [(2, "termios")]),
        ("class Paths:\n    import grp\n", [(2, "grp")]),
        ("import importlib\nmodule = importlib.import_module('msvcrt')\n", [(2, "msvcrt")]),
        ("def peak():\n    import resource\n    return resource\n", []),
        ("class Host:\n    def name(self):\n        import winreg\n", []),
        ("handler = lambda: __import__('fcntl')\n", []),
        ("import os.path\nfrom . import resource\n", []),  # a sibling module named resource is ours
    ],
)
def test_the_scan_finds_load_time_imports_and_only_those(source, expected):
    assert platform_only(source) == expected
