"""The house reads one way: no healthd import hidden in a function to dodge a loop.

The layers themselves are import-linter's contract in pyproject.toml (``lint-imports``);
import-linter counts imports inside functions as imports, so it cannot tell a hidden one
apart. This test does: only ``AppConfig.ready()`` may import healthd lazily, as Django
intends, and the standalone settings module, which Django imports before apps are ready.
"""

from __future__ import annotations

import ast
from pathlib import Path

HEALTHD = Path(__file__).resolve().parent.parent.parent / "healthd"
ALLOWED = {("apps.py", "ready")}


def _hidden_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if (path.name, function.name) in ALLOWED:
            continue
        for node in ast.walk(function):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            names = [n for n in names if n == "healthd" or n.startswith("healthd.")]
            if names:
                found.append(f"{path.relative_to(HEALTHD.parent)}:{node.lineno} "
                             f"{function.name}() imports {', '.join(names)}")
    return found


def test_no_healthd_import_is_hidden_in_a_function():
    hidden = []
    for path in sorted(HEALTHD.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        hidden += _hidden_imports(path)
    assert hidden == []
