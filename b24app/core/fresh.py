"""The stages Bitrix24 puts into a pipeline it has just created, and whether a pipeline still holds
only those beside the template's stages (reference-lists.md §4.4).

A pipeline that b24app created and whose extra stages are still exactly these — untouched, and
the pipeline holding no items — is treated as new on a later run (after a crash just after the
creation), so its leftover default stages are removed as in a clean run.
"""

from __future__ import annotations

from .model import FAILURE, PROCESS, SUCCESS, RefList

# (id, (Russian name, English name), sort, colour, semantics) per pipeline section.
_DEAL = (
    ("NEW", ("Новая", "New"), 10, "#39A8EF", PROCESS),
    ("PREPARATION", ("Подготовка документов", "Create papers"), 20, "#2FC6F6", PROCESS),
    # Real portals spell the Russian name with a Latin "C"; the Cyrillic spelling is accepted too.
    ("PREPAYMENT_INVOICE", ("Cчёт на предоплату", "Счёт на предоплату", "Invoice"), 30, "#55D0E0", PROCESS),
    ("EXECUTING", ("В работе", "In progress"), 40, "#47E4C2", PROCESS),
    ("FINAL_INVOICE", ("Финальный счёт", "Final invoice"), 50, "#FFA900", PROCESS),
    ("WON", ("Сделка успешна", "Deal won"), 60, "#7BD500", SUCCESS),
    ("LOSE", ("Сделка провалена", "Deal lost"), 70, "#FF5752", FAILURE),
    ("APOLOGY", ("Анализ причины провала", "Analyze failure"), 80, "#FF5752", FAILURE),
)
_INVOICE = (
    ("N", ("Новый", "New"), 10, "#39A8EF", PROCESS),
    ("S", ("Отправлен клиенту", "Sent to customer"), 20, "#2FC6F6", PROCESS),
    ("P", ("Оплачен", "Paid"), 30, "#7BD500", SUCCESS),
    ("D", ("Не оплачен", "Unpaid"), 40, "#FF5752", FAILURE),
)
_SMART_PROCESS = (
    ("NEW", ("Начало", "Start"), 10, "#22B9FF", PROCESS),
    ("PREPARATION", ("Подготовка", "Prepare", "Preparation"), 20, "#88B9FF", PROCESS),
    ("CLIENT", ("Согласование", "Approval"), 30, "#10E5FC", PROCESS),
    ("SUCCESS", ("Успех", "Success"), 40, "#00FF00", SUCCESS),
    ("FAIL", ("Провал", "Failed", "Failure"), 50, "#FF0000", FAILURE),
)
NEW_PIPELINE_STAGES = {
    "deal_pipelines": _DEAL,
    "invoice_pipelines": _INVOICE,
    "smart_processes": _SMART_PROCESS,
}
_MAX_DEAL_STATUS_ID = 21  # Bitrix24 cuts the full ids of a new deal pipeline's stages to this


def _default_id(section: str, prefix: str, stage_id: str) -> str:
    """The id Bitrix24 gives a default stage: deal pipelines N ≥ 10 get PREPAYMENT_INVOIC..."""
    if section != "deal_pipelines" or not prefix:
        return stage_id
    return f"{prefix}:{stage_id}"[:_MAX_DEAL_STATUS_ID].split(":", 1)[1]


def only_default_extras(section: str, actual: RefList, desired: RefList) -> bool:
    """The stages of ``actual`` that ``desired`` does not list are all default stages of a new
    pipeline exactly as Bitrix24 made them (id, name, sort, colour, semantics), and there is one."""
    defaults = {
        _default_id(section, actual.prefix, stage_id): (names, sort, color, semantics)
        for stage_id, names, sort, color, semantics in NEW_PIPELINE_STAGES[section]
    }
    wanted = {e.id for e in desired.entries}
    extras = [e for e in actual.entries if e.id not in wanted]
    if not extras:
        return False
    for entry in extras:
        default = defaults.get(entry.id)
        if default is None:
            return False
        names, sort, color, semantics = default
        if entry.name not in names or entry.sort != sort or (entry.color or "").upper() != color:
            return False
        if entry.semantics != semantics:
            return False
    return True
