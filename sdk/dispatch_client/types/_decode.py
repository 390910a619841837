"""The one strict decoder: JSON bodies into the attrs models, by cattrs.

Strict: a JSON value of the wrong type is an error, never converted (cattrs would turn null
into "None", "false" into True, 5 into "5"). Optional fields still accept null. Unknown keys
are ignored, so a newer server can add fields. The hooks' messages name types, never values:
a value could be a key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args, get_origin

import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_structure_fn, override

from dispatch_client._errors import DispatchError
from dispatch_client.types.event import MessageReceived
from dispatch_client.types.message import Message, MessageSummary
from dispatch_client.types.otp import Otp
from dispatch_client.types.sent import SentMessage
from dispatch_client.types.thread import ThreadMessage

T = TypeVar("T")


def _str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _int(value: object, _: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _float(value: object, _: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _datetime(value: object, _: object) -> datetime:
    moment = datetime.fromisoformat(_str(value, None))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _is_array(type_: Any) -> bool:
    args = get_args(type_)
    origin = get_origin(type_)
    return origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)


def _array(type_: Any, converter: cattrs.Converter) -> Callable[[object, object], object]:
    if get_origin(type_) is tuple:
        items = homogenous_tuple_structure_factory(type_, converter)
    else:
        items = list_structure_factory(type_, converter)

    def structure(value: object, _: object) -> object:
        if not isinstance(value, list):  # a string is iterable too
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return items(value, type_)

    return structure


def _is_object(type_: Any) -> bool:
    return get_origin(type_) in (dict, Mapping)


def _object(type_: Any, converter: cattrs.Converter) -> Callable[[object, object], object]:
    keys, values = get_args(type_)
    key_hook = converter.get_structure_hook(keys)
    value_hook = converter.get_structure_hook(values)

    def structure(value: object, _: object) -> object:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return {key_hook(k, keys): value_hook(v, values) for k, v in value.items()}

    return structure


converter = cattrs.Converter()
for _type, _hook in ((str, _str), (bool, _bool), (int, _int), (float, _float)):
    converter.register_structure_hook(_type, _hook)
converter.register_structure_hook(datetime, _datetime)
converter.register_structure_hook_factory(_is_array, _array)
converter.register_structure_hook_factory(_is_object, _object)
for _model in (
    Message,
    MessageReceived,
    MessageSummary,
    Otp,
    SentMessage,
    ThreadMessage,
):  # the JSON key `from` is the attribute `from_`
    converter.register_structure_hook(
        _model, make_dict_structure_fn(_model, converter, from_=override(rename="from"))
    )


def decode(data: object, model: type[T]) -> T:
    """Structure JSON data into `model`; a body of the wrong shape is a DispatchError."""
    try:
        return converter.structure(data, model)
    except cattrs.BaseValidationError as error:
        details = "; ".join(cattrs.transform_error(error))
        raise DispatchError(f"unexpected response from the server: {details}") from error
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise DispatchError(f"unexpected response from the server: {error!r}") from error
