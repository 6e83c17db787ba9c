"""The store sits beside the engine: no web framework, no HTTP, no portal client, no sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "b24app" / "store"
FORBIDDEN = ("flask", "werkzeug", "requests", "handlers", "b24app.bitrix", "b24app.sandbox", "b24app.cli")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_store_imports_no_web_http_or_portal_code():
    files = sorted(STORE.rglob("*.py"))
    assert len(files) > 10
    bad = [
        f"{path.relative_to(STORE)}: {name}"
        for path in files
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert bad == []
