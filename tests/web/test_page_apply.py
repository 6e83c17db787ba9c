"""One click applies exactly what was shown: the Apply form, the job, the run view, export.

The job queue runs in-process (``create_app(start_jobs=True)``), as under ``b24app serve``; the
sandbox portal is changed over real HTTP behind the page's back to prove the checksum guard.
"""

from __future__ import annotations

import io
import json
import time

import pytest
import requests

from b24app.core.template import load_template
from b24app.sandbox.server import Sandbox
from b24app.store import Store
from handlers import create_app
from tests.web.page_fixtures import Form, frame_post, install, make_settings, submit

BROKEN = "lead_stages:\n  entries:\n    - id: NEW\n      name: New\n      colour: '#fff'\n"


@pytest.fixture
def box():
    with Sandbox(port=0, portals=1, lang="en") as sandbox:
        yield sandbox


@pytest.fixture
def env(box, store: Store, database_url, tmp_path):
    settings = make_settings(tmp_path, database_url, box)
    portal = install(box, store, settings, 0, "crm")
    app = create_app(settings, store=store, start_jobs=True)
    yield app.test_client(), portal
    app.extensions["b24app.jobs"].stop_consumer()


def finished_run_page(client, page: str) -> str:
    """Poll the run view as the page's script does (JSON), then load it as the form does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = submit(client, page, "refresh", format="json")
        assert answer.status_code == 200
        if answer.get_json()["done"]:
            return submit(client, page, "refresh").get_data(as_text=True)
        time.sleep(0.2)
    raise AssertionError("the run did not finish within 60 s")


def test_one_click_apply_applies_the_plan_shown(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    assert "Plan: " in page and "apply" in Form(page).forms
    started = submit(client, page, "apply")
    assert started.status_code == 200
    run_page = started.get_data(as_text=True)
    assert Form(run_page).forms["refresh"][1]["run"]
    done = finished_run_page(client, run_page)
    assert 'class="outcome-applied"' in done, Form(done).text
    assert "Reading" in Form(done).text or "reading" in Form(done).text
    runs = portal.store.runs.list(portal.portal_id)
    assert [(r.kind.value, r.outcome.value, r.user_id, r.template_name) for r in runs] == [
        ("apply", "applied", 1, "crm")
    ]
    again = frame_post(client, portal).get_data(as_text=True)
    assert "No differences: the portal matches the template." in again
    assert "apply" not in Form(again).forms
    history = Form(again).text
    assert "applied and verified" in history and "crm" in history


def test_apply_after_the_portal_changed_is_refused_with_the_new_plan(env, box):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    shown = Form(page).forms["apply"][1]["checksum"]
    hook = box.add_webhook(0, 1, ["crm"])
    rows = requests.post(hook + "crm.status.list.json", data={"filter[ENTITY_ID]": "SOURCE"}, timeout=10)
    requests.post(
        hook + "crm.status.update.json",
        data={"id": rows.json()["result"][0]["ID"], "fields[NAME]": "Renamed behind the page"},
        timeout=10,
    ).raise_for_status()
    done = finished_run_page(client, submit(client, page, "apply").get_data(as_text=True))
    assert 'class="outcome-refused"' in done
    assert "The portal or the template changed since the plan was shown" in done
    new_checksum = Form(done).forms["apply"][1]["checksum"]
    assert new_checksum != shown
    assert "Renamed behind the page" in done  # the new plan shows the portal's current name


def test_apply_after_the_template_changed_is_refused_with_the_new_plan(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    library = portal.settings.templates / "crm.yaml"
    library.write_text(library.read_text().replace("prune: false", "prune: false  # edited"), "utf-8")
    answer = submit(client, page, "apply")
    text = answer.get_data(as_text=True)
    assert "The template changed since the plan was shown" in text
    assert portal.store.runs.list(portal.portal_id) == []
    assert Form(text).forms["apply"][1]["template_hash"] != Form(page).forms["apply"][1]["template_hash"]


def test_an_apply_form_submitted_twice_starts_one_run(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    first = submit(client, page, "apply")
    second = submit(client, page, "apply")
    assert "Run #" in first.get_data(as_text=True)
    assert "Another run started since this page was shown" in second.get_data(as_text=True)
    finished_run_page(client, first.get_data(as_text=True))
    assert len(portal.store.runs.list(portal.portal_id)) == 1


def test_an_apply_with_a_forged_checksum_is_refused_by_the_job(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    done = finished_run_page(client, submit(client, page, "apply", checksum="0" * 64).get_data(as_text=True))
    assert 'class="outcome-refused"' in done
    hook_state = frame_post(client, portal).get_data(as_text=True)
    assert "No differences" not in hook_state  # nothing was written


def test_a_pasted_template_is_checked_with_line_numbered_problems(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    answer = submit(client, page, "choose", template_name="", template_text=BROKEN)
    problems = Form(answer.get_data(as_text=True))
    assert "The template is not valid:" in problems.text
    assert "pasted template:1: version: is missing" in problems.text
    assert "pasted template:5: lead_stages.entries[0].colour: unknown key 'colour'" in problems.text
    assert "apply" not in problems.forms


def test_a_pasted_template_is_planned_and_applied(env, example_path):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    planned = submit(
        client, page, "choose", template_name="", template_text=example_path.read_text()
    ).get_data(as_text=True)
    fields = Form(planned).forms["apply"][1]
    assert "template_name" not in fields and fields["template_text"] == example_path.read_text()
    done = finished_run_page(client, submit(client, planned, "apply").get_data(as_text=True))
    assert 'class="outcome-applied"' in done


def test_save_this_portal_as_a_template(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    answer = submit(client, page, "export-form", name="reference-1")
    assert "The portal was saved to the library as a template." in answer.get_data(as_text=True)
    saved = portal.settings.templates / "reference-1.yaml"
    template = load_template(saved.read_text("utf-8"), str(saved))
    assert template.lists
    replaced = submit(client, answer.get_data(as_text=True), "export-form", name="reference-1")
    assert "tick the box to replace it" in replaced.get_data(as_text=True)
    confirmed = submit(
        client, replaced.get_data(as_text=True), "export-form", name="reference-1", overwrite="yes"
    )
    assert "saved to the library" in confirmed.get_data(as_text=True)
    assert json.dumps(sorted(p.name for p in portal.settings.templates.iterdir())) == json.dumps(
        ["crm.yaml", "reference-1.yaml"]
    )


def test_a_large_pasted_template_is_read_and_a_larger_request_refused(env):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    entries = "".join(f"  - {{id: S{n:05d}, name: Source number {n} of a long list}}\n" for n in range(12000))
    large = "version: 1\nsources:\n" + entries  # ~0.6 MB: over the callbacks' 256 KB, under 2 MB
    answer = submit(client, page, "choose", template_name="", template_text=large)
    assert answer.status_code == 200
    assert (
        "pasted template:3: this list has more than 1,000 items" in Form(answer.get_data(as_text=True)).text
    )
    huge = submit(client, page, "choose", template_name="", template_text="#" * (5 * 2**20))
    assert huge.status_code == 413


def test_an_uploaded_template_is_planned(env, example_path):
    client, portal = env
    page = frame_post(client, portal).get_data(as_text=True)
    action, fields = Form(page).forms["choose"]
    upload = (io.BytesIO(example_path.read_bytes()), "mine.yaml")
    answer = client.post(
        action,
        data={**fields, "template_name": "", "template_file": upload},
        headers={"Origin": portal.settings.public_url},
        content_type="multipart/form-data",
    )
    planned = Form(answer.get_data(as_text=True))
    assert planned.forms["apply"][1]["template_text"] == example_path.read_text()
