#!/usr/bin/env python3
"""The Python side of the interop tests (tests/interop/interop_test.cc drives it).

It follows the original MessageCorps (docs/migrating-from-python.md; the facts are in the
project's reference on the original): kafka-python clients, protobuf messages, zlib on the value,
`_message_data` stamped on send and offset/partition filled on receive, a hand-written topic map.
Confluent's clients (confluent-kafka's ProtobufSerializer/Deserializer with a mock schema
registry) are the other Python peer.

Every subcommand prints one JSON line per message on stdout (what it sent or what it received,
with every field), so the C++ test compares field by field. Errors go to stderr with exit code 1.

  send        original-style producer: --topic, --type image|prediction, --count, --sizes
  receive     original-style consumer: --topic, --type, --count (reads from the earliest offset)
  confluent-produce / confluent-consume   the same through confluent-kafka's protobuf serdes
  rest        prints the original's REST form {"protobuf": "<hex>"} of messages built here
  group       an original-style consumer service in --group until --stop-file exists, logging
              every processed record to --log
"""
import argparse
import datetime
import json
import os
import random
import sys
import time
import uuid
import zlib


def die(what):
    print("original_peer: " + what, file=sys.stderr, flush=True)
    sys.exit(1)


def load_modules(proto_dir):
    sys.path.insert(0, proto_dir)
    try:
        from protobuf.common import MessageData_pb2
        from protobuf.data import ImageData_pb2
        from protobuf.predictions import Prediction_pb2
        from acme import sensor_pb2
    except ImportError as e:
        die("cannot import the generated protobuf modules from %s: %s" % (proto_dir, e))
    return MessageData_pb2, ImageData_pb2, Prediction_pb2, sensor_pb2


# ---- the original's sending algorithm ------------------------------------------------------------


def stamp(message, environment_enum):
    """Stamps `_message_data` as the original did (timestamp stays 0, as it did)."""
    if "_message_data" not in message.DESCRIPTOR.fields_by_name:
        raise ValueError("%s has no _message_data" % message.DESCRIPTOR.full_name)
    md = message._message_data
    md.iso_date = datetime.datetime.now(datetime.timezone.utc).isoformat()
    md.environment = environment_enum.Value(os.environ.get("ENVIRONMENT", "DEVELOPMENT").upper())
    md.sending_service = os.environ.get("LOG_TAG_SERVICE", "NOTSET")
    md.uuid = str(uuid.uuid1())
    if not md.trace_id:
        md.trace_id = uuid.uuid1().hex


def envelope_dict(md):
    return {
        "timestamp": md.timestamp,
        "environment": md.environment,
        "sending_service": md.sending_service,
        "uuid": md.uuid,
        "iso_date": md.iso_date,
        "offset": md.offset,
        "partition": md.partition,
        "trace_id": md.trace_id,
    }


def describe(message):
    """Every field of an Image / Prediction / SensorBatch as JSON (image bytes as size + crc32)."""
    name = message.DESCRIPTOR.full_name
    out = {"type": name}
    if name == "protobuf.data.Image":
        out.update(frame=message.frame, width=message.width, height=message.height,
                   image_size=len(message.image_data), image_crc32=zlib.crc32(message.image_data))
    elif name == "protobuf.predictions.Prediction":
        out.update(frame=message.frame, object=list(message.object))
    elif name == "acme.SensorBatch":
        out.update(readings=[{"sensor_id": r.sensor_id, "value": r.value, "unit": r.unit,
                              "samples": list(r.samples)} for r in message.readings])
        return out
    out["envelope"] = envelope_dict(message._message_data)
    return out


def image_bytes(size, seed):
    """Incompressible, reproducible content (a 900 KiB image stays ~900 KiB on the wire)."""
    return random.Random(seed).randbytes(size)


def make_message(mods, kind, i, sizes):
    _, image_pb2, prediction_pb2, sensor_pb2 = mods
    if kind == "image":
        return image_pb2.Image(image_data=image_bytes(sizes[i % len(sizes)], i), height=480,
                               width=640, frame=i)
    if kind == "prediction":
        return prediction_pb2.Prediction(object=["person", "cat %d" % i], frame=i)
    if kind == "batch":
        return sensor_pb2.SensorBatch(readings=[
            sensor_pb2.SensorReading(sensor_id="s-%d" % i, value=i + 0.5, unit=sensor_pb2.SensorReading.PASCAL,
                                     samples=[i, -i, 7])])
    die("unknown --type " + kind)


def message_class(mods, kind):
    _, image_pb2, prediction_pb2, sensor_pb2 = mods
    return {"image": image_pb2.Image, "prediction": prediction_pb2.Prediction,
            "batch": sensor_pb2.SensorBatch}[kind]


def cmd_send(a, mods):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=a.brokers, max_request_size=4 << 20)
    for i in range(a.count):
        message = make_message(mods, a.type, i, a.sizes)
        stamp(message, mods[0].Environment)
        value = zlib.compress(message.SerializeToString())
        producer.send(a.topic, value=value).get(timeout=60)
        print(json.dumps(describe(message)), flush=True)
    producer.flush()
    producer.close()


