"""Which stages of a pipeline are still exactly the default stages Bitrix24 gave it at creation."""

from __future__ import annotations

from b24app.bitrix.new_pipeline import as_created
from b24app.core.model import Entry, RefList

NEW = Entry("NEW", "Новая", 10, "#39A8EF", system=True)
PREPARATION = Entry("PREPARATION", "Подготовка документов", 20, "#2FC6F6")
INVOICE_LATIN_C = Entry("PREPAYMENT_INVOICE", "Cчёт на предоплату", 30, "#55D0E0")


def deal_stages(prefix: str, *entries: Entry) -> frozenset[str]:
    return as_created(
        "deal_pipelines", RefList("deal_stages", entries, entity_id="DEAL_STAGE_3", prefix=prefix)
    )


def test_default_stages_are_recognised_exactly():
    assert deal_stages("C3", NEW, PREPARATION, INVOICE_LATIN_C) == {
        "NEW",
        "PREPARATION",
        "PREPAYMENT_INVOICE",
    }
    assert deal_stages("C3", Entry("PREPARATION", "Подготовка", 20, "#2FC6F6")) == set()  # renamed
    assert deal_stages("C3", Entry("PREPARATION", "Подготовка документов", 25, "#2FC6F6")) == set()  # moved
    assert deal_stages("C3", Entry("PREPARATION", "Подготовка документов", 20, "#000000")) == set()  # colour
    assert deal_stages("C3", Entry("WON", "Сделка успешна", 60, "#7BD500")) == set()  # semantics lost
    assert deal_stages("C3", Entry("OFFER", "Предложение", 20)) == set()  # not one of Bitrix24's


def test_a_new_deal_pipelines_ids_are_cut_at_21_characters():
    cut = Entry("PREPAYMENT_INVOIC", "Cчёт на предоплату", 30, "#55D0E0")
    assert deal_stages("C10", cut) == {"PREPAYMENT_INVOIC"}
    assert deal_stages("C3", cut) == set()


def test_smart_process_colours_compare_without_case():
    stage = Entry("CLIENT", "Согласование", 30, "#10e5fc")
    stages = RefList("smart_process_stages", (stage,), entity_id="DYNAMIC_128_STAGE_9", prefix="DT128_9")
    assert as_created("smart_processes", stages) == {"CLIENT"}
