"""core/record_pb2.py builds the same schema that core/record.proto declares."""

import re
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor

from ntm.core import record_pb2

PROTO = (Path(record_pb2.__file__).with_name("record.proto")).read_text()
FIELD = re.compile(r"^\s*(repeated|optional)?\s*([\w.<>, ]+?)\s+(\w+)\s*=\s*(\d+)(\s*\[packed = true\])?;", re.M)
TYPE_NAMES = {
    FieldDescriptor.TYPE_FLOAT: "float", FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_BYTES: "bytes", FieldDescriptor.TYPE_STRING: "string",
}


def proto_fields():
    """{message: {field: (type, number, packed)}} parsed from record.proto."""
    out = {}
    for block in re.finditer(r"message (\w+)\s*\{(.*?)\n\}", PROTO, re.S):
        out[block.group(1)] = {m.group(3): (m.group(2).strip(), int(m.group(4)), bool(m.group(5)))
                               for m in FIELD.finditer(block.group(2))}
    return out


def descriptor_type(field):
    if field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            return "map<string, Value>"
        return field.message_type.name
    return TYPE_NAMES[field.type]


def test_every_message_and_field_matches_the_proto_file():
    expected = proto_fields()
    assert set(expected) == {"Float32Tensor", "Float64Tensor", "Int32Tensor", "Bytes", "Value", "Record"}
    for name, fields in expected.items():
        descriptor = record_pb2.DESCRIPTOR.message_types_by_name[name]
        got = {f.name: (descriptor_type(f), f.number, f.GetOptions().packed) for f in descriptor.fields}
        assert got == fields, name


def test_value_tensors_share_one_oneof():
    value = record_pb2.DESCRIPTOR.message_types_by_name["Value"]
    assert [f.name for f in value.oneofs_by_name["value"].fields] == [
        "float32_tensor", "float64_tensor", "int32_tensor", "bytes"]
