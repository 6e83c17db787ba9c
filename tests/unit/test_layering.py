"""The architecture, checked: the core is pure, the sandbox is independent, handlers sit on top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    names.add(f"{base}.{node.module}" if node.module else base)
                else:
                    names.add(node.module or "")
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{file}: {name}"
        for file, names in imports_of(folder).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_core_is_pure():
    forbidden = (
        "requests",
        "flask",
        "werkzeug",
        "sqlalchemy",
        "b24app.bitrix",
        "b24app.sandbox",
        "b24app.sync",
        "b24app.cli",
        "handlers",
        "socket",
        "http",
        "urllib.request",
        "subprocess",
    )
    assert offenders("b24app/core", forbidden) == []


def test_sandbox_shares_no_code_with_the_product():
    forbidden = ("b24app.core", "b24app.bitrix", "b24app.sync", "b24app.cli", "handlers")
    assert offenders("b24app/sandbox", forbidden) == []


def test_b24app_never_imports_handlers():
    assert offenders("b24app", ("handlers",)) == []


def test_only_bitrix_talks_http():
    allowed = {"b24app/bitrix", "b24app/sandbox"}
    bad = [o for o in offenders("b24app", ("requests",)) if not any(o.startswith(a) for a in allowed)]
    assert bad == []


def test_nothing_in_the_package_imports_the_command_line():
    """The CLI sits on top: the demo and the wording it shares with the CLI live below it (no cycle)."""
    importers = [file for file, names in imports_of("b24app").items() if "b24app.cli" in names]
    assert importers == []


def strings_of(folder: str) -> dict[str, set[str]]:
    """The string literals of each file (docstrings and comments aside)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        found[str(path.relative_to(ROOT))] = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        }
    return found


def test_the_core_speaks_template_terms_not_the_wire():
    """REST field names and SEMANTICS letters live in b24app/bitrix (wire.py, reader, writer)."""
    wire = {
        "STATUS_ID",
        "CATEGORY_ID",
        "categoryId",
        "stageId",
        "STAGE_ID",
        "SOURCE_ID",
        "SEMANTICS",
        "S",
        "F",
    }
    bad = {file: names & wire for file, names in strings_of("b24app/core").items() if names & wire}
    assert bad == {}


HEAVY = {"sqlalchemy", "alembic", "flask", "rich", "huey", "waitress", "authlib", "cryptography"}


def heavy_modules_after(code: str, heavy: set[str] = HEAVY) -> list[str]:
    """The ``heavy`` libraries a fresh interpreter holds after ``code`` (a subprocess: this one has them)."""
    script = f"import sys\n{code}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_the_command_line_starts_without_the_heavy_libraries():
    """Building the parser (every command, the serve plugin too) imports no store, web, fleet or HTTP
    library: `b24app validate` answers at once; each command imports its own when it runs."""
    assert heavy_modules_after("import b24app.cli; b24app.cli.build_parser()", HEAVY | {"requests"}) == []


def test_a_webhook_plan_needs_no_database():
    """Only a --portal that is not a URL opens the store; a webhook's plan imports no SQLAlchemy."""
    code = (
        "from b24app import cli\n"
        "with cli._target('https://example.bitrix24.ru/rest/1/abc123/') as target: pass"
    )
    assert heavy_modules_after(code) == []
