#!/usr/bin/env python3
"""Golden vectors: fixed messages and the exact bytes of every encoding and header set.

tests/data/golden/vectors.json holds, for a handful of messages with a fixed uuid, time and trace
id, the serialized bytes, the seed (zlib), raw and Confluent record values, the original's REST
form and the standard and compact header sets. Two independent readers check it in the same ctest
run (label `interop`):
  - this script, on the Python side: protobuf's serializer, Python's zlib.compress (what the
    original wrote), confluent-kafka's ProtobufSerializer/Deserializer (mock schema registry) and
    the header rules written out below from include/messagecorps/cloud_events.h (CloudEvents binary mode, W3C
    traceparent, mcorps-encoding);
  - tests/unit/golden_vectors_test.cc, on the C++ side: messagecorps' Encode/Decode,
    ToSeedRestJson/FromSeedRestJson and ForEachEnvelopeHeader/ForEachCompactHeader.
A change to either side's bytes breaks one of them.

  golden_vectors.py --proto-dir DIR [--file F]            check (exit 1 naming every mismatch)
  golden_vectors.py --proto-dir DIR [--file F] --write    regenerate F (review the diff!)
"""
import argparse
import json
import os
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FILE = os.path.join(HERE, "..", "data", "golden", "vectors.json")

# The fixed envelope: the original's example date, a version-1 uuid, a W3C example trace id.
UUID = "5f0e4a2c-93d6-11e8-9eb6-529269fb1459"
ISO_DATE = "2018-07-30T08:26:31.123456+00:00"
TIMESTAMP = 1532939191.123456
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
PARENT_SPAN_ID = "00f067aa0ba902b7"

CONTENT_TYPES = {
    "seed": "application/vnd.messagecorps.seed+zlib",
    "raw": "application/x-protobuf",
    "confluent": "application/vnd.confluent.protobuf",
}
SEGMENT_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@")


def ce_source(service):
    """ce_source: /messagecorps/<service as one RFC 3986 path segment, upper-case percent escapes>."""
    return "/messagecorps/" + "".join(
        chr(b) if chr(b) in SEGMENT_SAFE else "%%%02X" % b for b in service.encode())


def header_sets(type_name, env, encoding):
    """The standard and compact header sets of a record (key, text value), in the order sent."""
    trace = [["traceparent", "00-%s-%s-01" % (env["trace_id"], env["span_id"])]] \
        if env["span_id"] else []
    tail = trace + [["mcorps-encoding", encoding]]
    standard = [
        ["ce_specversion", "1.0"],
        ["ce_id", env["uuid"]],
        ["ce_source", ce_source(env["service"])],
        ["ce_type", type_name],
        ["ce_time", env["iso_date"]],
        ["content-type", CONTENT_TYPES[encoding] + "; proto=" + type_name],
    ] + tail
    compact = [["ce_type", type_name]] + tail
    return {"standard": standard, "compact": compact}


def build_vectors(mods):
    md_pb2, image_pb2, prediction_pb2, sensor_pb2 = mods
    env = {"uuid": UUID, "iso_date": ISO_DATE, "timestamp": TIMESTAMP, "trace_id": TRACE_ID,
           "span_id": SPAN_ID, "service": "capture", "environment": "PRODUCTION"}

    def envelope(message, e, parent=""):
        md = message._message_data
        md.timestamp = e["timestamp"]
        md.environment = md_pb2.Environment.Value(e["environment"])
        md.sending_service = e["service"]
        md.uuid = e["uuid"]
        md.iso_date = e["iso_date"]
        md.trace_id = e["trace_id"]
        md.span_id = e["span_id"]
        md.parent_span_id = parent
        return message

    out = []
    out.append(("image-small", envelope(image_pb2.Image(
        image_data=bytes(range(24)), height=2, width=4, frame=42), env), env, [0]))
    out.append(("image-empty", envelope(image_pb2.Image(), env), env, [0]))
    pred_env = dict(env, service="predict service/1", span_id="53995c3f42cd8ad8",
                    environment="STAGING")
    out.append(("prediction", envelope(prediction_pb2.Prediction(
        object=["person", "bicycle", "caf\u00e9"], frame=-7), pred_env, PARENT_SPAN_ID),
        pred_env, [2]))  # third message of Prediction.proto (after BoundingBox, Detection)
    # What the original itself sent: timestamp 0, DEVELOPMENT, NOTSET, no span ids (no traceparent).
    orig_env = {"uuid": UUID, "iso_date": ISO_DATE, "timestamp": 0.0, "trace_id": TRACE_ID,
                "span_id": "", "service": "NOTSET", "environment": "DEVELOPMENT"}
    # Its records had no headers, so the vector has none either.
    out.append(("original-image", envelope(image_pb2.Image(
        image_data=b"\x00\xff" * 5, height=480, width=640, frame=1), orig_env), None, [0]))
    # The second message type of its file: Confluent message indexes [1]. No envelope field.
    batch = sensor_pb2.SensorBatch(readings=[
        sensor_pb2.SensorReading(sensor_id="t-1", value=21.5, unit=sensor_pb2.SensorReading.CELSIUS,
                                 samples=[1, -2, 300]),
        sensor_pb2.SensorReading(sensor_id="p-9", value=101325.0, unit=sensor_pb2.SensorReading.PASCAL)])
    out.append(("sensor-batch", batch, None, [1]))
    return out


def confluent_bytes(message, name):
    """confluent-kafka's ProtobufSerializer output, with a fresh mock registry per vector."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    registry = SchemaRegistryClient.new_client({"url": "mock://golden-" + name})
    serializer = ProtobufSerializer(type(message), registry, {"use.deprecated.format": False})
    return serializer(message, SerializationContext("golden-" + name, MessageField.VALUE))


def confluent_parse(message_cls, value):
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    d = ProtobufDeserializer(message_cls, {"use.deprecated.format": False})
    return d(value, SerializationContext("golden", MessageField.VALUE))


def frame_of(value):
    """(schema id, message indexes, header size) of a Confluent value (zigzag varints)."""
    assert value[0] == 0, "bad magic byte"
    schema_id = int.from_bytes(value[1:5], "big")
    pos = 5

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            b = value[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1)

    count = varint()
    indexes = [varint() for _ in range(count)] if count else [0]
    return schema_id, indexes, pos


def make_entry(name, message, env, indexes):
    from google.protobuf import json_format
    serialized = message.SerializeToString()
    confluent = confluent_bytes(message, name)
    schema_id, got_indexes, _ = frame_of(confluent)
    assert got_indexes == indexes, "%s: message indexes %s, expected %s" % (name, got_indexes, indexes)
    type_name = message.DESCRIPTOR.full_name
    entry = {
        "name": name,
        "type": type_name,
        "message": json_format.MessageToDict(message, preserving_proto_field_name=True),
        "serialized_hex": serialized.hex(),
        "seed_hex": zlib.compress(serialized).hex(),
        "raw_hex": serialized.hex(),
        "confluent": {"schema_id": schema_id, "message_indexes": indexes,
                      "hex": confluent.hex()},
        "rest": json.dumps({"protobuf": serialized.hex()}),
    }
    if env is not None:  # the headers a messagecorps producer sends with this envelope
        entry["envelope"] = env
        entry["headers"] = {enc: header_sets(type_name, env, enc)
                            for enc in ("seed", "raw", "confluent")}
    return entry


def check(entries, mods, golden):
    """Every mismatch between what the Python side produces now and the file, as text."""
    problems = []
    by_name = {g["name"]: g for g in golden["vectors"]}
    classes = {m.DESCRIPTOR.full_name: type(m) for _, m, _, _ in entries}
    if set(by_name) != {n for n, _, _, _ in entries}:
        problems.append("vector names differ: file %s" % sorted(by_name))
    for name, message, env, indexes in entries:
        g = by_name.get(name)
        if g is None:
            continue
        now = make_entry(name, message, env, indexes)
        for key in now:
            if now[key] != g.get(key):
                problems.append("%s: %s differs\n  file: %s\n  now:  %s" % (name, key, g.get(key), now[key]))
        # Reading the file's bytes back (the receive direction).
        cls = classes[g["type"]]
        from_seed = cls.FromString(zlib.decompress(bytes.fromhex(g["seed_hex"])))
        if from_seed != message:
            problems.append("%s: seed_hex does not decode to the message" % name)
        from_confluent = confluent_parse(cls, bytes.fromhex(g["confluent"]["hex"]))
        if from_confluent != message:
            problems.append("%s: confluent hex does not decode to the message" % name)
        from_rest = cls.FromString(bytes.fromhex(json.loads(g["rest"])["protobuf"]))
        if from_rest != message:
            problems.append("%s: rest does not load back to the message" % name)
    return problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proto-dir", required=True, help="protoc --python_out of proto/ and tests/data/proto")
    p.add_argument("--file", default=DEFAULT_FILE)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    sys.path.insert(0, a.proto_dir)
    try:
        from protobuf.common import MessageData_pb2
        from protobuf.data import ImageData_pb2
        from protobuf.predictions import Prediction_pb2
        from acme import sensor_pb2
    except ImportError as e:
        sys.exit("golden_vectors: cannot import the generated modules from %s: %s" % (a.proto_dir, e))
    mods = (MessageData_pb2, ImageData_pb2, Prediction_pb2, sensor_pb2)
    entries = build_vectors(mods)
    if a.write:
        doc = {"comment": "Generated by tests/interop/golden_vectors.py --write; checked by it and by "
                          "tests/unit/golden_vectors_test.cc. Hex strings are the exact bytes.",
               "vectors": [make_entry(*e) for e in entries]}
        with open(a.file, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=True)
            f.write("\n")
        print("wrote %d vectors to %s" % (len(entries), a.file))
        return
    with open(a.file) as f:
        golden = json.load(f)
    problems = check(entries, mods, golden)
    if problems:
        print("golden_vectors: %d mismatch(es) with %s:" % (len(problems), a.file), file=sys.stderr)
        for pr in problems:
            print("  " + pr, file=sys.stderr)
        sys.exit(1)
    print("golden_vectors: %d vectors match (serialized, seed, raw, confluent, rest, headers)"
          % len(entries))


if __name__ == "__main__":
    main()
