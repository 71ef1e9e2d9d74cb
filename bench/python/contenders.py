"""The Python contenders of scripts/bench: one measured run per process (like mcorps_bench_macro).

  contenders.py --contender seed-python|confluent-python --mode MODE --brokers B --topic T
                --partitions P --size BYTES --count N [--rate R] [--warmup W] --proto-dir DIR

seed-python      the original MessageCorps algorithm, written fresh: kafka-python + protobuf + zlib.
                 Per message: a new Image, `_message_data` stamped (uuid1, isoformat UTC time,
                 environment, service, trace id = uuid1 hex), serialized, zlib-compressed, sent
                 without key or headers. Receiving: zlib-decompress, parse, fill offset/partition.
confluent-python confluent-kafka-python's Producer/Consumer with its ProtobufSerializer /
                 ProtobufDeserializer (Confluent framing; schema registry: a mock:// client).
                 Per message: a new Image with frame and `_message_data.timestamp` (for latency).

Producer settings for both: acks=all, idempotence on, linger 5 ms (as messagecorps and raw).
Latency: the send time travels in the message (seed: `_message_data.iso_date`, parsed after the
run; confluent: `_message_data.timestamp`), compared with the wall clock when the record arrives.
"""
import argparse
import datetime
import os
import sys
import time
import uuid
import zlib

from common import Pacer, Phase, die, emit, latency_fields, payload


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--contender", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--proto-dir", required=True)
    return p.parse_args()


# ---- seed-python -------------------------------------------------------------------------------


def seed_produce(a, image_cls, environment_value, latency):
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=a.brokers.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=4 << 20,
    )
    data = payload(a.size)
    service = os.environ.get("LOG_TAG_SERVICE", "bench")
    total = a.count + a.warmup
    futures_failed = []

    def on_error(exc):
        futures_failed.append(exc)

    def send(i):
        msg = image_cls(image_data=data, width=640, height=480, frame=i - a.warmup)
        md = msg._message_data
        md.uuid = str(uuid.uuid1())
        md.iso_date = datetime.datetime.now(datetime.timezone.utc).isoformat()
        md.environment = environment_value
        md.sending_service = service
        if not md.trace_id:
            md.trace_id = uuid.uuid1().hex
        value = zlib.compress(msg.SerializeToString())
        producer.send(a.topic, value=value).add_errback(on_error)

    i = 0
    if not latency:  # untimed warm-up (connection, metadata, producer id), as for every contender
        for i in range(a.warmup):
            send(i)
        i = a.warmup
        producer.flush(timeout=a.timeout)
    pacer = Pacer(a.rate if latency else 0)
    phase = Phase()
    phase.start()
    for i in range(i, total):
        if latency:
            pacer.wait(i)
        send(i)
    producer.flush(timeout=a.timeout)
    timed = total if latency else a.count
    result = phase.finish(timed, timed * a.size, 0)
    if futures_failed:
        die("%d sends failed: %s" % (len(futures_failed), futures_failed[0]))
    producer.close()
    emit(result)


