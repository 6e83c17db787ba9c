"""The stages Bitrix24 puts into a pipeline it has just created (reference-lists.md §4.4), and which
of a pipeline's stages are still exactly so.

The reader marks those on each pipeline (Pipeline.as_created); the plan treats a pipeline b24app
made whose extra stages are all still so, and which holds no items, as new on a later run (after
a crash just after the creation), so its leftover default stages are removed as in a clean run.
"""

from __future__ import annotations

from b24app.core.model import FAILURE, PROCESS, SUCCESS, RefList

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


def as_created(section: str, stages: RefList) -> frozenset[str]:
    """The ids of the stages that are default stages of a new pipeline exactly as Bitrix24 made them
    (id, name, sort, colour, semantics)."""
    defaults = {
        _default_id(section, stages.prefix, stage_id): (names, sort, color, semantics)
        for stage_id, names, sort, color, semantics in NEW_PIPELINE_STAGES[section]
    }
    same = set()
    for entry in stages.entries:
        default = defaults.get(entry.id)
        if default is None:
            continue
        names, sort, color, semantics = default
        looks = (entry.name in names, entry.sort == sort, (entry.color or "").upper() == color)
        if all(looks) and entry.semantics == semantics:
            same.add(entry.id)
    return frozenset(same)
