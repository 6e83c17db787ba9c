"""One model for the desired state (a template) and the actual state (a portal).

Identity is kept apart from content: an entry is identified by its list and its ``id`` (the
STATUS_ID without the pipeline prefix); what gets compared is its name, sort, colour and semantics.
Portal-only facts (numeric row id, SYSTEM, NAME_INIT) ride along but are never compared. How
Bitrix24 spells these on the wire (SEMANTICS letters, prefixed STATUS_IDs) is b24app.bitrix's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .catalog import DEAL, SMART_INVOICE

PROCESS = "process"
SUCCESS = "success"
FAILURE = "failure"
SEMANTICS = (PROCESS, SUCCESS, FAILURE)  # in the order a stage list keeps them
SEMANTICS_RANK = {semantics: rank for rank, semantics in enumerate(SEMANTICS)}

COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")  # a stage colour: "#RRGGBB"


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a reference list: a stage or a value."""

    id: str  # STATUS_ID without the pipeline prefix ("OFFER", not "C3:OFFER")
    name: str
    sort: int
    color: str | None = None  # "#RRGGBB" (upper case); None in a template = not managed
    semantics: str = PROCESS
    # Portal-only facts, never compared:
    system: bool = False
    name_init: str = ""
    row_id: int | None = None  # crm.status numeric ID


@dataclass(frozen=True, slots=True)
class RefList:
    """The entries of one reference list (one ENTITY_ID on a portal)."""

    key: str  # catalog key: "lead_stages", "sources", "deal_stages", "invoice_stages", ...
    entries: tuple[Entry, ...]
    prune: bool | None = None  # template: None = inherit the template's default
    entity_id: str | None = None  # portal: "STATUS", "DEAL_STAGE_3", "DYNAMIC_128_STAGE_9" ...
    prefix: str = ""  # portal: "C3", "DT31_5", "" for lists without a prefix (sets the id length limit)
    category_id: int | None = None  # portal: the pipeline whose stages these are (None: no pipeline)

    def by_id(self) -> dict[str, Entry]:
        return {e.id: e for e in self.entries}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A deal / invoice / smart-process pipeline (a crm.category) with its stages."""

    name: str
    stages: RefList
    default: bool = False
    key: str | None = None  # template key; for deals stored as originId on the portal
    previous_names: tuple[str, ...] = ()
    sort: int | None = None  # None in a template = not managed
    id: int | None = None  # portal: category id (0 for the virtual default deal pipeline)
    made_by: str | None = None  # portal: the mark of the b24app run that created it ("b24app:<run>")
    # portal: ids of the stages still exactly as Bitrix24 created them with the pipeline
    as_created: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PipelineSet:
    """The pipelines of one entity type: deals (2), smart invoices (31) or one smart process."""

    section: str  # "deal_pipelines", "invoice_pipelines", "smart_processes"
    pipelines: tuple[Pipeline, ...]
    prune: bool | None = None  # template: delete pipelines the template does not name
    entity_type_id: int | None = None  # portal (and fixed for deals 2 / invoices 31)


@dataclass(frozen=True, slots=True)
class SmartProcess:
    title: str
    pipelines: PipelineSet
    code: str | None = None
    type_id: int | None = None  # portal: crm.type id
    entity_type_id: int | None = None  # portal: entityTypeId (used by stages and categories)


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """One file a template was read from: the template itself, or a base it extends."""

    name: str
    sha256: str  # of the file's text (UTF-8)


@dataclass(frozen=True, slots=True)
class Template:
    """The desired state. A section that is None (or a list key that is absent) is not managed."""

    lists: Mapping[str, RefList] = field(default_factory=dict)  # flat lists by catalog key
    deal_pipelines: PipelineSet | None = None
    invoice_pipelines: PipelineSet | None = None
    smart_processes: tuple[SmartProcess, ...] | None = None
    prune: bool = False
    source: str = "<template>"  # file name, for messages
    # The files read, the template first and then its bases (``extends``); not part of equality:
    # two texts that mean the same template are the same template.
    sources: tuple[TemplateSource, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """How many CRM items use an entry or a pipeline; a missing key means "not counted"."""

    entries: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (ENTITY_ID, entry id) -> n
    pipelines: Mapping[tuple[int, int], int] = field(default_factory=dict)  # (entityTypeId, category) -> n


@dataclass(frozen=True, slots=True)
class PortalState:
    """The actual state of one portal, as read."""

    domain: str
    lists: Mapping[str, RefList] = field(default_factory=dict)  # flat lists present on the portal
    deal_pipelines: PipelineSet = field(default_factory=lambda: PipelineSet("deal_pipelines", (), None, DEAL))
    # None: the portal has no smart invoices (new invoices are off, or the user may not read them)
    invoice_pipelines: PipelineSet | None = field(
        default_factory=lambda: PipelineSet("invoice_pipelines", (), None, SMART_INVOICE)
    )
    smart_processes: tuple[SmartProcess, ...] = ()
    usage: Usage = field(default_factory=Usage)