def cmd_receive(a, mods):
    from kafka import KafkaConsumer
    topic_map = {a.topic: message_class(mods, a.type)}  # the original's hand-written map
    consumer = KafkaConsumer(a.topic, bootstrap_servers=a.brokers, group_id=a.group,
                             auto_offset_reset="earliest", enable_auto_commit=True,
                             fetch_max_bytes=8 << 20, max_partition_fetch_bytes=4 << 20)
    got = 0
    deadline = time.monotonic() + a.timeout
    while got < a.count:
        if time.monotonic() > deadline:
            die("timeout: received %d of %d" % (got, a.count))
        for _tp, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                message = topic_map[record.topic]()
                message.ParseFromString(zlib.decompress(record.value))
                message._message_data.offset = record.offset
                message._message_data.partition = record.partition
                out = describe(message)
                out["headers"] = [[k, v.hex()] for k, v in (record.headers or [])]
                print(json.dumps(out), flush=True)
                got += 1
    consumer.close()


def cmd_confluent_produce(a, mods):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    registry = SchemaRegistryClient.new_client({"url": "mock://interop"})
    serializer = ProtobufSerializer(message_class(mods, a.type), registry,
                                    {"use.deprecated.format": False})
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": a.brokers, "message.max.bytes": 4 << 20})
    errors = []
    for i in range(a.count):
        message = make_message(mods, a.type, i, a.sizes)
        if a.type != "batch":
            stamp(message, mods[0].Environment)
        value = serializer(message, ctx)
        producer.produce(a.topic, value=value,
                         on_delivery=lambda err, _m: errors.append(err) if err else None)
        out = describe(message)
        out["value_prefix_hex"] = value[:8].hex()
        print(json.dumps(out), flush=True)
    if producer.flush(60) != 0 or errors:
        die("undelivered: %s" % errors)


def cmd_confluent_consume(a, mods):
    from confluent_kafka import Consumer
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    deserializer = ProtobufDeserializer(message_class(mods, a.type), {"use.deprecated.format": False})
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    consumer = Consumer({"bootstrap.servers": a.brokers, "group.id": a.group,
                         "auto.offset.reset": "earliest", "fetch.message.max.bytes": 4 << 20})
    consumer.subscribe([a.topic])
    got = 0
    deadline = time.monotonic() + a.timeout
    while got < a.count:
        if time.monotonic() > deadline:
            die("timeout: received %d of %d" % (got, a.count))
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            die("consume error: %s" % m.error())
        message = deserializer(m.value(), ctx)
        out = describe(message)
        out["value_prefix_hex"] = m.value()[:8].hex()
        out["offset"] = m.offset()
        out["partition"] = m.partition()
        print(json.dumps(out), flush=True)
        got += 1
    consumer.close()


def cmd_rest(a, mods):
    """The original's REST form of freshly stamped messages: {"protobuf": "<hex>"} per line."""
    for i in range(a.count):
        message = make_message(mods, a.type, i, a.sizes)
        stamp(message, mods[0].Environment)
        print(json.dumps({"protobuf": message.SerializeToString().hex()}), flush=True)
        print(json.dumps(describe(message)), file=sys.stderr, flush=True)


def cmd_from_rest(a, mods):
    """Loads REST lines (stdin) back into the topic's type, as the original's HTTP side did."""
    cls = message_class(mods, a.type)
    for line in sys.stdin:
        if not line.strip():
            continue
        message = cls()
        message.ParseFromString(bytes.fromhex(json.loads(line)["protobuf"]))
        print(json.dumps(describe(message)), flush=True)


def cmd_group(a, mods):
    """An original-style consumer service: group member, auto commit, logs each processed record."""
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    topic_map = {a.topic: message_class(mods, a.type)}
    log = open(a.log, "a", buffering=1)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            log.write(json.dumps({"revoked": sorted(p.partition for p in revoked)}) + "\n")

        def on_partitions_assigned(self, assigned):
            log.write(json.dumps({"assigned": sorted(p.partition for p in assigned)}) + "\n")

    consumer = KafkaConsumer(bootstrap_servers=a.brokers, group_id=a.group,
                             auto_offset_reset="earliest", enable_auto_commit=True,
                             auto_commit_interval_ms=200, session_timeout_ms=10000,
                             heartbeat_interval_ms=500)
    consumer.subscribe([a.topic], listener=Listener())
    deadline = time.monotonic() + a.timeout
    while not os.path.exists(a.stop_file):
        if time.monotonic() > deadline:
            die("timeout: %s never appeared" % a.stop_file)
        for _tp, records in consumer.poll(timeout_ms=200).items():
            for record in records:
                message = topic_map[record.topic]()
                message.ParseFromString(zlib.decompress(record.value))
                message._message_data.offset = record.offset
                message._message_data.partition = record.partition
                log.write(json.dumps({"frame": message.frame, "partition": record.partition,
                                      "offset": record.offset}) + "\n")
    # The original committed and closed on the way out; close() commits (auto commit) and leaves.
    consumer.close(autocommit=True)
    log.write(json.dumps({"left": True}) + "\n")
    log.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["send", "receive", "confluent-produce", "confluent-consume",
                                       "rest", "from-rest", "group"])
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--brokers", default="")
    p.add_argument("--topic", default="")
    p.add_argument("--type", default="image")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[16],
                   help="image sizes in bytes, used in turn (e.g. 0,16,921600)")
    p.add_argument("--group", default="")
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--log", default="")
    p.add_argument("--stop-file", default="")
    a = p.parse_args()
    mods = load_modules(a.proto_dir)
    {"send": cmd_send, "receive": cmd_receive, "confluent-produce": cmd_confluent_produce,
     "confluent-consume": cmd_confluent_consume, "rest": cmd_rest, "from-rest": cmd_from_rest,
     "group": cmd_group}[a.command](a, mods)


if __name__ == "__main__":
    main()