def seed_consume(a, image_cls, latency):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=a.brokers.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    parts = [TopicPartition(a.topic, p) for p in range(a.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    want = a.count + a.warmup
    got = 0
    nbytes = 0
    value_bytes = 0
    arrivals = []  # (receive time, iso_date) — parsed after the run
    phase = Phase()
    started = False
    base = base_bytes = base_value = 0
    if latency:
        print("READY", flush=True)
    deadline = time.monotonic() + a.timeout
    while got < want:
        if time.monotonic() > deadline:
            die("timeout: received %d of %d" % (got, want))
        polled = consumer.poll(timeout_ms=100, max_records=500)
        now = time.time()
        for records in polled.values():
            for record in records:
                msg = image_cls()
                msg.ParseFromString(zlib.decompress(record.value))
                msg._message_data.offset = record.offset
                msg._message_data.partition = record.partition
                got += 1
                nbytes += len(msg.image_data)
                value_bytes += len(record.value)
                if latency and msg.frame >= 0:
                    arrivals.append((now, msg._message_data.iso_date))
        if not started and got > 0:
            started = True
            base, base_bytes, base_value = got, nbytes, value_bytes
            phase.start()
    result = phase.finish(got - base, nbytes - base_bytes, value_bytes - base_value)
    if latency:
        ms = [(t - datetime.datetime.fromisoformat(iso).timestamp()) * 1e3 for t, iso in arrivals]
        result.update(latency_fields(ms))
    consumer.close()
    emit(result)


# ---- confluent-python --------------------------------------------------------------------------


def confluent_produce(a, image_cls, latency):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    registry = SchemaRegistryClient.new_client({"url": "mock://bench"})
    serializer = ProtobufSerializer(image_cls, registry, {"use.deprecated.format": False})
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    producer = Producer({
        "bootstrap.servers": a.brokers,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.max.bytes": 4 << 20,
    })
    data = payload(a.size)
    total = a.count + a.warmup

    def send(i):
        msg = image_cls(image_data=data, width=640, height=480, frame=i - a.warmup)
        msg._message_data.timestamp = time.time()
        value = serializer(msg, ctx)
        while True:
            try:
                producer.produce(a.topic, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)

    i = 0
    if not latency:  # untimed warm-up, as for every contender
        for i in range(a.warmup):
            send(i)
        i = a.warmup
        producer.flush(a.timeout)
    pacer = Pacer(a.rate if latency else 0)
    phase = Phase()
    phase.start()
    for i in range(i, total):
        if latency:
            pacer.wait(i)
        send(i)
    left = producer.flush(a.timeout)
    timed = total if latency else a.count
    result = phase.finish(timed, timed * a.size, 0)
    if left or failed:
        die("%d undelivered, %d failed" % (left, len(failed)))
    emit(result)


def confluent_consume(a, image_cls, latency):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserializer = ProtobufDeserializer(image_cls, {"use.deprecated.format": False})
    ctx = SerializationContext(a.topic, MessageField.VALUE)
    consumer = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": "bench-" + a.topic,
        "enable.auto.commit": False,
        "fetch.message.max.bytes": 4 << 20,
    })
    consumer.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in range(a.partitions)])
    want = a.count + a.warmup
    got = 0
    nbytes = 0
    value_bytes = 0
    lat = []
    phase = Phase()
    started = False
    base = base_bytes = base_value = 0
    if latency:
        print("READY", flush=True)
    deadline = time.monotonic() + a.timeout
    while got < want:
        if time.monotonic() > deadline:
            die("timeout: received %d of %d" % (got, want))
        if latency:
            # consume() waits for a full batch or its timeout; poll() returns as soon as one
            # record is there (what a latency-minded application does).
            m = consumer.poll(0.1)
            batch = [m] if m is not None else []
        else:
            batch = consumer.consume(num_messages=500, timeout=0.1)
        now = time.time()
        for m in batch:
            if m.error():
                print("consume error: %s" % m.error(), file=sys.stderr)
                continue
            value = m.value()
            msg = deserializer(value, ctx)
            got += 1
            nbytes += len(msg.image_data)
            value_bytes += len(value)
            if latency and msg.frame >= 0:
                lat.append((now - msg._message_data.timestamp) * 1e3)
        if not started and got > 0:
            started = True
            base, base_bytes, base_value = got, nbytes, value_bytes
            phase.start()
    result = phase.finish(got - base, nbytes - base_bytes, value_bytes - base_value)
    if latency:
        result.update(latency_fields(lat))
    consumer.close()
    emit(result)


def main():
    a = parse_args()
    sys.path.insert(0, a.proto_dir)
    from protobuf.common import MessageData_pb2  # noqa: E402  (generated at bench time)
    from protobuf.data import ImageData_pb2  # noqa: E402

    image_cls = ImageData_pb2.Image
    latency = a.mode.startswith("latency-")
    if a.contender == "seed-python":
        env_name = os.environ.get("ENVIRONMENT", "DEVELOPMENT").upper()
        environment_value = MessageData_pb2.Environment.Value(env_name)
        if a.mode in ("produce", "latency-produce"):
            seed_produce(a, image_cls, environment_value, latency)
        else:
            seed_consume(a, image_cls, latency)
    elif a.contender == "confluent-python":
        if a.mode in ("produce", "latency-produce"):
            confluent_produce(a, image_cls, latency)
        else:
            confluent_consume(a, image_cls, latency)
    else:
        die("unknown contender " + a.contender)


if __name__ == "__main__":
    main()
