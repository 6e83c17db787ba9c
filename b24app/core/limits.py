"""How big a template may be: the bounds that keep a hostile template from taking the machine down.

A template may be pasted into the web page or pulled from git, so every way to make a small text
cost a lot is bounded before the cost is paid: the text's size, the number of values the YAML
stands for once its aliases are expanded (a 1 KB "billion laughs" file stands for billions), how
deep it nests, and how many entries, pipelines and smart processes it lists. Each bound is far
above what a real template needs; the README ("Limits") gives the reasons and the measured cost.
"""

from __future__ import annotations

# The text: a 10,000-entry template is about 0.7 MB (one entry a line, Cyrillic names).
MAX_TEMPLATE_BYTES = 2 * 2**20

# Values (YAML nodes: every mapping, list, key and scalar) after aliases are expanded. An entry
# written `{id: X, name: Y}` is 5 nodes, with sort, color and semantics 11: 100,000 nodes hold
# 9,000 to 20,000 entries, and `stages: *common` reused by every pipeline counts as its copies.
MAX_NODES = 100_000

# Nesting, also after aliases are expanded. The deepest place of a template (a stage's field in
# a smart process's pipeline, each list written as {prune, entries}) is 10 levels down.
MAX_DEPTH = 32

# Counts, checked as the text is read (lists, mappings) or once its meaning is known (pipelines,
# smart processes). Bitrix24 documents no upper bound for these (shared/bitrix24/reference-lists.md);
# the bounds are ours, far above working CRMs (a few dozen stages in a pipeline, a few hundred
# values in a list), and they keep one apply to minutes at 2 requests a second.
MAX_LIST_ENTRIES = 1_000  # items of any YAML list (entries, stages of a pipeline): 20 write batches
MAX_MAPPING_KEYS = 100  # keys of any YAML mapping (a template has 16 keys, an entry at most 5)
MAX_PIPELINES = 100  # pipelines of one section (deal, invoice, or one smart process)
MAX_SMART_PROCESSES = 100

# Problems reported at once: past this many, checking stops (a generated file can hold thousands).
MAX_PROBLEMS = 100

_SHOWN = 40  # characters of a user's value quoted in a message


def shown(value: object) -> str:
    """``value`` as a message quotes it: at most a short line, with control characters escaped."""
    text = str(value)
    clipped = text[:_SHOWN]
    clipped = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in clipped)
    return f"{clipped}… ({len(text):,} characters)" if len(text) > _SHOWN else clipped


def megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


# Templates that extend a base (`extends: base.yaml`): a chain is the template, its base, the
# base's base, ... Each file is bounded as above, and so is the whole chain: its files' text
# together, and the merged result's values (MAX_NODES), so a base shared by a thousand children
# costs each child at most one chain's worth, never more.
MAX_EXTENDS_DEPTH = 4  # bases above a template: a child, its base and three more ancestors
MAX_CHAIN_BYTES = MAX_TEMPLATE_BYTES  # the text of every file of one chain, together
