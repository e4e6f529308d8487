"""Drawing imports logic, never the reverse: the add-on's import graph has no cycle and no upward edge.

Read from the source with `ast` (imports inside functions count too: they run at draw or call time;
imports under `if TYPE_CHECKING:` do not: they never run, they only name types for readers and checkers).
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = {"engine": 0, "addon": 1, "operators": 2, "ui": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return [p for layer in LAYERS for p in (REPO / layer).rglob("*.py")]


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module of this repository that `path` imports, as dotted names from the repository root."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(inner) for node in ast.walk(tree) if _is_type_checking_block(node)
                 for statement in node.body for inner in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module:  # `from . import x` imports x, not (again) the package around it
                found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def _is_type_checking_block(node) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def graph() -> dict[str, set[str]]:
    files = source_files()
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) for p in files}


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if LAYERS[target.split(".")[0]] > LAYERS[module.split(".")[0]]
    ]
    assert upward == []


def test_addon_modules_import_no_cycle():
    edges = graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []
