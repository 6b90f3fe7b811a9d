"""Java Object Serialization streams: write a String, read anything for display.

`serialize_string` produces exactly what `ObjectOutputStream.writeObject(String)`
writes. `read_object` parses a stream into plain Python values WITHOUT running or
loading any class: strings, null, objects (class name and field values, superclasses
included), enums, arrays, class references, and the custom data of classes with their
own `writeObject`. Input size, nesting depth and element counts are bounded, and any
defect raises `DecodeError(reason="malformed")`.

Grammar: Java Object Serialization Specification, chapter 6 (protocol version 2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.javavalues import (  # noqa: F401  (re-exported)
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaObject,
    JavaValue,
    describe,
    short_class_name,
)
from cachesync_cli.wire.mutf8 import decode_modified_utf8, modified_utf8  # noqa: F401  (re-exported)

STREAM_HEADER = b"\xac\xed\x00\x05"
TC_NULL, TC_REFERENCE, TC_CLASSDESC, TC_OBJECT, TC_STRING, TC_ARRAY, TC_CLASS = range(0x70, 0x77)
TC_BLOCKDATA, TC_ENDBLOCKDATA, TC_RESET, TC_BLOCKDATALONG, TC_EXCEPTION = range(0x77, 0x7C)
TC_LONGSTRING, TC_PROXYCLASSDESC, TC_ENUM = range(0x7C, 0x7F)
BASE_HANDLE = 0x7E0000
SC_WRITE_METHOD, SC_SERIALIZABLE, SC_EXTERNALIZABLE, SC_BLOCK_DATA = 0x01, 0x02, 0x04, 0x08

MAX_STREAM_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ELEMENTS = 100_000
"""Handles, fields, array elements and custom-data parts one stream may hold."""

_PRIMITIVES = {"B": (">b", 1), "C": (">H", 2), "D": (">d", 8), "F": (">f", 4),
               "I": (">i", 4), "J": (">q", 8), "S": (">h", 2), "Z": (">?", 1)}


def serialize_string(text: str) -> bytes:
    """The bytes of `ObjectOutputStream.writeObject(text)` for a fresh stream."""
    encoded = modified_utf8(text)
    if len(encoded) <= 0xFFFF:
        return STREAM_HEADER + struct.pack(">BH", TC_STRING, len(encoded)) + encoded
    return STREAM_HEADER + struct.pack(">BQ", TC_LONGSTRING, len(encoded)) + encoded


@dataclass(eq=False)
class _ClassDesc:
    name: str
    flags: int = SC_SERIALIZABLE
    fields: list[tuple[str, str]] = field(default_factory=list)  # (type code, field name)
    superclass: "_ClassDesc | None" = None


def read_object(data: bytes, *, max_bytes: int = MAX_STREAM_BYTES) -> JavaValue:
    """Read the one object of a Java serialization stream, for display only.

    Never instantiates or loads anything. Raises `DecodeError(reason="malformed")` for
    any defect, trailing bytes, or a stream beyond the size, depth or element limits.
    """
    if len(data) > max_bytes:
        raise DecodeError(f"Java stream of {len(data)} bytes exceeds {max_bytes}", reason="malformed")
    try:
        reader = ObjectStreamReader(bytes(data))
        value = reader.read_stream()
    except DecodeError:
        raise
    except Exception as exc:  # a parser bug must not escape as anything but DecodeError
        raise DecodeError(f"unreadable Java stream: {type(exc).__name__}", reason="malformed") from None
    return value


class ObjectStreamReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.handles: list[object] = []
        self.depth = 0
        self.elements = 0

    def fail(self, message: str) -> DecodeError:
        return DecodeError(f"malformed Java stream at byte {self.pos}: {message}", reason="malformed")

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise self.fail(f"needs {count} more bytes, has {len(self.data) - self.pos}")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str, size: int):
        return struct.unpack(fmt, self.take(size))[0]

    def spend(self, count: int) -> None:
        self.elements += count
        if self.elements > MAX_ELEMENTS:
            raise self.fail(f"more than {MAX_ELEMENTS} elements")

    def register(self, value: object) -> int:
        self.spend(1)
        self.handles.append(value)
        return len(self.handles) - 1

    def utf(self, long: bool = False) -> str:
        length = self.unpack(">Q", 8) if long else self.unpack(">H", 2)
        return decode_modified_utf8(self.take(length))

    def read_stream(self) -> JavaValue:
        if self.take(4) != STREAM_HEADER:
            raise self.fail("not a Java serialization stream (no AC ED 00 05 header)")
        value = self.read_value()
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} bytes after the object")
        return value

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH}")

    def next_code(self) -> int:
        code = self.take(1)[0]
        while code == TC_RESET:
            self.handles.clear()
            code = self.take(1)[0]
        return code

    def read_value(self, code: int | None = None) -> JavaValue:
        self.enter()
        try:
            return self._read_value(self.next_code() if code is None else code)
        finally:
            self.depth -= 1

    def _read_value(self, code: int) -> JavaValue:
        if code == TC_NULL:
            return None
        if code == TC_REFERENCE:
            target = self.reference()
            return JavaClass(target.name) if isinstance(target, _ClassDesc) else target
        if code in (TC_STRING, TC_LONGSTRING):
            text = self.utf(long=code == TC_LONGSTRING)
            self.register(text)
            return text
        if code == TC_OBJECT:
            return self.new_object()
        if code == TC_ARRAY:
            return self.new_array()
        if code == TC_ENUM:
            return self.new_enum()
        if code == TC_CLASS:
            desc = self.class_desc()
            value = JavaClass(desc.name if desc else "null")
            self.register(value)
            return value
        if code in (TC_CLASSDESC, TC_PROXYCLASSDESC):
            return JavaClass(self.new_class_desc(code).name)
        if code == TC_EXCEPTION:
            raise self.fail("the writer hit an exception (TC_EXCEPTION)")
        raise self.fail(f"unexpected type code 0x{code:02x}")

    def reference(self) -> object:
        handle = self.unpack(">i", 4) - BASE_HANDLE
        if not 0 <= handle < len(self.handles):
            raise self.fail(f"reference to unknown handle {handle + BASE_HANDLE:#x}")
        return self.handles[handle]

    def class_desc(self) -> _ClassDesc | None:
        self.enter()
        try:
            code = self.next_code()
            if code == TC_NULL:
                return None
            if code == TC_REFERENCE:
                target = self.reference()
                if not isinstance(target, _ClassDesc):
                    raise self.fail("reference to a non-class where a class descriptor belongs")
                return target
            if code in (TC_CLASSDESC, TC_PROXYCLASSDESC):
                return self.new_class_desc(code)
            raise self.fail(f"expected a class descriptor, got 0x{code:02x}")
        finally:
            self.depth -= 1

    def new_class_desc(self, code: int) -> _ClassDesc:
        if code == TC_PROXYCLASSDESC:
            desc = _ClassDesc("Proxy")
            self.register(desc)
            count = self.unpack(">i", 4)
            if not 0 <= count <= 65535:
                raise self.fail(f"bad proxy interface count {count}")
            self.spend(count)
            desc.name = "Proxy[" + ", ".join(self.utf() for _ in range(count)) + "]"
        else:
            desc = _ClassDesc(self.utf())
            self.take(8)  # serialVersionUID: not needed for display
            self.register(desc)
            desc.flags = self.take(1)[0]
            count = self.unpack(">h", 2)
            if count < 0:
                raise self.fail(f"negative field count {count}")
            self.spend(count)
            for _ in range(count):
                type_code = chr(self.take(1)[0])
                name = self.utf()
                if type_code in "L[":
                    type_name = self.read_value()
                    if not isinstance(type_name, str):
                        raise self.fail(f"field {name!r} has no type name")
                elif type_code not in _PRIMITIVES:
                    raise self.fail(f"field {name!r} has unknown type code {type_code!r}")
                desc.fields.append((type_code, name))
        self.annotations()  # class annotations (e.g. RMI codebases): not shown
        desc.superclass = self.class_desc()
        return desc

    def annotations(self) -> list[JavaValue]:
        """Contents up to TC_ENDBLOCKDATA: block data as bytes, objects as values."""
        parts: list[JavaValue] = []
        while True:
            code = self.next_code()
            if code == TC_ENDBLOCKDATA:
                return parts
            self.spend(1)
            if code == TC_BLOCKDATA:
                parts.append(self.take(self.take(1)[0]))
            elif code == TC_BLOCKDATALONG:
                parts.append(self.take(self.unpack(">i", 4)))
            else:
                parts.append(self.read_value(code))

    def hierarchy(self, desc: _ClassDesc) -> list[_ClassDesc]:
        chain: list[_ClassDesc] = []
        current: _ClassDesc | None = desc
        while current is not None:
            if any(current is seen for seen in chain) or len(chain) >= MAX_DEPTH:
                raise self.fail("class hierarchy loops or is too deep")
            chain.append(current)
            current = current.superclass
        chain.reverse()  # class data is written from the topmost superclass down
        return chain

    def new_object(self) -> JavaObject:
        desc = self.class_desc()
        if desc is None:
            raise self.fail("object without a class")
        obj = JavaObject(desc.name)
        self.register(obj)
        values: list[tuple[str, str, JavaValue]] = []  # (declaring class, field, value), topmost class first
        for cls in self.hierarchy(desc):
            if cls.flags & SC_EXTERNALIZABLE:
                if not cls.flags & SC_BLOCK_DATA:
                    raise self.fail(f"{cls.name} uses the old externalizable format, which cannot be skipped")
                obj.annotations.extend(self.annotations())
                continue
            if not cls.flags & SC_SERIALIZABLE:
                continue
            values.extend((cls.name, name, self.field_value(type_code)) for type_code, name in cls.fields)
            if cls.flags & SC_WRITE_METHOD:
                obj.annotations.extend(self.annotations())
        # A field hidden by a subclass field of the same name is shown as `Superclass.name`.
        last_owner = {name: owner for owner, name, _ in values}
        for owner, name, value in values:
            shown = name if last_owner[name] == owner else f"{short_class_name(owner)}.{name}"
            obj.fields[shown] = value
        return obj

    def field_value(self, type_code: str) -> JavaValue:
        if type_code in "L[":
            return self.read_value()
        fmt, size = _PRIMITIVES[type_code]
        value = self.unpack(fmt, size)
        return chr(value) if type_code == "C" else value

    def new_array(self) -> JavaArray:
        desc = self.class_desc()
        if desc is None or not desc.name.startswith("[") or len(desc.name) < 2:
            raise self.fail("array without an array class")
        array = JavaArray(desc.name)
        self.register(array)
        size = self.unpack(">i", 4)
        element = desc.name[1]
        unit = _PRIMITIVES[element][1] if element in _PRIMITIVES else 1
        if size < 0 or size * unit > len(self.data) - self.pos:
            raise self.fail(f"array of {size} elements does not fit in the stream")
        self.spend(size)
        if element == "B":
            array.items = self.take(size)
        elif element in _PRIMITIVES:
            fmt = ">" + str(size) + _PRIMITIVES[element][0][1]
            values = list(struct.unpack(fmt, self.take(size * unit)))
            array.items = [chr(v) for v in values] if element == "C" else values
        elif element in "L[":
            array.items = [self.read_value() for _ in range(size)]
        else:
            raise self.fail(f"array class {desc.name!r} has unknown element type")
        return array

    def new_enum(self) -> JavaEnum:
        desc = self.class_desc()
        if desc is None:
            raise self.fail("enum without a class")
        handle = self.register(None)
        constant = self.read_value()
        if not isinstance(constant, str):
            raise self.fail("enum constant name is not a string")
        value = JavaEnum(desc.name, constant)
        self.handles[handle] = value
        return value
