#!/usr/bin/env python3
"""mcorps-gateway from Python grpcio, the way a script would use it: no generated code, every
message type fetched from the gateway itself through server reflection (grpc.reflection.v1alpha,
what Debian's gRPC 1.51 serves).

  gateway_grpc_test.py --gateway-bin PATH --work DIR                 (integration: the test broker)
  gateway_grpc_test.py --gateway-bin PATH --work DIR --health-outage (robustness: its own broker,
                                                                      stopped and restarted;
                                                                      PublishStream's flow control
                                                                      while it is down)

Brokers: MESSAGECORPS_TEST_BROKERS, else the file named by MESSAGECORPS_TEST_BROKERS_FILE (the
ctest fixture's). Exit status 0 when every check passed; each check prints one line.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "messagecorps.gateway.v1.Gateway"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def check(name, condition, detail=""):
    print(("ok    " if condition else "FAIL  ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(name)


def test_brokers():
    brokers = os.environ.get("MESSAGECORPS_TEST_BROKERS")
    if brokers:
        return brokers
    path = os.environ.get("MESSAGECORPS_TEST_BROKERS_FILE")
    if path and os.path.exists(path):
        return open(path).read().strip()
    sys.exit("no broker: set MESSAGECORPS_TEST_BROKERS or run under ctest (fixture kafka)")


def create_topic(brokers, name, partitions):
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=brokers.split(","))
    admin.create_topics([NewTopic(name, partitions, 1)])
    admin.close()


class Gateway:
    """mcorps-gateway on free ports; its stdout's first line names them."""

    def __init__(self, binary, brokers, work, args):
        self.log = open(os.path.join(work, "gateway.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--brokers", brokers, "--host", "127.0.0.1", "--grpc-port", "0",
             "--http-port", "0"] + args,
            stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("the gateway did not start; see " + self.log.name)
        ports = json.loads(line)
        self.grpc = f"127.0.0.1:{ports['grpc_port']}"
        self.http = f"http://127.0.0.1:{ports['http_port']}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def reflection_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {s.name for s in response.list_services_response.service}


def messages_from_reflection(channel):
    """The gateway's message classes, built from descriptors fetched over reflection."""
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    names = ["PublishRequest", "PublishResponse", "SubscribeRequest", "SubscribeResponse"]
    classes = {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"messagecorps.gateway.v1.{n}"))
               for n in names}
    classes["Image"] = message_factory.GetMessageClass(pool.FindMessageTypeByName("protobuf.data.Image"))
    return classes


def method(channel, kind, name, request_class, response_class):
    return getattr(channel, kind)(f"/{SERVICE}/{name}",
                                  request_serializer=request_class.SerializeToString,
                                  response_deserializer=response_class.FromString)


def integration(args, brokers):
    topic = "gw-py-" + uuid.uuid4().hex[:12]
    create_topic(brokers, topic, 3)
    registry = os.path.join(args.work, "registry.conf")
    with open(registry, "w") as f:
        f.write(f"{topic} protobuf.data.Image encoding=seed\n")
    gateway = Gateway(args.gateway_bin, brokers, args.work, ["--registry", registry])
    channel = grpc.insecure_channel(gateway.grpc)
    grpc.channel_ready_future(channel).result(timeout=30)

    services = reflection_services(channel)
    check("reflection lists the gateway, health and reflection services",
          {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services,
          str(services))
    m = messages_from_reflection(channel)

    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        check(f"health of '{service}' is SERVING", status == health_pb2.HealthCheckResponse.SERVING,
              str(status))

    # The topic may take a metadata refresh to appear.
    publish = method(channel, "unary_unary", "Publish", m["PublishRequest"], m["PublishResponse"])
    request = m["PublishRequest"](topic=topic, json=json.dumps({"frame": 42, "source": "python"}))
    response = publish(request, metadata=[("traceparent", TRACEPARENT)], timeout=30)
    check("Publish answers with partition, offset, uuid, trace id",
          response.offset >= 0 and len(response.uuid) == 36 and
          response.trace_id == "0af7651916cd43dd8448eb211c80319c", str(response))

    subscribe = method(channel, "unary_stream", "Subscribe", m["SubscribeRequest"], m["SubscribeResponse"])
    sub = m["SubscribeRequest"](topic=topic)
    sub.offsets.offsets[response.partition] = response.offset
    stream = subscribe(sub, timeout=30)
    record = next(stream).records[0]
    stream.cancel()
    image = m["Image"]()
    image.ParseFromString(record.message.value)
    check("Subscribe returns the record as an Any of the bound type",
          record.message.type_url.endswith("/protobuf.data.Image") and image.frame == 42 and
          image.source == "python", str(record))
    check("the record's envelope carries the uuid and the continued trace",
          record.envelope.uuid == response.uuid and
          record.envelope.trace_id == "0af7651916cd43dd8448eb211c80319c", str(record.envelope))

    stream_method = method(channel, "stream_stream", "PublishStream", m["PublishRequest"],
                           m["PublishResponse"])
    requests = [m["PublishRequest"](topic=topic, correlation_id=i, json=json.dumps({"frame": i}))
                for i in range(5)]
    requests[2].json = "{not json"
    results = list(stream_method(iter(requests), timeout=30))
    check("PublishStream answers each message in order, errors included",
          [r.correlation_id for r in results] == list(range(5)) and
          results[2].code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and
          all(r.code == 0 and r.offset >= 0 for i, r in enumerate(results) if i != 2),
          str(results))

    try:
        publish(m["PublishRequest"](topic=topic, json='{"height": "tall"}'), timeout=30)
        check("a bad field is INVALID_ARGUMENT", False, "published")
    except grpc.RpcError as error:
        field = dict(error.trailing_metadata()).get("mcorps-field")
        check("a bad field is INVALID_ARGUMENT naming the field",
              error.code() == grpc.StatusCode.INVALID_ARGUMENT and field == "height",
              f"{error.code()} {error.details()} field={field}")

    check("the gateway drains and exits 0 on SIGTERM", gateway.stop() == 0)


def publish_stream_flow_control(channel, topic):
    """PublishStream while Kafka cannot take anything: the gateway keeps --stream-window (16)
    messages in flight, stops reading, and gRPC's flow control stops the client: the messages the
    client got to write stop growing, far below what it offers (it is slowed, not buffered for)."""
    m = messages_from_reflection(channel)
    stream_method = method(channel, "stream_stream", "PublishStream", m["PublishRequest"],
                           m["PublishResponse"])
    # 40 MB: far more than the transport buffers (gRPC's flow-control windows grow with its
    # bandwidth estimate: 4-10 MB of these were seen taken before the plateau)
    offered, filler = 20000, "x" * 2000
    written = [0]

    def requests():
        for i in range(offered):
            written[0] += 1
            yield m["PublishRequest"](topic=topic, correlation_id=i,
                                      json=json.dumps({"frame": i, "source": filler}))

    call = stream_method(requests(), timeout=60)
    time.sleep(4)
    plateau = written[0]
    time.sleep(4)
    later = written[0]
    call.cancel()
    print(f"      PublishStream with Kafka down: the client wrote {plateau} of {offered} "
          f"messages after 4 s, {later} after 8 s")
    check("PublishStream with Kafka down: the client is held back (no progress, far below what "
          "it offered)", later == plateau and later < offered // 2, f"{plateau} -> {later}")


def health_outage(args):
    """Health follows Kafka: NOT_SERVING while the broker is down, SERVING again on its own."""
    kafka = os.path.join(REPO, "scripts", "kafka")
    state = os.path.join(args.work, "kafka")
    brokers = subprocess.run([kafka, "start", "--nodes", "1", "--state", state], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip()
    try:
        topic = "gw-flow-" + uuid.uuid4().hex[:12]
        create_topic(brokers, topic, 1)
        registry = os.path.join(args.work, "registry.conf")
        with open(registry, "w") as f:
            f.write(f"{topic} protobuf.data.Image encoding=raw\n")
        gateway = Gateway(args.gateway_bin, brokers, args.work,
                          ["--registry", registry, "--stream-window", "16"])
        channel = grpc.insecure_channel(gateway.grpc)
        health = health_pb2_grpc.HealthStub(channel)

        def wait_for(want, seconds):
            deadline = time.time() + seconds
            status = None
            while time.time() < deadline:
                status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10).status
                if status == want:
                    return time.time()
                time.sleep(0.2)
            return None

        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        check("SERVING with the broker up", wait_for(serving, 30) is not None)
        check("/readyz is 200 with the broker up", http_status(gateway.http + "/readyz") == 200)
        killed = time.time()
        subprocess.run([kafka, "kill", "1", "--state", state], check=True)
        # Metadata is asked every second with a 2 s timeout: NOT_SERVING within a few seconds.
        down = wait_for(not_serving, 30)
        check("NOT_SERVING while the broker is down", down is not None)
        if down:
            print(f"      NOT_SERVING {down - killed:.1f} s after the kill")
        check("/readyz is 503 while the broker is down", http_status(gateway.http + "/readyz") == 503)
        check("/healthz stays 200 (the process is alive)", http_status(gateway.http + "/healthz") == 200)
        publish_stream_flow_control(channel, topic)
        restarted = time.time()
        # 240 s: a restart under load (JVM start, log recovery, the readiness probe's JVM) once
        # took longer than the script's 90 s default; SERVING is timed from here anyway.
        subprocess.run([kafka, "restart", "1", "--state", state, "--timeout", "240"], check=True)
        up = wait_for(serving, 120)
        check("SERVING again on its own after the restart", up is not None)
        if up:
            print(f"      SERVING {up - restarted:.1f} s after the restart command")
        check("/readyz is 200 again", http_status(gateway.http + "/readyz") == 200)
        check("the gateway drains and exits 0 on SIGTERM", gateway.stop() == 0)
    finally:
        subprocess.run([kafka, "stop", "--state", state])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateway-bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--health-outage", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.health_outage:
        health_outage(args)
    else:
        integration(args, test_brokers())
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
