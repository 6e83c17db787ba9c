"""State of one emulated Bitrix24 portal: users, reference lists, pipelines, smart processes, items."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "fresh-portal-defaults.json"

# Order in which the crm module installer fills b_crm_status (install/index.php InstallDB).
INSTALL_ORDER = (
    "STATUS",
    "SOURCE",
    "CONTACT_TYPE",
    "COMPANY_TYPE",
    "EMPLOYEES",
    "CALL_LIST",
    "DEAL_STAGE",
    "QUOTE_STATUS",
    "INVOICE_STATUS",
    "INDUSTRY",
    "DEAL_TYPE",
    "DEAL_STATE",
    "EVENT_TYPE",
    "HONORIFIC",
)
SMART_INVOICE = 31
SMART_DOCUMENT = 36
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class User:
    id: int
    name: str
    last_name: str
    admin: bool
    crm_access: bool = True
    config_write: bool | None = None  # None = same as admin

    @property
    def can_write_config(self) -> bool:
        return self.admin if self.config_write is None else self.config_write


@dataclass
class Webhook:
    user_id: int
    code: str
    scopes: frozenset[str]


@dataclass
class OutEvent:
    event: str
    data: dict
    user_id: int | None


@dataclass
class StatusRow:
    """One row of b_crm_status. CATEGORY_ID/COLOR/SEMANTICS may be NULL like on real portals."""

    id: int
    entity_id: str
    status_id: str
    name: str
    name_init: str
    sort: int
    system: str
    category_id: int | None
    color: str | None
    semantics: str | None


@dataclass
class Category:
    """A pipeline. Deal pipelines and item categories (31, 36, 3, 4, smart processes) share this shape."""

    id: int
    entity_type_id: int
    name: str
    sort: int
    is_default: bool = False
    is_system: bool = False
    code: str = ""
    origin_id: str = ""
    originator_id: str = ""
    created_date: str = ""


@dataclass
class DynamicType:
    """A smart process (crm.type). `flags` holds the is*Enabled booleans keyed by their camelCase name.

    `relations` keeps the links the user asked for ({"parent": [...], "child": [...]}, each entry
    {"entityTypeId", "isChildrenListEnabled"}); the predefined client links are derived from the flags.
    `linked_user_fields` maps "ENTITY|UF_FIELD" to a boolean.
    """

    id: int
    entity_type_id: int
    title: str
    code: str
    created_by: int
    created_time: str
    updated_by: int
    updated_time: str
    flags: dict[str, bool]
    relations: dict[str, list[dict]] = field(default_factory=lambda: {"parent": [], "child": []})
    linked_user_fields: dict[str, bool] = field(default_factory=dict)


@cache
def _defaults() -> dict:
    with DATA_FILE.open(encoding="utf-8") as fh:
        return json.load(fh)


def lang_rows(key: str, lang: str) -> list[dict]:
    """Rows of one defaults section (top level or `_templates`) localised for `lang` ("ru" or other = en)."""
    data = _defaults()
    if key == "HONORIFIC" and lang != "ru":
        source = data["_variants"]["HONORIFIC@en"]
    else:
        source = data[key] if key in data else data["_templates"][key]
    en = lang != "ru"
    return [
        {
            "STATUS_ID": row["STATUS_ID"],
            "NAME": row.get("NAME_EN", row["NAME"]) if en else row["NAME"],
            "NAME_INIT": row.get("NAME_INIT_EN", row["NAME_INIT"]) if en else row["NAME_INIT"],
            "SORT": row["SORT"],
            "SYSTEM": row["SYSTEM"],
            "SEMANTICS": row["SEMANTICS"],
            "COLOR": row["COLOR"],
            "CATEGORY_ID": row["CATEGORY_ID"],
        }
        for row in source
    ]


def default_category_name(entity_type_id: int, lang: str) -> str:
    """Name of the default pipeline: deals from the defaults file; other types "Общая"/"General"."""
    rows = _defaults()["categories"].get(str(entity_type_id))
    if rows and entity_type_id in (2, 3, 4):
        return rows[0]["name"] if lang == "ru" else rows[0]["name_en"]
    return "Общая" if lang == "ru" else "General"


def _digest(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def now_iso(lang: str, ts: float | None = None) -> str:
    """Portal-local ISO-8601 time with offset (ru portals: +03:00, others UTC)."""
    offset = 3 * 3600 if lang == "ru" else 0
    t = time.gmtime((time.time() if ts is None else ts) + offset)
    sign = "+03:00" if offset else "+00:00"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + sign


@dataclass
class Portal:
    name: str
    lang: str
    member_id: str
    domain: str
    seed: int = 0
    documents_enabled: bool = False
    users: dict[int, User] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    apps: dict[str, dict] = field(default_factory=dict)
    event_bindings: list[dict] = field(default_factory=list)
    outbox: list[OutEvent] = field(default_factory=list)
    statuses: dict[int, StatusRow] = field(default_factory=dict)
    next_status_id: int = 1
    deal_categories: dict[int, Category] = field(default_factory=dict)
    next_deal_category_id: int = 1
    deal_default_name: str | None = None  # option crm/default_deal_category_name (None = lang default)
    deal_default_sort: int = 0
    item_categories: dict[int, Category] = field(default_factory=dict)
    next_item_category_id: int = 1
    types: dict[int, DynamicType] = field(default_factory=dict)
    next_type_id: int = 1
    items: dict[int, dict[int, dict]] = field(default_factory=dict)  # entityTypeId -> id -> UPPER fields
    next_item_id: dict[int, int] = field(default_factory=dict)
    notifications: list[dict] = field(default_factory=list)  # im.notify.system.add, newest last
    next_notification_id: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # --- users and webhooks -------------------------------------------------------------------

    def add_webhook(self, user_id: int, scopes: set[str]) -> Webhook:
        raw = _digest("webhook", self.name, self.seed, user_id, len(self.webhooks))
        code = "".join(ALNUM[b % len(ALNUM)] for b in raw[:16])
        hook = Webhook(user_id=user_id, code=code, scopes=frozenset(scopes))
        self.webhooks[code] = hook
        return hook

    # --- reference lists ----------------------------------------------------------------------

    def add_status(
        self,
        entity_id: str,
        status_id: str,
        name: str,
        sort: int,
        *,
        name_init: str = "",
        system: str = "N",
        category_id: int | None = None,
        color: str | None = None,
        semantics: str | None = None,
    ) -> StatusRow:
        row = StatusRow(
            self.next_status_id,
            entity_id,
            status_id,
            name,
            name_init,
            sort,
            system,
            category_id,
            color,
            semantics,
        )
        self.statuses[row.id] = row
        self.next_status_id += 1
        return row

    def rows_of(self, entity_id: str) -> list[StatusRow]:
        """Rows of one list ordered by SORT (ties by ID)."""
        rows = [r for r in self.statuses.values() if r.entity_id == entity_id]
        rows.sort(key=lambda r: (r.sort, r.id))
        return rows

    def add_template_stages(
        self,
        entity_id: str,
        template: str,
        placeholders: dict[str, str],
        category_id: int,
        *,
        max_len: int | None = None,
    ) -> None:
        for row in lang_rows(template, self.lang):
            status_id = row["STATUS_ID"]
            for key, value in placeholders.items():
                status_id = status_id.replace("{" + key + "}", value)
            if max_len is not None:
                status_id = status_id[:max_len]
            self.add_status(
                entity_id,
                status_id,
                row["NAME"],
                row["SORT"],
                name_init=row["NAME_INIT"],
                system=row["SYSTEM"],
                category_id=category_id,
                color=row["COLOR"],
                semantics=row["SEMANTICS"],
            )

    # --- pipelines ----------------------------------------------------------------------------

    def deal_default_category(self) -> Category:
        name = self.deal_default_name or default_category_name(2, self.lang)
        return Category(0, 2, name, self.deal_default_sort, is_default=True)

    def add_deal_category(
        self, name: str, sort: int, origin_id: str = "", originator_id: str = ""
    ) -> Category:
        cat = Category(
            self.next_deal_category_id,
            2,
            name,
            sort,
            origin_id=origin_id,
            originator_id=originator_id,
            created_date=now_iso(self.lang),
        )
        self.deal_categories[cat.id] = cat
        self.next_deal_category_id += 1
        # Full STATUS_IDs are truncated to 21 characters (DealCategory::normalizeStatusIds).
        self.add_template_stages(
            f"DEAL_STAGE_{cat.id}", "DEAL_STAGE_{N}", {"N": str(cat.id)}, cat.id, max_len=21
        )
        return cat

    def add_item_category(
        self, entity_type_id: int, name: str, sort: int, *, is_default: bool = False, code: str = ""
    ) -> Category:
        cat = Category(
            self.next_item_category_id,
            entity_type_id,
            name,
            sort,
            is_default=is_default,
            code=code,
            created_date=now_iso(self.lang),
        )
        self.item_categories[cat.id] = cat
        self.next_item_category_id += 1
        n = str(cat.id)
        if entity_type_id == SMART_INVOICE:
            self.add_template_stages(f"SMART_INVOICE_STAGE_{n}", "SMART_INVOICE_STAGE_{N}", {"N": n}, cat.id)
        elif entity_type_id == SMART_DOCUMENT:
            self.add_template_stages(
                f"SMART_DOCUMENT_STAGE_{n}", "SMART_DOCUMENT_STAGE_{N}", {"N": n}, cat.id
            )
        elif entity_type_id >= 128:
            self.add_template_stages(
                f"DYNAMIC_{entity_type_id}_STAGE_{n}",
                "DYNAMIC_{entityTypeId}_STAGE_{N}",
                {"entityTypeId": str(entity_type_id), "N": n},
                cat.id,
            )
        return cat

    def categories_of(self, entity_type_id: int) -> list[Category]:
        """All pipelines of a type sorted by sort then id (deal default pipeline included)."""
        if entity_type_id == 2:
            cats = [self.deal_default_category(), *self.deal_categories.values()]
        elif entity_type_id in (3, 4):
            name = default_category_name(entity_type_id, self.lang)
            virtual = Category(0, entity_type_id, name, 0, is_default=True, is_system=True)
            cats = [
                virtual,
                *(c for c in self.item_categories.values() if c.entity_type_id == entity_type_id),
            ]
        else:
            cats = [c for c in self.item_categories.values() if c.entity_type_id == entity_type_id]
        cats.sort(key=lambda c: (c.sort, c.id))
        return cats

    def find_category(self, entity_type_id: int, category_id: int) -> Category | None:
        return next((c for c in self.categories_of(entity_type_id) if c.id == category_id), None)

    def type_by_entity_type_id(self, entity_type_id: int) -> DynamicType | None:
        return next((t for t in self.types.values() if t.entity_type_id == entity_type_id), None)

    # --- items --------------------------------------------------------------------------------

    def add_item(self, entity_type_id: int, fields: dict) -> dict:
        item_id = self.next_item_id.get(entity_type_id, 1)
        self.next_item_id[entity_type_id] = item_id + 1
        item = {"ID": item_id, **fields}
        self.items.setdefault(entity_type_id, {})[item_id] = item
        return item

    def items_of(self, entity_type_id: int) -> list[dict]:
        return list(self.items.get(entity_type_id, {}).values())

    # --- snapshot -----------------------------------------------------------------------------

    def to_json(self) -> dict:
        """A JSON-serialisable snapshot of the whole portal (everything but the lock)."""
        data = {
            f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclass_fields(self) if f.name != "lock"
        }
        data["users"] = [asdict(u) for u in self.users.values()]
        data["webhooks"] = {
            code: {"user_id": w.user_id, "code": w.code, "scopes": sorted(w.scopes)}
            for code, w in self.webhooks.items()
        }
        data["outbox"] = [asdict(e) for e in self.outbox]
        data["statuses"] = [asdict(r) for r in self.statuses.values()]
        data["deal_categories"] = [asdict(c) for c in self.deal_categories.values()]
        data["item_categories"] = [asdict(c) for c in self.item_categories.values()]
        data["types"] = [asdict(t) for t in self.types.values()]
        data["items"] = {str(etid): list(rows.values()) for etid, rows in data["items"].items()}
        data["next_item_id"] = {str(k): v for k, v in self.next_item_id.items()}
        return data

    @classmethod
    def from_json(cls, d: dict) -> Portal:
        d = copy.deepcopy(d)
        portal = cls(
            name=d.pop("name"), lang=d.pop("lang"), member_id=d.pop("member_id"), domain=d.pop("domain")
        )
        portal.users = {u["id"]: User(**u) for u in d.pop("users")}
        portal.webhooks = {
            w["code"]: Webhook(w["user_id"], w["code"], frozenset(w["scopes"]))
            for w in d.pop("webhooks").values()
        }
        portal.outbox = [OutEvent(**e) for e in d.pop("outbox")]
        portal.statuses = {r["id"]: StatusRow(**r) for r in d.pop("statuses")}
        portal.deal_categories = {c["id"]: Category(**c) for c in d.pop("deal_categories")}
        portal.item_categories = {c["id"]: Category(**c) for c in d.pop("item_categories")}
        portal.types = {t["id"]: DynamicType(**t) for t in d.pop("types")}
        portal.items = {int(etid): {row["ID"]: row for row in rows} for etid, rows in d.pop("items").items()}
        portal.next_item_id = {int(k): v for k, v in d.pop("next_item_id").items()}
        for key, value in d.items():
            setattr(portal, key, value)
        return portal


@cache
def _fresh_template(lang: str) -> tuple[tuple, ...]:
    """Install-order default rows for one language, prepared once."""
    rows = []
    for entity_id in INSTALL_ORDER:
        for row in lang_rows(entity_id, lang):
            rows.append(
                (
                    entity_id,
                    row["STATUS_ID"],
                    row["NAME"],
                    row["SORT"],
                    row["NAME_INIT"],
                    row["SYSTEM"],
                    row["CATEGORY_ID"],
                    row["COLOR"],
                    row["SEMANTICS"],
                )
            )
    return tuple(rows)


def new_portal(name: str, lang: str = "ru", *, seed: int = 0, documents: bool = False) -> Portal:
    """A fresh portal: default lists, the default smart-invoice category, three users, one webhook."""
    member_id = _digest("member", name, seed).hex()[:32]
    portal = Portal(
        name=name,
        lang=lang,
        member_id=member_id,
        domain=f"{name}.sandbox.local",
        seed=seed,
        documents_enabled=documents,
    )
    ru = lang == "ru"
    portal.users = {
        1: User(1, "Admin" if not ru else "Админ", "", admin=True),
        2: User(2, "Manager" if not ru else "Менеджер", "", admin=False, config_write=False),
        3: User(3, "Guest" if not ru else "Гость", "", admin=False, crm_access=False),
    }
    for (
        entity_id,
        status_id,
        row_name,
        sort,
        name_init,
        system,
        category_id,
        color,
        semantics,
    ) in _fresh_template(lang):
        portal.add_status(
            entity_id,
            status_id,
            row_name,
            sort,
            name_init=name_init,
            system=system,
            category_id=category_id,
            color=color,
            semantics=semantics,
        )
    # The shared item-category autoincrement already moved on a real portal: default invoice id is 1..9.
    portal.next_item_category_id = 1 + _digest("invoice-category", name, seed)[0] % 9
    portal.add_item_category(SMART_INVOICE, default_category_name(SMART_INVOICE, lang), 500, is_default=True)
    if documents:
        portal.add_item_category(
            SMART_DOCUMENT, default_category_name(SMART_DOCUMENT, lang), 500, is_default=True
        )
    portal.add_webhook(1, {"crm", "user", "basic"})
    return portal
