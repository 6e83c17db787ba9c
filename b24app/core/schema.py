"""The declared shape of a template (DESIGN §2) as marshmallow schemas.

The schemas check one mapping each (the template, a list's options, a pipeline, a smart process,
an entry): keys, types and value formats, without coercion (YAML's ``yes`` is a boolean, ``'10'``
is not a number). Sections that may be written in two forms (a plain list of entries or a mapping
``{prune, entries}``) are checked for that form here and walked by :mod:`b24app.core.template`.

Error messages are ``"<what is wrong> — <how to fix it>"``; the two sentinels :data:`MISSING` and
:data:`UNKNOWN` are completed by the loader, which knows the key and its neighbours.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from b24app.core.catalog import FLAT_LISTS
from b24app.core.limits import shown
from b24app.core.model import COLOR, SEMANTICS

HINT_SEPARATOR = " — "
MISSING = "is missing"
UNKNOWN = "is not a known key"

ENTRY_NAME_MAX = 100  # b_crm_status.NAME
PIPELINE_NAME_MAX = 255  # crm.category name
MAX_SORT = 2**31 - 1
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_TRIMMED = " \t\n\r\0\x0b"  # what Bitrix24 (PHP trim) strips from a name
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters but tab and line breaks


def _message(what: str, how: str) -> str:
    return f"{what}{HINT_SEPARATOR}{how}"


class _Field(fields.Field):
    """A field that accepts only values of its own YAML type."""

    default_error_messages = {
        "required": MISSING,
        "null": _message("is empty", "write a value, or remove the key"),
    }


class Text(_Field):
    default_error_messages = {
        "invalid": _message("must be text", "quote it if YAML reads it as a number, a date or true/false"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class Name(Text):
    """Text shown to people: trimmed (as Bitrix24 trims it), not empty, not too long."""

    default_error_messages = {"empty": _message("is empty", "write a name")}

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs).strip(_TRIMMED)
        if not name:
            raise self.make_error("empty")
        if len(name) > self.max_length:
            raise ValidationError(
                _message(
                    f"is too long ({len(name):,} > {self.max_length} characters)",
                    f"shorten it to at most {self.max_length} characters",
                )
            )
        if _CONTROL.search(name):
            raise ValidationError(
                _message("contains a control character", "remove it (it would not show in Bitrix24)")
            )
        return name


class Key(Text):
    default_error_messages = {
        "format": _message("'{value}' is not a valid key", "use 1-100 Latin letters, digits, _ . or -"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        key = super()._deserialize(value, attr, data, **kwargs)
        if not _KEY.match(key):
            raise self.make_error("format", value=shown(key))
        return key


class Color(_Field):
    default_error_messages = {
        "null": _message("is empty", 'quote the colour: color: "#39A8EF" (an unquoted # starts a comment)'),
        "invalid": _message("'{value}' is not a colour", 'write it as "#RRGGBB" in quotes, e.g. "#39A8EF"'),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not (isinstance(value, str) and COLOR.match(value)):
            raise self.make_error("invalid", value=shown(value))
        return value.upper()


class Semantics(_Field):
    default_error_messages = {
        "invalid": _message("'{value}' is not a semantics", "use process, success or failure"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or value not in SEMANTICS:
            raise self.make_error("invalid", value=shown(value))
        return value


class WholeNumber(_Field):
    default_error_messages = {
        "invalid": _message("must be a whole number", "write digits without quotes, e.g. 10"),
        "range": _message("{value} is out of range", "use a number from {minimum} to {maximum}"),
    }

    def __init__(self, minimum: int = 0, maximum: int = MAX_SORT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.make_error("invalid")
        if not self.minimum <= value <= self.maximum:
            raise self.make_error("range", value=shown(value), minimum=self.minimum, maximum=self.maximum)
        return value


class Flag(_Field):
    default_error_messages = {
        "invalid": _message("must be true or false", "write true or false without quotes"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Items(_Field):
    """A YAML list; its items are checked one by one by the loader."""

    default_error_messages = {
        "null": _message("is empty", "list the items under it, or remove the key"),
        "invalid": _message("must be a list", "start each item on its own line with '- '"),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


class ListOrOptions(_Field):
    """Either a plain list of items or a mapping ``{prune: bool, entries: [...]}``."""

    default_error_messages = {
        "null": _message("is empty", "list the entries under it, or remove the key to leave it unmanaged"),
        "invalid": _message(
            "must be a list or a mapping with 'entries'",
            "write the items as a list, or 'prune: true|false' and 'entries:' with them",
        ),
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any] | dict:
        if not isinstance(value, list | dict):
            raise self.make_error("invalid")
        return value


class _Strict(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN}


class ValueSchema(_Strict):
    """An entry of a value list (sources, industries, …)."""

    id = Text(required=True, metadata={"example": "id: CALL"})
    name = Name(ENTRY_NAME_MAX, required=True, metadata={"example": "name: Звонок"})
    sort = WholeNumber(1, metadata={"example": "sort: 10"})


class StageSchema(ValueSchema):
    """An entry of a stage list."""

    color = Color(metadata={"example": 'color: "#39A8EF"'})
    semantics = Semantics(metadata={"example": "semantics: success"})


class ListOptionsSchema(_Strict):
    """The mapping form of a list: ``{prune: bool, entries: [...]}``."""

    prune = Flag()
    entries = Items(required=True, metadata={"example": "entries: [...]"})


class PipelineSchema(_Strict):
    name = Name(PIPELINE_NAME_MAX, required=True, metadata={"example": "name: Продажи"})
    key = Key()
    previous_names = fields.List(
        Name(PIPELINE_NAME_MAX),
        error_messages={"invalid": _message("must be a list of names", "write previous_names: [Old name]")},
    )
    default = Flag()
    sort = WholeNumber(0)
    prune = Flag()
    stages = ListOrOptions(required=True, metadata={"example": "stages: [...]"})


class SmartProcessSchema(_Strict):
    title = Name(PIPELINE_NAME_MAX, required=True, metadata={"example": "title: Закупки"})
    code = Key()
    pipelines = ListOrOptions(required=True, metadata={"example": "pipelines: [...]"})


TemplateSchema = _Strict.from_dict(
    {
        "version": WholeNumber(
            required=True,
            validate=validate.Equal(1, error=_message("must be 1", "b24app reads templates of version 1")),
            metadata={"example": "version: 1"},
        ),
        "prune": Flag(),
        **{key: ListOrOptions() for key in FLAT_LISTS},
        "deal_pipelines": ListOrOptions(),
        "invoice_pipelines": ListOrOptions(),
        "smart_processes": Items(),
    },
    name="TemplateSchema",
)
