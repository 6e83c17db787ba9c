"""The one resolver of bases: library names stay inside the library; CLI paths are relative."""

from __future__ import annotations

import pytest

from b24app.core.inherit import BaseNotFound
from b24app.template_files import file_resolver, library_resolver


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "base.yaml").write_text("version: 1\n", encoding="utf-8")
    (tmp_path / "secret.yaml").write_text("version: 1\n# secret\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", ["base", "base.yaml"])
def test_a_library_name_is_read(library, name):
    assert library_resolver(library)(name, "client.yaml") == ("base.yaml", "version: 1\n")


@pytest.mark.parametrize(
    "reference", ["../secret.yaml", "../templates/base.yaml", "./base.yaml", "/etc/passwd", "base.yml", ""]
)
def test_anything_but_a_plain_library_name_is_refused(library, reference):
    with pytest.raises(BaseNotFound) as refused:
        library_resolver(library)(reference, "client.yaml")
    assert "is not a template of the library" in refused.value.message


def test_a_missing_library_template_says_so(library):
    with pytest.raises(BaseNotFound) as missing:
        library_resolver(library)("nowhere", "client.yaml")
    assert missing.value.message == "the base 'nowhere.yaml' is not found"


def test_the_cli_reads_a_path_relative_to_the_extending_file_then_the_library(library, tmp_path):
    clients = tmp_path / "clients"
    clients.mkdir()
    resolve = file_resolver(library)
    name, text = resolve("../secret.yaml", str(clients / "acme.yaml"))
    assert name == str(tmp_path / "secret.yaml") and "# secret" in text
    assert resolve("base", str(clients / "acme.yaml")) == ("base.yaml", "version: 1\n")
    with pytest.raises(BaseNotFound):
        file_resolver(None)("base", str(clients / "acme.yaml"))


def test_a_base_too_large_or_not_utf8_is_one_clear_problem(library):
    (library / "big.yaml").write_bytes(b"#" * (2 * 2**20 + 1))
    (library / "latin.yaml").write_bytes("имя".encode("cp1251"))
    resolve = library_resolver(library)
    with pytest.raises(BaseNotFound, match="larger than 2.0 MB"):
        resolve("big", "client.yaml")
    with pytest.raises(BaseNotFound, match="not UTF-8"):
        resolve("latin", "client.yaml")
