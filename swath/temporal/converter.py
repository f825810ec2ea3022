"""Swath's Temporal data converter: the SDK's JSON payloads, compact, decoded without re-reading type hints.

Encoding leaves out every dataclass field that holds its default. Contracts grow by fields with
defaults (so old histories decode), and a run's ingest request carries every input: without this,
each field added for one kind of input would cost every input of every run its bytes in history.
A payload without a field decodes to the default, as it did when the field did not exist, so a
contract field's default must never change meaning.

The SDK's default converter turns a JSON payload into a dataclass by calling `typing.get_type_hints`
on it for every value it decodes; with postponed annotations (`from __future__ import annotations`
in `swath.domain.contracts`) that compiles and evaluates every field's annotation again, every time: about
4 ms of CPU per run, a sixth of what a run costs the worker processes. This converter resolves each
dataclass's fields once and decodes the same way the SDK does, so it reads the SDK's payloads (and the
SDK reads its own) to the same values, and every client and worker can use it alongside any default one.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)
from temporalio.converter import value_to_type as _sdk_value_to_type


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    hint: Any
    init: bool


@functools.cache
def _fields_of(cls: type) -> tuple[_Field, ...]:
    """A dataclass's fields with their resolved type hints, computed once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(_Field(f.name, hints[f.name], f.init) for f in dataclasses.fields(cls))


@functools.cache
def _defaults_of(cls: type) -> tuple[tuple[str, Any], ...]:
    """(field name, default) of each field that has a default (a factory's value for `default_factory`)."""
    found = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            found.append((f.name, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            found.append((f.name, f.default_factory()))
    return tuple(found)


class CompactJSONEncoder(AdvancedJSONEncoder):
    """The SDK's encoder, with dataclass fields that hold their default left out."""

    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            defaults = dict(_defaults_of(type(o)))
            encoded = {}
            for f in dataclasses.fields(o):
                value = getattr(o, f.name)
                if f.name in defaults and type(value) is type(defaults[f.name]) and value == defaults[f.name]:
                    continue
                encoded[f.name] = value
            return encoded
        return super().default(o)


class CachedDataclassConverter(JSONTypeConverter):
    """Decodes dataclasses like the SDK does (unknown keys ignored, `init=False` fields restored)."""

    def __init__(self) -> None:
        self._chain = (self,)

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        init_values: dict[str, Any] = {}
        other_values: dict[str, Any] = {}
        for field in _fields_of(hint):
            if field.name not in value:
                continue  # a missing required field fails in the constructor below, as in the SDK
            try:
                converted = _sdk_value_to_type(field.hint, value[field.name], self._chain)
            except Exception as err:
                raise TypeError(f"Failed converting field {field.name} on dataclass {hint}") from err
            (init_values if field.init else other_values)[field.name] = converted
        obj = hint(**init_values)
        for name, converted in other_values.items():
            object.__setattr__(obj, name, converted)
        return obj


class SwathPayloadConverter(CompositePayloadConverter):
    """The SDK's default encodings, with JSON decoding dataclasses through the cached converter."""

    def __init__(self) -> None:
        json_plain = JSONPlainPayloadConverter(
            encoder=CompactJSONEncoder, custom_type_converters=[CachedDataclassConverter()]
        )
        super().__init__(*(
            json_plain if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


#: What every Swath client (and so every worker built on one) converts payloads with.
DATA_CONVERTER = dataclasses.replace(DataConverter.default, payload_converter_class=SwathPayloadConverter)
