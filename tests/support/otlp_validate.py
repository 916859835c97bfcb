#!/usr/bin/python3
"""Checks OTLP/HTTP JSON trace exports against the official protobuf schema.

usage: otlp_validate.py PROTO_ROOT FILE...

PROTO_ROOT holds opentelemetry/proto/... (shared/fixtures/otlp). Each FILE is
the body of one POST /v1/traces, an ExportTraceServiceRequest in the OTLP
flavour of the proto3 JSON mapping (reference/debian-libraries.md §8.1):

  * trace and span ids are hex (either case), 32 and 16 digits, not base64,
    and never all zero; parentSpanId may be absent or "" on a root span;
  * enums (kind, status.code) are integers, never their names;
  * keys are lowerCamelCase: protobuf's parser also takes the proto names
    (start_time_unix_nano), OTLP does not;
  * integers are decimal strings or JSON numbers. 64-bit ones should be
    strings; Python's int() would also take "1_000", "+5" or " 7".

A walk over the JSON, guided by the message descriptors, checks those rules
and the span rules below, and reports unknown (misspelt) field names: stricter
than a receiver, which must ignore them, so that a typo cannot pass. Then the
ids are turned into base64 and json_format.Parse reads the whole body into
ExportTraceServiceRequest with ignore_unknown_fields=False, for everything
else (value types, oneofs, base64 bytesValue). Parse stops at its first
error, so it adds at most one problem per file.

Span rules: a non-empty name, traceId and spanId present, and
startTimeUnixNano <= endTimeUnixNano when both are set (non-zero).

Prints one line per problem, `FILE: JSON-path: reason`, and exits 0 when every
file is valid, 1 when one is not, 2 when the schema cannot be loaded. Needs
protoc and python3-protobuf (Debian's protobuf-compiler and python3-protobuf,
3.21.12 in bookworm); protoc is found through $PROTOC or PATH.
"""

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True

PROTOS = [
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
]

# bytes fields written as hex in OTLP/JSON, by proto field name: their length
# in bytes. They live in Span and Span.Link.
ID_FIELDS = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}
# May be absent or "" (a root span); every other id must be present.
OPTIONAL_IDS = {"parent_span_id"}

SPAN = "opentelemetry.proto.trace.v1.Span"
LINK = "opentelemetry.proto.trace.v1.Span.Link"

DECIMAL = re.compile(r"-?[0-9]+\Z")
HEX = re.compile(r"[0-9a-fA-F]*\Z")

# What Checker.value returns for a value it reported: left out of the copy.
DROP = object()


def fail(message):
    sys.stderr.write(f"otlp_validate: {message}\n")
    sys.exit(2)


def load_schema(proto_root):
    """Compiles the protos into a temp dir and imports them: returns the
    trace_service_pb2 module and json_format, or exits 2."""
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        fail("protoc not found (Debian package protobuf-compiler)")
    try:
        from google.protobuf import json_format
    except ImportError:
        fail("google.protobuf missing (Debian package python3-protobuf)")
    out_dir = tempfile.mkdtemp(prefix="otlp-validate-")
    try:
        run = subprocess.run(
            [protoc, "-I", proto_root, "--python_out", out_dir] + PROTOS,
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            fail("protoc failed: " + " ".join(run.stderr.split()))
        # Regular packages, so that an installed opentelemetry distribution
        # further down sys.path cannot shadow the generated modules.
        for folder, _, _ in os.walk(out_dir):
            if folder != out_dir:
                open(os.path.join(folder, "__init__.py"), "w", encoding="ascii").close()
        sys.path.insert(0, out_dir)
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    finally:
        # The generated modules are loaded; the files are no longer needed.
        shutil.rmtree(out_dir, ignore_errors=True)
    return trace_service_pb2, json_format


def member(path, key):
    """The JSON path of `key` in the object at `path`: a.b, or a["odd key"]
    when the key could break the one-line report."""
    if re.fullmatch(r"[A-Za-z0-9_]+", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def int_range(field):
    fd = field.__class__
    signed = field.type in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32, fd.TYPE_INT64,
                            fd.TYPE_SINT64, fd.TYPE_SFIXED64)
    bits = 64 if field.type in (fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_SFIXED64,
                                fd.TYPE_UINT64, fd.TYPE_FIXED64) else 32
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def is_int_field(field):
    fd = field.__class__
    return field.type in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32, fd.TYPE_UINT32,
                          fd.TYPE_FIXED32, fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_SFIXED64,
                          fd.TYPE_UINT64, fd.TYPE_FIXED64)


def int_value(value):
    """The integer a valid integer JSON value stands for, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and DECIMAL.match(value):
        return int(value)
    return None


class Checker:
    """Walks one JSON document beside the message descriptors. Records the
    problems as (path, reason) and returns a copy of the document that
    json_format.Parse can read: hex ids as base64, and without the values it
    already reported, so that Parse does not report them again."""

    def __init__(self):
        self.problems = []

    def problem(self, path, reason):
        self.problems.append((path, reason))

    def message(self, desc, obj, path):
        if not isinstance(obj, dict):
            return obj  # Parse says what it expected
        by_json = {f.json_name: f for f in desc.fields}
        out = {}
        for key, value in obj.items():
            at = member(path, key)
            field = by_json.get(key)
            if "_" in key:
                self.problem(at, "key is not lowerCamelCase (OTLP/JSON wants "
                             f"{json.dumps(camel(key))})")
                field = field or desc.fields_by_name.get(key)
            if field is None:
                self.problem(at, f"unknown field {json.dumps(key)} in {desc.full_name}")
                continue
            if value is None:
                out[key] = value  # proto3 JSON: null is the default value
            elif field.label == field.LABEL_REPEATED:
                if isinstance(value, list):
                    value = [self.value(field, v, f"{at}[{i}]") for i, v in enumerate(value)]
                    value = [v for v in value if v is not DROP]
                out[key] = value
            else:
                value = self.value(field, value, at)
                if value is not DROP:
                    out[key] = value
        if desc.full_name in (SPAN, LINK):
            self.span_rules(desc, obj, path)
        return out

    def value(self, field, value, at):
        if field.message_type is not None:
            return self.message(field.message_type, value, at)
        if field.name in ID_FIELDS:
            return self.hex_id(field, value, at)
        if field.enum_type is not None:
            if isinstance(value, str):
                named = field.enum_type.values_by_name.get(value)
                hint = f" ({named.number})" if named else ""
                self.problem(at, f"enum must be an integer, not the name {json.dumps(value)}{hint}")
                return DROP
            return value
        if is_int_field(field):
            number = int_value(value)
            if number is None:
                self.problem(at, f"not an integer (a decimal string or a number): "
                             f"{json.dumps(value)}")
                return DROP
            low, high = int_range(field)
            if not low <= number <= high:
                self.problem(at, f"out of range [{low}, {high}]: {json.dumps(value)}")
                return DROP
            return value
        return value

    def hex_id(self, field, value, at):
        size = ID_FIELDS[field.name]
        if field.name in OPTIONAL_IDS and value == "":
            return value
        if not isinstance(value, str):
            self.problem(at, f"id must be a hex string, not {json.dumps(value)}")
            return DROP
        if not HEX.match(value):
            self.problem(at, f"id is not hex (OTLP/JSON ids are hex, not base64): "
                         f"{json.dumps(value)}")
            return DROP
        if len(value) != 2 * size:
            self.problem(at, f"id must be {2 * size} hex digits, not {len(value)}: "
                         f"{json.dumps(value)}")
            return DROP
        if int(value, 16) == 0:
            self.problem(at, "id is all zeros (invalid; omit parentSpanId on a root span)"
                         if field.name in OPTIONAL_IDS else "id is all zeros (invalid)")
            return DROP
        return base64.b64encode(binascii.unhexlify(value)).decode("ascii")

    def span_rules(self, desc, obj, path):
        for name in ID_FIELDS:
            field = desc.fields_by_name.get(name)
            if field is None or name in OPTIONAL_IDS:
                continue
            if obj.get(field.json_name, obj.get(name)) is None:
                self.problem(f"{path}.{field.json_name}", "missing (required)")
        if desc.full_name != SPAN:
            return
        span_name = obj.get("name")
        if span_name is None or span_name == "":
            self.problem(f"{path}.name", "span name is empty (required)")
        start = int_value(obj.get("startTimeUnixNano", obj.get("start_time_unix_nano")))
        end = int_value(obj.get("endTimeUnixNano", obj.get("end_time_unix_nano")))
        if start and end and start > end:
            self.problem(f"{path}.endTimeUnixNano",
                         f"ends before it starts (endTimeUnixNano {end} < "
                         f"startTimeUnixNano {start})")


def parse_error(text):
    """(path, reason) from a json_format.ParseError, on one line."""
    text = text.split("\n Available Fields")[0]
    path = "$"
    found = re.search(r' at "?ExportTraceServiceRequest([^" ]*)"?', text)
    if found:
        path = "$" + found.group(1).rstrip(".")
        text = text[:found.start()] + text[found.end():]
    text = re.sub(r"^(Failed to parse \w+ field: )+", "", text)
    text = " ".join(text.split()).rstrip(".")
    return path, text


def no_duplicate_keys(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f'duplicate key "{key}"')
        seen.add(key)
    return dict(pairs)


def check_file(path, pb2, json_format):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, object_pairs_hook=no_duplicate_keys)
    except OSError as e:
        return [("$", f"cannot read: {e.strerror}")]
    except ValueError as e:
        return [("$", f"not JSON: {e}")]
    if not isinstance(doc, dict):
        return [("$", "the body must be a JSON object (ExportTraceServiceRequest)")]
    request = pb2.ExportTraceServiceRequest()
    checker = Checker()
    converted = checker.message(request.DESCRIPTOR, doc, "$")
    try:
        json_format.Parse(json.dumps(converted), request, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        checker.problem(*parse_error(str(e)))
    return checker.problems


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: otlp_validate.py PROTO_ROOT FILE...\n")
        return 2
    pb2, json_format = load_schema(argv[1])
    bad = False
    for path in argv[2:]:
        for where, reason in check_file(path, pb2, json_format):
            print(f"{path}: {where}: {reason}")
            bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
