"""The page plans and applies a library template that extends a base; the journal keeps both files."""

from __future__ import annotations

import hashlib
import time

import pytest

from b24app.sandbox.server import Sandbox
from b24app.store import Store
from handlers import create_app
from tests.web.page_fixtures import Form, frame_post, install, make_settings, submit

CHILD = "extends: base.yaml\nhonorifics:\n  - {id: HNR_RU_1, name: Mr.}\n  - {id: HNR_RU_2, remove: true}\n"


@pytest.fixture
def box():
    with Sandbox(port=0, portals=1, lang="en") as sandbox:
        yield sandbox


def library(settings, child: str) -> None:
    crm = settings.templates / "crm.yaml"
    crm.rename(settings.templates / "base.yaml")
    (settings.templates / "client.yaml").write_text(child, encoding="utf-8")


@pytest.fixture
def env(box, store: Store, database_url, tmp_path):
    settings = make_settings(tmp_path, database_url, box)
    library(settings, CHILD)
    portal = install(box, store, settings, 0, "client")
    app = create_app(settings, store=store, start_jobs=True)
    yield app.test_client(), portal, settings
    app.extensions["b24app.jobs"].stop_consumer()


def finished(client, page: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if submit(client, page, "refresh", format="json").get_json()["done"]:
            return submit(client, page, "refresh").get_data(as_text=True)
        time.sleep(0.2)
    raise AssertionError("the run did not finish within 60 s")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_page_applies_the_merged_template_and_journals_both_files(env):
    client, portal, settings = env
    page = frame_post(client, portal).get_data(as_text=True)
    assert "Plan: " in page and "Mr." in Form(page).text
    done = finished(client, submit(client, page, "apply").get_data(as_text=True))
    assert 'class="outcome-applied"' in done, Form(done).text
    (run,) = portal.store.runs.list(portal.portal_id)
    assert run.template_sources == [
        {"name": "client.yaml", "sha256": sha(settings.templates / "client.yaml")},
        {"name": "base.yaml", "sha256": sha(settings.templates / "base.yaml")},
    ]
    again = frame_post(client, portal).get_data(as_text=True)
    assert "No differences: the portal matches the template." in again


@pytest.mark.parametrize("reference", ["../outside.yaml", "/etc/passwd", "../../etc/passwd", "sub/base.yaml"])
def test_a_base_outside_the_library_is_refused(box, store, database_url, tmp_path, reference):
    settings = make_settings(tmp_path, database_url, box)
    (tmp_path / "outside.yaml").write_text("version: 1\nhonorifics:\n  - {id: HNR_RU_1, name: Leak}\n")
    library(settings, f"extends: {reference}\n")
    portal = install(box, store, settings, 0, "client")
    app = create_app(settings, store=store, start_jobs=False)
    text = Form(frame_post(app.test_client(), portal).get_data(as_text=True)).text
    assert "is not a template of the library" in text
    assert "Leak" not in text and "Plan: " not in text


def test_a_link_out_of_the_library_is_refused(box, store, database_url, tmp_path):
    settings = make_settings(tmp_path, database_url, box)
    (tmp_path / "outside.yaml").write_text("version: 1\nhonorifics:\n  - {id: HNR_RU_1, name: Leak}\n")
    library(settings, "extends: linked.yaml\n")
    (settings.templates / "linked.yaml").symlink_to(tmp_path / "outside.yaml")
    portal = install(box, store, settings, 0, "client")
    app = create_app(settings, store=store, start_jobs=False)
    text = Form(frame_post(app.test_client(), portal).get_data(as_text=True)).text
    assert "is not a template of the library" in text and "Leak" not in text
