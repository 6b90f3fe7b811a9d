"""The values `javaser.read_object` returns, and `describe` to show them to a person.

Objects are plain data (class name, field values): nothing here loads or runs Java
classes. `describe` bounds its output and depth and survives cycles, so values read
from hostile streams are always safe to print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Union

_PRIMITIVE_NAMES = {"B": "byte", "C": "char", "D": "double", "F": "float",
                    "I": "int", "J": "long", "S": "short", "Z": "boolean"}


@dataclass(eq=False)
class JavaObject:
    """An instance: class name, fields (superclasses' included), custom `writeObject` data."""

    class_name: str
    fields: dict[str, "JavaValue"] = field(default_factory=dict)
    annotations: list["JavaValue"] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<JavaObject {describe(self)}>"


@dataclass(eq=False)
class JavaArray:
    """An array; a `byte[]` holds `bytes`, other arrays a list of values."""

    class_name: str
    items: list["JavaValue"] | bytes = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<JavaArray {describe(self)}>"


@dataclass(frozen=True)
class JavaEnum:
    """An enum constant."""

    class_name: str
    constant: str


@dataclass(frozen=True)
class JavaClass:
    """A `java.lang.Class` (or class descriptor) written as a value."""

    class_name: str


JavaValue = Union[None, bool, int, float, str, bytes, JavaObject, JavaArray, JavaEnum, JavaClass]
"""Anything `read_object` can return (a `char` field reads as a 1-character str)."""


def short_class_name(class_name: str) -> str:
    """`java.lang.String` -> `String`, `[Ljava.lang.String;` -> `String[]`, `[I` -> `int[]`."""
    dims = len(class_name) - len(class_name.lstrip("["))
    if dims:
        element = class_name[dims:]
        if element.startswith("L") and element.endswith(";"):
            base = short_class_name(element[1:-1])
        else:
            base = _PRIMITIVE_NAMES.get(element, element)
        return base + "[]" * dims
    return class_name.rsplit(".", 1)[-1]


def describe(value: JavaValue, *, max_chars: int = 2000, max_depth: int = 8) -> str:
    """Render a value readably, e.g. `OAuthCacheKey(cacheKeyString="client-abc:user-1")`.

    Classes are shown by short name; output is cut at `max_chars` and `max_depth`, and
    cycles are shown as `…`, so hostile input cannot make it slow or huge.
    """
    out: list[str] = []
    budget = [max_chars]
    _describe(value, out, budget, max_depth, set())
    text = "".join(out)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _describe(value: JavaValue, out: list[str], budget: list[int], depth: int, path: set[int]) -> None:
    def emit(text: str) -> None:
        out.append(text)
        budget[0] -= len(text)

    if budget[0] <= 0:
        return
    if value is None:
        emit("null")
    elif isinstance(value, bool):
        emit("true" if value else "false")
    elif isinstance(value, (int, float)):
        emit(repr(value))
    elif isinstance(value, str):
        quoted = json.dumps(value[: max(budget[0], 0) + 1], ensure_ascii=False)
        emit(quoted.encode("utf-8", "backslashreplace").decode("utf-8"))
    elif isinstance(value, bytes):
        emit(f"byte[{len(value)}]{{{value[:32].hex(' ')}{' …' if len(value) > 32 else ''}}}")
    elif isinstance(value, JavaEnum):
        emit(f"{short_class_name(value.class_name)}.{value.constant}")
    elif isinstance(value, JavaClass):
        emit(f"class {value.class_name}")
    elif isinstance(value, (JavaObject, JavaArray)):
        if id(value) in path or depth <= 0:
            emit(f"{short_class_name(value.class_name)}(…)")
            return
        path.add(id(value))
        if isinstance(value, JavaArray):
            if isinstance(value.items, bytes):
                emit(f"byte[{len(value.items)}]{{{value.items[:32].hex(' ')}"
                     f"{' …' if len(value.items) > 32 else ''}}}")
            else:
                emit(short_class_name(value.class_name)[:-2] + f"[{len(value.items)}]{{")
                _describe_list(value.items, out, budget, depth, path, emit)
                emit("}")
        else:
            emit(short_class_name(value.class_name) + "(")
            for index, (name, field_value) in enumerate(value.fields.items()):
                if budget[0] <= 0:
                    break
                emit(f"{', ' if index else ''}{name}=")
                _describe(field_value, out, budget, depth - 1, path)
            if value.annotations:
                emit("; data: " if value.fields else "data: ")
                _describe_list(value.annotations, out, budget, depth, path, emit)
            emit(")")
        path.discard(id(value))
    else:
        emit(repr(value))


def _describe_list(values, out, budget, depth, path, emit) -> None:
    for index, element in enumerate(values):
        if budget[0] <= 0:
            emit("…")
            break
        if index:
            emit(", ")
        _describe(element, out, budget, depth - 1, path)


def to_plain(value: JavaValue, *, max_depth: int = 8, max_elements: int = 1000) -> object:
    """A JSON-ready form for programs (webhook and command targets): an object is
    `{"class": name, "fields": {...}}`, an array `{"class": name, "items": [...]}` (a `byte[]`'s
    items as hex), an enum `{"class": name, "constant": C}`. Depth, elements and cycles are
    bounded as in `describe` (what is cut shows as `"…"`)."""
    budget = [max_elements]
    return _plain(value, max_depth, set(), budget)


def _plain(value: JavaValue, depth: int, path: set[int], budget: list[int]) -> object:
    budget[0] -= 1
    if budget[0] < 0:
        return "…"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, JavaEnum):
        return {"class": value.class_name, "constant": value.constant}
    if isinstance(value, JavaClass):
        return {"class": "java.lang.Class", "name": value.class_name}
    if isinstance(value, (JavaObject, JavaArray)):
        if id(value) in path or depth <= 0:
            return "…"
        path.add(id(value))
        try:
            if isinstance(value, JavaArray):
                items = value.items.hex() if isinstance(value.items, bytes) else \
                    [_plain(item, depth - 1, path, budget) for item in value.items]
                return {"class": value.class_name, "items": items}
            plain: dict = {"class": value.class_name,
                           "fields": {name: _plain(v, depth - 1, path, budget) for name, v in value.fields.items()}}
            if value.annotations:
                plain["data"] = [_plain(item, depth - 1, path, budget) for item in value.annotations]
            return plain
        finally:
            path.discard(id(value))
    return repr(value)
