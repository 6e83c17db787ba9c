"""Where a template's base (``extends:``) is read from: one resolver for the CLI and the web page.

The core merges a chain of templates but reads no file; it asks a resolver (see
:mod:`b24app.core.inherit`). Two are built here:

- :func:`library_resolver` (the web page, jobs): a base is a template of the library folder, named
  ``base`` or ``base.yaml``; nothing outside that folder is ever read (``../x``, absolute paths and
  links that point out are refused).
- :func:`file_resolver` (the CLI): a path relative to the folder of the file that extends it, or,
  when no such file exists, a library name (``B24APP_TEMPLATES``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from b24app.core.inherit import BaseNotFound, Resolver
from b24app.core.limits import MAX_TEMPLATE_BYTES, megabytes, shown

LIBRARY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def read_base(file: Path, name: str) -> str:
    """The text of the base ``file`` (shown as ``name``), or BaseNotFound saying what is wrong."""
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_TEMPLATE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise BaseNotFound(
            f"the base '{shown(name)}' is not found", "check the name after 'extends:'"
        ) from None
    except IsADirectoryError:
        raise BaseNotFound(f"the base '{shown(name)}' is a folder", "name a template file") from None
    except OSError as error:
        raise BaseNotFound(
            f"cannot read the base '{shown(name)}': {error.strerror}", "check the file"
        ) from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise BaseNotFound(
            f"the base '{shown(name)}' is larger than {megabytes(MAX_TEMPLATE_BYTES)}",
            "name the right file, or make it smaller",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BaseNotFound(f"the base '{shown(name)}' is not UTF-8 text", "save it as UTF-8") from None


def library_file(folder: Path, reference: str) -> Path | None:
    """The library template ``reference`` names (``base`` or ``base.yaml``), or None when it is not
    a plain library name (a path, ``..``, an absolute path) or resolves outside ``folder``."""
    stem = reference.removesuffix(".yaml")
    if not LIBRARY_NAME.fullmatch(stem):
        return None
    root = folder.resolve()
    file = (root / f"{stem}.yaml").resolve()
    return file if file.parent == root else None


def library_resolver(folder: Path) -> Resolver:
    """Bases from the template library only: ``extends: base`` or ``extends: base.yaml``."""

    def resolve(reference: str, from_source: str) -> tuple[str, str]:
        file = library_file(folder, reference)
        if file is None:
            raise BaseNotFound(
                f"'{shown(reference)}' is not a template of the library",
                "name a template of the library folder, e.g. 'extends: base.yaml' (no folders, no '..')",
            )
        name = file.name
        return name, read_base(file, name)

    return resolve


def file_resolver(library: Path | None = None) -> Resolver:
    """Bases as files relative to the file that extends them, or library names."""

    def resolve(reference: str, from_source: str) -> tuple[str, str]:
        here = Path(from_source).parent if from_source not in ("-", "") else Path(".")
        candidate = Path(reference).expanduser()
        path = candidate if candidate.is_absolute() else here / candidate
        if path.is_file():
            return os.path.normpath(path), read_base(path, os.path.normpath(path))
        if library is not None and library_file(library, reference) is not None:
            return library_resolver(library)(reference, from_source)
        where = " or in the library (B24APP_TEMPLATES)" if library is not None else ""
        raise BaseNotFound(
            f"the base '{shown(reference)}' is not found in this file's folder{where}",
            "write a path relative to this file, e.g. 'extends: base.yaml'",
        )

    return resolve
