"""Representations: each JSON shape the API shows is declared once, as a typed attrs class.
The JSON a route answers with (`to_json`), the request bodies it reads (`from_json`) and the
OpenAPI schemas (`SchemaRegistry`) all come from that one declaration.

A shape's field types are what the schema says: `str`, `int`, `float`, `bool`, `datetime`
(RFC 3339 in UTC), `X | None`, `Literal[...]`, `tuple[X, ...]`, `dict[str, X]`, and other
shapes. `field()` adds the JSON name (for names Python reserves, like "from"), a description
and schema keywords (pattern, maxLength, minimum...).
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import attrs

from dispatch_server.core import pagination
from dispatch_server.core.clock import rfc3339
from dispatch_server.core.errors import InvalidInput

T = TypeVar("T")
D = TypeVar("D")
S = TypeVar("S", bound=attrs.AttrsInstance)
Schema = dict[str, Any]

_META = "dispatch_shape"


@attrs.frozen
class _FieldInfo:
    name: str | None
    description: str | None
    schema: Schema


def field(
    *,
    name: str | None = None,
    description: str | None = None,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    **schema: Any,
) -> Any:
    """An attrs field of a shape, with its JSON name, description and schema keywords."""
    metadata = {_META: _FieldInfo(name, description, dict(schema))}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


def _info(attribute: attrs.Attribute[Any]) -> _FieldInfo:
    info: _FieldInfo | None = attribute.metadata.get(_META)
    return info if info is not None else _FieldInfo(None, None, {})


@attrs.frozen
class Page(Generic[T]):
    """A page of a listing; `next_cursor` is None on the last page."""

    data: Sequence[T]
    next_cursor: str | None = field(description="pass as `cursor` for the next page")

    @classmethod
    def of(cls, page: pagination.Page[D], show: Callable[[D], T]) -> Page[T]:
        """The representation of a domain page, each item shown with `show`."""
        cursor = page.next_cursor
        return cls([show(item) for item in page.items], cursor.encode() if cursor else None)


def within(page: Page[T], budget: int, cursor_after: Callable[[T], str]) -> Page[T]:
    """The page, cut short before the item that would take its items' JSON past `budget`
    bytes (it keeps one item at least), then continuing after the last item it kept."""
    size = 0
    for index, item in enumerate(page.data):
        size += len(json.dumps(to_json(item), ensure_ascii=False).encode())
        if size > budget and index > 0:
            return Page(page.data[:index], cursor_after(page.data[index - 1]))
    return page


def page_name(item: type[Any]) -> str:
    return f"{item.__name__}Page"


def project(shape: type[S], record: object, **values: Any) -> S:
    """`shape` filled from the same-named attributes of a domain record, but for the fields
    given in `values` (renamed or converted ones). The shape decides what the API shows:
    attributes of the record it has no field for stay out."""
    return shape(
        **{
            a.name: values[a.name] if a.name in values else getattr(record, a.name)
            for a in attrs.fields(shape)
        }
    )


# --- fields of a shape -------------------------------------------------------------------


@attrs.frozen
class _Field:
    attr: str
    json_name: str
    type: Any
    required: bool
    info: _FieldInfo


_FIELDS: dict[Any, tuple[_Field, ...]] = {}


def _fields(shape: Any) -> tuple[_Field, ...]:
    """The fields of a shape class (or of `Page[X]`), with their resolved types."""
    cached = _FIELDS.get(shape)
    if cached is not None:
        return cached
    origin = get_origin(shape) or shape
    hints = get_type_hints(origin)
    if origin is Page and get_args(shape):
        (item,) = get_args(shape)
        hints = {**hints, "data": tuple.__class_getitem__((item, ...))}
    found = tuple(
        _Field(
            attr=a.name,
            json_name=_info(a).name or a.name,
            type=hints[a.name],
            required=a.default is attrs.NOTHING,
            info=_info(a),
        )
        for a in attrs.fields(origin)
    )
    _FIELDS[shape] = found
    return found


def _is_shape(tp: Any) -> bool:
    return attrs.has(get_origin(tp) or tp)


def _optional(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) < len(get_args(tp)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return tp, False


# --- to JSON -----------------------------------------------------------------------------

Convert = Callable[[Any], Any] | None
_PLANS: dict[type[Any], list[tuple[str, str, Convert]]] = {}


def _dynamic(value: Any) -> Any:
    """JSON for a value whose type is only known at run time (the items of a Page)."""
    if attrs.has(type(value)):
        return to_json(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, list | tuple):
        return [_dynamic(item) for item in value]
    return value


def _converter(tp: Any) -> Convert:
    """How a value of type `tp` becomes JSON; None when it is JSON already."""
    inner, _ = _optional(tp)
    if isinstance(inner, TypeVar) or inner is Any:
        return _dynamic
    origin = get_origin(inner)
    if inner is datetime:
        return lambda v: None if v is None else rfc3339(v)
    if _is_shape(inner):
        return lambda v: None if v is None else to_json(v)
    if origin in (tuple, list, Sequence) or inner in (tuple, list):
        args = get_args(inner)
        item = _converter(args[0]) if args else _dynamic
        if item is None:
            return lambda v: None if v is None else list(v)
        return lambda v: None if v is None else [item(x) for x in v]
    if origin is dict:
        value = _converter(get_args(inner)[1])
        if value is None:
            return None
        return lambda v: None if v is None else {k: value(x) for k, x in v.items()}
    return None


def to_json(value: Any) -> Any:
    """A shape instance as JSON-ready data (dicts, lists, strings, numbers, None)."""
    cls = type(value)
    plan = _PLANS.get(cls)
    if plan is None:
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} is not a shape")
        plan = [(f.attr, f.json_name, _converter(f.type)) for f in _fields(cls)]
        _PLANS[cls] = plan
    return {
        json_name: getattr(value, attr) if convert is None else convert(getattr(value, attr))
        for attr, json_name, convert in plan
    }


# --- from JSON (request bodies) ----------------------------------------------------------


def from_json(shape: type[T], data: dict[str, Any], *, prefix: str = "") -> T:
    """A body shape from a decoded JSON object, strictly: a value of the wrong type is an
    InvalidInput naming the field, never converted. Unknown keys are ignored. The fields of
    a nested shape are named with their path (`attachments.filename`)."""
    values: dict[str, Any] = {}
    for f in _fields(shape):
        name = prefix + f.json_name
        if f.json_name not in data:
            if f.required:
                raise InvalidInput(f"{name} is required", param=name)
            continue
        values[f.attr] = _read(f.type, data[f.json_name], name, f.info.schema)
    return shape(**values)


def _read(tp: Any, value: Any, name: str, schema: Schema) -> Any:
    inner, nullable = _optional(tp)
    if value is None:
        if nullable:
            return None
        raise InvalidInput(f"{name} must not be null", param=name)
    if get_origin(inner) in (Union, types.UnionType):
        for option in get_args(inner):
            try:
                return _read(option, value, name, schema)
            except InvalidInput:
                continue
        raise InvalidInput(f"{name} has the wrong type", param=name)
    if inner is str:
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string", param=name)
        limit = schema.get("maxLength")
        if limit is not None and len(value) > limit:
            raise InvalidInput(f"{name} must be at most {limit} characters", param=name)
        return value
    if inner is bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be a boolean", param=name)
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be an integer", param=name)
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInput(f"{name} must be between {low} and {high}", param=name)
        return value
    if _is_shape(inner):
        if not isinstance(value, dict):
            raise InvalidInput(f"{name} must be an object", param=name)
        return from_json(inner, value, prefix=f"{name}.")
    origin = get_origin(inner)
    if origin is Literal:
        choices = get_args(inner)
        if not any(value == choice and type(value) is type(choice) for choice in choices):
            shown = ", ".join(map(str, choices))
            raise InvalidInput(f"{name} must be one of {shown}", param=name)
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise InvalidInput(f"{name} must be an array", param=name)
        minimum = schema.get("minItems", 0)
        if len(value) < minimum:
            raise InvalidInput(f"{name} must have at least {minimum} item(s)", param=name)
        maximum = schema.get("maxItems")
        if maximum is not None and len(value) > maximum:
            raise InvalidInput(f"{name} must have at most {maximum} item(s)", param=name)
        item_type = get_args(inner)[0]
        return tuple(_read(item_type, item, name, {}) for item in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidInput(f"{name} must be an object", param=name)
        value_type = get_args(inner)[1]
        return {str(k): _read(value_type, v, name, {}) for k, v in value.items()}
    raise TypeError(f"body fields of type {inner!r} are not supported")


# --- OpenAPI schemas ---------------------------------------------------------------------

_SCALARS: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
}


class SchemaRegistry:
    """Collects the component schemas of the shapes a document refers to."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}

    def ref(self, shape: Any) -> Schema:
        """A $ref to `shape`'s component schema, adding it on first use."""
        origin = get_origin(shape) or shape
        name = page_name(get_args(shape)[0]) if origin is Page else origin.__name__
        if name not in self.components:
            self.components[name] = {}  # placeholder: shapes may refer to each other
            self.components[name] = self.object(shape)
        return {"$ref": f"#/components/schemas/{name}"}

    def object(self, shape: Any) -> Schema:
        fields = _fields(shape)
        properties: Schema = {}
        for f in fields:
            schema = {**self.of(f.type), **f.info.schema}
            if f.info.description:
                schema["description"] = f.info.description
            properties[f.json_name] = schema
        result: Schema = {
            "type": "object",
            "required": [f.json_name for f in fields if f.required],
            "properties": properties,
        }
        doc = (get_origin(shape) or shape).__doc__
        if doc and not doc.startswith(f"{shape.__name__}("):  # attrs' generated docstring
            result["description"] = " ".join(doc.split())
        return result

    def of(self, tp: Any) -> Schema:
        inner, nullable = _optional(tp)
        schema = self._non_null(inner)
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema

    def _non_null(self, tp: Any) -> Schema:
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        origin = get_origin(tp)
        if origin is Literal:
            values = list(get_args(tp))
            return {"const": values[0]} if len(values) == 1 else {"enum": values}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(option) for option in get_args(tp)]}
        if origin in (tuple, list, Sequence):
            return {"type": "array", "items": self.of(get_args(tp)[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(get_args(tp)[1])}
        if _is_shape(tp):
            return self.ref(tp)
        raise TypeError(f"no schema for {tp!r}")
