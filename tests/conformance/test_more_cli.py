"""Second suite: sandbox command-line options that shape what the portals look like.

`--state FILE` (README: "load portals from FILE if it exists, save them on exit"), `--lang en`,
`--documents` (reference-lists.md §1.1 SMART_DOCUMENT_STAGE_{N} "listed only if document signing is
enabled", §1.2 entity.types keys/order/names, §4.4 smart document stages, §3 semantics).
"""

from __future__ import annotations

import pytest

from .conftest import Sandbox, app_tokens, call, free_port, ok, refresh

DOC_STAGES = ["DRAFT", "PROCESSING", "SENT", "SEMISIGNED", "SIGNED", "ARCHIVE", "NOTSIGNED"]
PROCESS = (None, "", "P")  # reference-lists.md §3


# ---- --state ----------------------------------------------------------------------------------------
def test_state_survives_restart(tmp_path):
    """--state FILE: after a restart on the same port the printed webhook is the same and still
    valid, created data (a reference-list value, a pipeline, a deal, a second webhook) is kept."""
    state = tmp_path / "state.json"
    sb = Sandbox(portals=1, extra=["--state", str(state)], port=free_port(3))  # restarts on the same ports
    port = sb.port
    try:
        p = sb.portal(0)
        hook = p.webhook
        sid = ok(
            hook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "KEPT", "NAME": "Kept"}}
        )
        cat = ok(hook, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Persisted"}})["category"][
            "id"
        ]
        deal = ok(hook, "crm.deal.add", {"fields": {"TITLE": "persisted deal"}})
        hook2 = p.hook_for(2)
        member_id = p.info["member_id"]
    finally:
        sb.stop()
    assert state.exists() and state.stat().st_size > 0
    sb2 = Sandbox(portals=1, extra=["--state", str(state)], port=port)
    try:
        assert sb2.webhooks == [hook]
        p2 = sb2.portal(0)
        assert p2.info["member_id"] == member_id
        row = ok(hook, "crm.status.get", {"id": sid})
        assert row["STATUS_ID"] == "KEPT" and row["NAME"] == "Kept"
        assert any(c["id"] == cat for c in ok(hook, "crm.category.list", {"entityTypeId": 2})["categories"])
        stages = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{cat}"}})
        assert len(stages) == 8
        ids = [r["ID"] for r in ok(hook, "crm.deal.list", {"filter": {"ID": deal}})]
        assert ids == [str(deal)]
        assert ok(hook2, "profile")["ID"] == "2"
        # id autoincrement continues, no reuse of the kept row's id
        sid2 = ok(
            hook, "crm.status.add", {"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "AFTER", "NAME": "a"}}
        )
        assert sid2 > sid
    finally:
        sb2.stop()


def test_state_keeps_oauth_grant(tmp_path):
    """--state FILE: the app and its refresh token survive a restart (§1.4 refresh tokens live 180 days)."""
    state = tmp_path / "state.json"
    sb = Sandbox(portals=1, extra=["--state", str(state)], port=free_port(3))  # restarts on the same ports
    port = sb.port
    try:
        p = sb.portal(0)
        app, t = app_tokens(p, scopes=["crm"])
    finally:
        sb.stop()
    sb2 = Sandbox(portals=1, extra=["--state", str(state)], port=port)
    try:
        r = refresh(sb2.portal(0), app, t["refresh_token"])
        assert r.status_code == 200, r.text
    finally:
        sb2.stop()


# ---- --documents ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sb_docs():
    sb = Sandbox(portals=1, extra=["--documents"])
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def sb_docs_en():
    sb = Sandbox(portals=1, lang="en", extra=["--documents"])
    yield sb
    sb.stop()


def doc_types(hook) -> tuple[list[str], dict]:
    types = ok(hook, "crm.status.entity.types")
    return [t["ID"] for t in types], {t["ID"]: t for t in types}


def test_no_document_stages_without_flag(fresh):
    """reference-lists.md §1.1: SMART_DOCUMENT_STAGE_{N} is listed only if document signing is enabled."""
    ids, _ = doc_types(fresh.webhook)
    assert not [i for i in ids if i.startswith("SMART_DOCUMENT_STAGE_")]


def test_document_stage_list_in_entity_types(sb_docs):
    """§1.2: with signing enabled exactly one SMART_DOCUMENT_STAGE_{N} (default category only), emitted
    after CALL_LIST and before any DYNAMIC_*; keys: ID, NAME "Стадии документа", SEMANTIC_INFO `[]`,
    ENTITY_TYPE_ID 36, PREFIX "DT36_{N}", IS_ENABLED true, CATEGORY_ID N."""
    hook = sb_docs.portal(0).webhook
    ok(hook, "crm.type.add", {"fields": {"title": "After documents"}})
    ids, types = doc_types(hook)
    docs = [i for i in ids if i.startswith("SMART_DOCUMENT_STAGE_")]
    assert len(docs) == 1, ids
    d = docs[0]
    n = int(d.rsplit("_", 1)[1])
    assert ids.index("CALL_LIST") < ids.index(d)
    dyn = [i for i in ids if i.startswith("DYNAMIC_")]
    assert dyn and all(ids.index(d) < ids.index(x) for x in dyn)
    t = types[d]
    assert t["NAME"] == "Стадии документа"
    assert t["SEMANTIC_INFO"] == []
    assert t["ENTITY_TYPE_ID"] == 36
    assert t["PREFIX"] == f"DT36_{n}"
    assert t["IS_ENABLED"] is True
    assert int(t["CATEGORY_ID"]) == n
    assert "PARENT_ID" not in t


def check_doc_rows(hook) -> None:
    ids, _ = doc_types(hook)
    d = [i for i in ids if i.startswith("SMART_DOCUMENT_STAGE_")][0]
    n = int(d.rsplit("_", 1)[1])
    rows = ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": d}})
    assert [r["STATUS_ID"] for r in rows] == [f"DT36_{n}:{s}" for s in DOC_STAGES]
    assert [r["SORT"] for r in rows] == [str(10 * i) for i in range(1, 8)]
    system = {r["STATUS_ID"].split(":")[1]: r["SYSTEM"] for r in rows}
    assert system["DRAFT"] == "Y" and system["NOTSIGNED"] == "Y"
    assert system["ARCHIVE"] == "N"  # the success stage is not system (§3)
    assert all(system[s] == "N" for s in ("PROCESSING", "SENT", "SEMISIGNED", "SIGNED"))
    sem = {r["STATUS_ID"].split(":")[1]: r["SEMANTICS"] for r in rows}
    assert sem["ARCHIVE"] == "S" and sem["NOTSIGNED"] == "F"
    assert all(sem[s] in PROCESS for s in DOC_STAGES[:5])
    assert all(r["CATEGORY_ID"] == str(n) for r in rows)
    assert all("EXTRA" not in r for r in rows)  # §2.7 EXTRA only for STATUS/QUOTE/DEAL lists
    assert all(r["NAME"] for r in rows)
    items = ok(hook, "crm.status.entity.items", {"entityId": d})
    assert [i["STATUS_ID"] for i in items] == [r["STATUS_ID"] for r in rows]


def test_document_stages_ru(sb_docs):
    """reference-lists.md §4.4 smart document category: DT36_{N}: DRAFT (Y), PROCESSING, SENT,
    SEMISIGNED, SIGNED, ARCHIVE (S, not system), NOTSIGNED (F, Y); SORT 10..70."""
    check_doc_rows(sb_docs.portal(0).webhook)


def test_document_stages_en(sb_docs_en):
    """--lang en --documents: same stage set; list name "Document stages" (§1.2 en names)."""
    hook = sb_docs_en.portal(0).webhook
    check_doc_rows(hook)
    _, types = doc_types(hook)
    d = [t for t in types if t.startswith("SMART_DOCUMENT_STAGE_")][0]
    assert types[d]["NAME"] == "Document stages"


def test_document_category_36(sb_docs):
    """§1.1/§6.13: the document stage list belongs to a real category of entity type 36. crm.category.*
    is documented for 2/3/4/31/≥128 only (§4.1), so a refusal is accepted; if it answers, the default
    category is the list's N."""
    hook = sb_docs.portal(0).webhook
    ids, _ = doc_types(hook)
    n = int([i for i in ids if i.startswith("SMART_DOCUMENT_STAGE_")][0].rsplit("_", 1)[1])
    r = call(hook, "crm.category.list", {"entityTypeId": 36})
    body = r.json()
    if "error" in body:
        assert body["error"] in ("ENTITY_TYPE_NOT_SUPPORTED", "NOT_FOUND"), body
    else:
        cats = body["result"]["categories"]
        assert [c["id"] for c in cats if c["isDefault"] == "Y"] == [n]


def test_documents_flag_keeps_other_lists(sb_docs):
    """--documents only adds the document list: the fresh lists are unchanged (SOURCE has 12 rows, §6.4)."""
    hook = sb_docs.portal(0).webhook
    assert len(ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})) == 12


