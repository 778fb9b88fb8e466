"""Protobuf message classes for ``record.proto`` (package ``aialgs.data``).

The descriptor is built here from ``descriptor_pb2`` instead of being emitted by ``protoc``, for two
reasons: generated modules pin the protobuf runtime to the generator's version, and the SageMaker SDK
registers its own copy of the same schema in protobuf's *default* pool, so registering ours there
would clash when both are imported in one process. A private pool avoids both; the bytes on the wire
are what matter and they are identical. ``tests/test_record_schema.py`` checks this module against
``record.proto``.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto

PACKAGE = "aialgs.data"


def _field(msg, name, number, ftype, label=_F.LABEL_OPTIONAL, type_name=None, packed=False, oneof=None):
    field = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        field.type_name = f".{PACKAGE}.{type_name}"
    if packed:
        field.options.packed = True
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _tensor(file_proto, name, value_type):
    msg = file_proto.message_type.add(name=name)
    _field(msg, "values", 1, value_type, _F.LABEL_REPEATED, packed=True)
    _field(msg, "keys", 2, _F.TYPE_UINT64, _F.LABEL_REPEATED, packed=True)
    _field(msg, "shape", 3, _F.TYPE_UINT64, _F.LABEL_REPEATED, packed=True)


def _map_entry(record, entry_name, field_name, number):
    entry = record.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, type_name="Value")
    _field(record, field_name, number, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, type_name=f"Record.{entry_name}")


def build_file_descriptor_proto() -> descriptor_pb2.FileDescriptorProto:
    """The ``FileDescriptorProto`` of ``record.proto``."""
    fdp = descriptor_pb2.FileDescriptorProto(name="ntm/record.proto", package=PACKAGE, syntax="proto2")
    fdp.options.java_package = "com.amazonaws.aialgorithms.proto"
    fdp.options.java_outer_classname = "RecordProtos"
    _tensor(fdp, "Float32Tensor", _F.TYPE_FLOAT)
    _tensor(fdp, "Float64Tensor", _F.TYPE_DOUBLE)
    _tensor(fdp, "Int32Tensor", _F.TYPE_INT32)

    raw = fdp.message_type.add(name="Bytes")
    _field(raw, "value", 1, _F.TYPE_BYTES, _F.LABEL_REPEATED)
    _field(raw, "content_type", 2, _F.TYPE_STRING)

    value = fdp.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    _field(value, "float32_tensor", 2, _F.TYPE_MESSAGE, type_name="Float32Tensor", oneof=0)
    _field(value, "float64_tensor", 3, _F.TYPE_MESSAGE, type_name="Float64Tensor", oneof=0)
    _field(value, "int32_tensor", 7, _F.TYPE_MESSAGE, type_name="Int32Tensor", oneof=0)
    _field(value, "bytes", 9, _F.TYPE_MESSAGE, type_name="Bytes", oneof=0)

    record = fdp.message_type.add(name="Record")
    _map_entry(record, "FeaturesEntry", "features", 1)
    _map_entry(record, "LabelEntry", "label", 2)
    _field(record, "uid", 3, _F.TYPE_STRING)
    _field(record, "metadata", 4, _F.TYPE_STRING)
    _field(record, "configuration", 5, _F.TYPE_STRING)
    return fdp


POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(build_file_descriptor_proto().SerializeToString())
DESCRIPTOR = POOL.FindFileByName("ntm/record.proto")


def _message_class(name: str):
    descriptor = POOL.FindMessageTypeByName(f"{PACKAGE}.{name}")
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(POOL).GetPrototype(descriptor)  # protobuf < 4.22


Float32Tensor = _message_class("Float32Tensor")
Float64Tensor = _message_class("Float64Tensor")
Int32Tensor = _message_class("Int32Tensor")
Bytes = _message_class("Bytes")
Value = _message_class("Value")
Record = _message_class("Record")

__all__ = ["Bytes", "DESCRIPTOR", "Float32Tensor", "Float64Tensor", "Int32Tensor", "Record", "Value"]