# ---- --lang en ----------------------------------------------------------------------------------------
def test_lang_en_portal_language(sb_en):
    """--lang en: the portal reports language en (frame LANG / control listing), and the list names of a
    fresh en portal follow reference-lists.md §1.2 en names."""
    p = sb_en.portal(0)
    assert p.info["lang"] == "en"
    names = {t["ID"]: t["NAME"] for t in ok(p.webhook, "crm.status.entity.types")}
    assert names["STATUS"] == "Lead stages" and names["SOURCE"] == "Sources"
    assert names["QUOTE_STATUS"] == "Estimate stages" and names["CALL_LIST"] == "Call statuses"
    inv = [k for k in names if k.startswith("SMART_INVOICE_STAGE_")]
    for k in inv:
        assert names[k] == "Invoice stages" or "(" in names[k], names[k]


def test_lang_en_source_and_deal_names(sb_en):
    """reference-lists.md §6.2/§6.4 en names on an en portal (spot check of a few rows)."""
    hook = sb_en.portal(0).webhook
    src = {
        r["STATUS_ID"]: r["NAME"] for r in ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "SOURCE"}})
    }
    assert src["CALL"] == "Call" and src["TRADE_SHOW"] == "Show/Exhibition" and src["STORE"] == "Online Store"
    deal = {r["STATUS_ID"]: r for r in ok(hook, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})}
    assert deal["WON"]["NAME"] == "Deal won" and deal["WON"]["NAME_INIT"] == "Deal won"
    assert deal["PREPARATION"]["NAME"] == "Create papers" and deal["PREPARATION"]["NAME_INIT"] == ""
