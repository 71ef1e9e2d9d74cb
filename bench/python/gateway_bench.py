#!/usr/bin/env python3
"""The gateway benchmark (scripts/bench --gateway): the same work through mcorps-gateway and with the
library directly, in the same run, side by side.

  publish   library Producer      vs  PublishStream (S streams; one message, or B records, per
            request)  and  unary Publish (C in flight)
  subscribe library Consumer      vs  Subscribe (fan-out), both reading the same pre-filled topic
  latency   Producer -> Consumer  vs  Publish -> Subscribe, at R msg/s: the latency the gateway adds
            (and Publish -> Consumer, Producer -> Subscribe: which side adds what; the publish
            side in parts: to librdkafka, from there to the Consumer, to the acknowledgement; and
            Producer -> Consumer while a Publish -> Consumer run goes on beside it: what the
            gateway's load alone does to the library's latency on a shared machine)
  --compare-gateway BIN: the batched stream also through a second gateway binary (e.g. one built
            with -DMCORPS_GATEWAY_JEMALLOC=OFF), in the same run; every stream run also reports the
            gateway process's CPU per record.

Every measurement is a child process (bench/gateway_bench.cc, mcorps_bench_gateway) on a fresh topic
of 12 partitions; one gateway process serves all the gRPC runs. Repetitions run the measurements in a
different (seeded) order each. Goals from issue 16: streamed publish >= 0.5x the direct producer at
1 KiB; added p99 latency <= 2 ms at 1,000 msg/s.
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import (Admin, Runner, load_average, log, machine_info,  # noqa: E402
                       process_cpu_seconds, warm_up_broker)

PARTITIONS = 12


def run(cmd):
    """Runs one bench command; returns its result (the last JSON line, which must say ok)."""
    return run_together(cmd)[0]


def run_together(*cmds):
    """Runs bench commands at the same time; returns their results, in order (see run)."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for cmd in cmds]
    return [Runner.finish(proc, " ".join(cmd[1:3])) for cmd, proc in zip(cmds, procs)]


class Gateway:
    def __init__(self, binary, brokers, registry, log_path):
        self.binary = binary
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--brokers", brokers, "--host", "127.0.0.1", "--grpc-port", "0", "--http-port",
             "0", "--registry", registry], stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("mcorps-gateway did not start; see " + log_path)
        self.target = "127.0.0.1:%d" % json.loads(line)["grpc_port"]

    def cpu_seconds(self):
        """User + system CPU time the gateway process has used so far (all its threads)."""
        return process_cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true", help="tiny counts, one repetition")
    parser.add_argument("--size", type=int, default=1024)
    # Records per throughput run, sized for runs of several seconds each on the 2-core dev machine
    # (shorter ones varied 2-3x between repetitions): the library's producer and consumer, the
    # batched stream and Subscribe take --count, one message per request --stream-count, unary
    # Publish --unary-count.
    parser.add_argument("--count", type=int, default=1000000)
    parser.add_argument("--stream-count", type=int, default=300000)
    parser.add_argument("--unary-count", type=int, default=100000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100,
                        help="records per PublishRequest in the batched stream run")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--compare-gateway", metavar="BIN",
                        help="also run the batched stream through this second gateway binary")
    args = parser.parse_args()
    if args.quick:
        args.count, args.repetitions, args.latency_seconds = 5000, 1, 3
        args.stream_count = args.unary_count = 5000
    # Latency runs send this many records first, untimed, and wait until all are acknowledged and
    # received (mcorps_bench_gateway's Latency).
    latency_warmup = "100" if args.quick else "1000"
    os.makedirs(args.out, exist_ok=True)
    bench = os.path.join(args.build_dir, "bench", "mcorps_bench_gateway")
    gateway_bin = os.path.join(args.build_dir, "services", "gateway", "mcorps-gateway")

    admin = Admin(args.brokers)
    names = ["direct", "stream", "stream-batch", "unary", "lat-direct", "lat-grpc", "lat-pub",
             "lat-sub", "lat-beside-direct", "lat-beside-pub"]
    if args.compare_gateway:
        names.append("stream-batch-cmp")
    topics = [{n: "gwbench-%s-%s" % (n, uuid.uuid4().hex[:8]) for n in names}
              for _ in range(args.repetitions)]
    registry = os.path.join(args.out, "gateway-bench-registry.conf")
    with open(registry, "w") as f:
        for rep in topics:
            for t in rep.values():
                admin.create(t, PARTITIONS)
                f.write("%s protobuf.data.Image encoding=raw\n" % t)
    gateway = Gateway(gateway_bin, args.brokers, registry, os.path.join(args.out, "gateway-bench.log"))
    other = None
    if args.compare_gateway:
        other = Gateway(args.compare_gateway, args.brokers, registry,
                        os.path.join(args.out, "gateway-bench-compare.log"))
    warm_up_broker(args.build_dir, admin, args.brokers, args.quick)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = " ".join("%.1f" % x for x in load_average())
    results = {}  # measurement -> [result per repetition]
    rng = random.Random(16)
    deleted = set()
    try:
        for rep, t in enumerate(topics):
            common = ["--brokers", args.brokers, "--partitions", str(PARTITIONS),
                      "--size", str(args.size)]
            grpc = ["--gateway", gateway.target]
            latency_count = str(int(args.rate * args.latency_seconds))

            def latency(topic, *extra):
                return ["--topic", topic, "--count", latency_count, "--warmup", latency_warmup,
                        "--rate", str(args.rate)] + list(extra)

            plan = {
                "direct-produce": ["--topic", t["direct"], "--count", str(args.count)],
                "grpc-stream": ["--topic", t["stream"], "--count", str(args.stream_count),
                                "--streams", str(args.streams)] + grpc,
                "grpc-stream-batch": ["--topic", t["stream-batch"], "--count", str(args.count),
                                      "--streams", str(args.streams),
                                      "--batch", str(args.batch)] + grpc,
                **({"grpc-stream-batch-cmp": ["--topic", t["stream-batch-cmp"], "--count",
                                              str(args.count), "--streams", str(args.streams),
                                              "--batch", str(args.batch),
                                              "--gateway", other.target]} if other else {}),
                "grpc-unary": ["--topic", t["unary"], "--count", str(args.unary_count),
                               "--concurrency", str(args.concurrency)] + grpc,
                "direct-latency": latency(t["lat-direct"]),
                "grpc-latency": latency(t["lat-grpc"], "--concurrency", "64", *grpc),
                # One side through the gateway, the other direct: which side adds what.
                "grpc-publish-latency": latency(t["lat-pub"], "--concurrency", "64", *grpc),
                "grpc-subscribe-latency": latency(t["lat-sub"], *grpc),
            }
            # The library's latency while a Publish -> Consumer run goes on at the same time: how
            # much of the gateway's added tail the extra load alone causes on a shared machine.
            plan["beside"] = None
            order = list(plan)
            if rep > 0:
                rng.shuffle(order)
            # The subscribe runs read the topic direct-produce filled: after it, in either order.
            order.insert(order.index("direct-produce") + 1, "direct-consume")
            order.insert(order.index("direct-produce") + 1 + rng.randint(0, 1), "grpc-subscribe")
            plan["direct-consume"] = ["--topic", t["direct"], "--count", str(args.count)]
            plan["grpc-subscribe"] = ["--topic", t["direct"], "--count", str(args.count)] + grpc
            for mode in order:
                log("gateway bench rep %d: %s" % (rep + 1, mode))
                if mode == "beside":
                    pair = run_together(
                        [bench, "--mode", "grpc-publish-latency"] + common +
                        latency(t["lat-beside-pub"], "--concurrency", "64", *grpc),
                        [bench, "--mode", "direct-latency"] + common +
                        latency(t["lat-beside-direct"]))
                    results.setdefault("grpc-publish-latency-beside", []).append(pair[0])
                    results.setdefault("direct-latency-beside", []).append(pair[1])
                    continue
                # grpc-stream-batch is grpc-stream with PublishRequest.records.
                binary_mode = "grpc-stream" if mode.startswith("grpc-stream") else mode
                # The gateway's own CPU per record, from its process's counters around the run
                # (the warm-up's few records included).
                served_by = other if mode == "grpc-stream-batch-cmp" else gateway
                cpu_before = served_by.cpu_seconds()
                result = run([bench, "--mode", binary_mode] + common + plan[mode])
                if mode.startswith("grpc-stream"):
                    result["gateway_cpu_us"] = ((served_by.cpu_seconds() - cpu_before) * 1e6 /
                                                max(1, result["messages"]))
                results.setdefault(mode, []).append(result)
            # The broker's log is in memory: a repetition's gigabytes go before the next one.
            for topic in t.values():
                admin.delete(topic)
            deleted.update(t.values())
    finally:
        gateway.stop()
        if other:
            other.stop()
        for rep in topics:
            for topic in rep.values():
                if topic not in deleted:
                    admin.delete(topic)

    def median(mode, metric):
        return statistics.median(r[metric] for r in results[mode])

    def spread(mode, metric, fmt):
        values = sorted(r[metric] for r in results[mode])
        text = fmt(statistics.median(values))
        return text if len(values) == 1 else "%s (%s-%s)" % (text, fmt(values[0]), fmt(values[-1]))

    rate = lambda v: "{:,.0f}".format(v)
    msec = lambda v: "%.2f" % v
    direct = median("direct-produce", "msgs_per_s")
    rows = [
        ("publish, library Producer", spread("direct-produce", "msgs_per_s", rate), "1.00"),
        ("publish, PublishStream x%d" % args.streams, spread("grpc-stream", "msgs_per_s", rate),
         "%.2f" % (median("grpc-stream", "msgs_per_s") / direct)),
        ("publish, PublishStream x%d, %d records per request" % (args.streams, args.batch),
         spread("grpc-stream-batch", "msgs_per_s", rate),
         "%.2f" % (median("grpc-stream-batch", "msgs_per_s") / direct)),
    ] + ([
        ("publish, PublishStream x%d, %d records per request, through %s" % (
            args.streams, args.batch, os.path.relpath(args.compare_gateway)),
         spread("grpc-stream-batch-cmp", "msgs_per_s", rate),
         "%.2f" % (median("grpc-stream-batch-cmp", "msgs_per_s") / direct)),
    ] if other else []) + [
        ("publish, unary Publish, %d in flight" % args.concurrency,
         spread("grpc-unary", "msgs_per_s", rate), "%.2f" % (median("grpc-unary", "msgs_per_s") / direct)),
        ("subscribe, library Consumer", spread("direct-consume", "msgs_per_s", rate), "1.00"),
        ("subscribe, Subscribe", spread("grpc-subscribe", "msgs_per_s", rate),
         "%.2f" % (median("grpc-subscribe", "msgs_per_s") / median("direct-consume", "msgs_per_s"))),
    ]
    added_p50 = median("grpc-latency", "lat_p50_ms") - median("direct-latency", "lat_p50_ms")
    added_p99 = median("grpc-latency", "lat_p99_ms") - median("direct-latency", "lat_p99_ms")
    usec = lambda v: "%.1f" % v

    def latency_row(label, mode):
        return "| %s | %s | %s | %s |" % (label, spread(mode, "lat_p50_ms", msec),
                                          spread(mode, "lat_p99_ms", msec),
                                          spread(mode, "lat_max_ms", msec))

    cpu_rows = [("PublishStream x%d, one message per request" % args.streams, "grpc-stream"),
                ("PublishStream x%d, %d records per request" % (args.streams, args.batch),
                 "grpc-stream-batch")]
    if other:
        cpu_rows.append(("the same through %s" % os.path.relpath(args.compare_gateway),
                         "grpc-stream-batch-cmp"))
    lines = [
        "| %d B records, %d partitions | msg/s (median, range) | vs library |" % (args.size, PARTITIONS),
        "|---|---|---|",
    ] + ["| %s | %s | %s |" % r for r in rows] + [
        "",
        "| gateway CPU per record (user + system, all threads) | us (median, range) |",
        "|---|---|",
    ] + ["| %s | %s |" % (label, spread(mode, "gateway_cpu_us", usec)) for label, mode in cpu_rows] + [
        "",
        "| end to end at %s msg/s, %s B | p50 ms | p99 ms | max ms |" % (rate(args.rate), args.size),
        "|---|---|---|---|",
        latency_row("Producer -> Consumer (library)", "direct-latency"),
        latency_row("Publish -> Subscribe (gateway)", "grpc-latency"),
        "| added by the gateway (medians) | %+.2f | %+.2f | |" % (added_p50, added_p99),
        latency_row("Publish -> Consumer (gateway on the publish side only)", "grpc-publish-latency"),
        latency_row("Producer -> Subscribe (gateway on the subscribe side only)",
                    "grpc-subscribe-latency"),
        latency_row("Producer -> Consumer (library) while a Publish -> Consumer run goes on beside it",
                    "direct-latency-beside"),
        latency_row("Publish -> Consumer beside it", "grpc-publish-latency-beside"),
        "",
        "| the publish side in parts, p99 ms | send -> librdkafka (CreateTime, ms resolution) | "
        "librdkafka -> Consumer | send -> acknowledged |",
        "|---|---|---|---|",
    ] + ["| %s | %s | %s | %s |" % (label, spread(mode, "to_producer_p99_ms", msec),
                                    spread(mode, "from_producer_p99_ms", msec),
                                    spread(mode, "acked_p99_ms", msec))
         for label, mode in [("Producer -> Consumer (library)", "direct-latency"),
                             ("Publish -> Consumer (gateway)", "grpc-publish-latency"),
                             ("the library, beside a gateway run", "direct-latency-beside"),
                             ("the gateway, beside a library run", "grpc-publish-latency-beside")]] + [
        "",
        "Goals: streamed publish >= 0.5x the library (one message per request %s: %.2fx; %d records "
        "per request %s: %.2fx); added p99 <= 2 ms (%s: %+.2f ms)." % (
            "met" if median("grpc-stream", "msgs_per_s") / direct >= 0.5 else "NOT met",
            median("grpc-stream", "msgs_per_s") / direct, args.batch,
            "met" if median("grpc-stream-batch", "msgs_per_s") / direct >= 0.5 else "NOT met",
            median("grpc-stream-batch", "msgs_per_s") / direct,
            "met" if added_p99 <= 2 else "NOT met", added_p99),
        "Run %s, %d repetition(s), %d records per throughput run, %.0f s per latency run; load "
        "average %s before, %s after." % (started, args.repetitions, args.count, args.latency_seconds,
                                          load_before, " ".join("%.1f" % x for x in load_average())),
    ]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.out, "gateway.json"), "w") as f:
        json.dump({"args": vars(args), "results": results, "machine": machine_info(),
                   "table": text}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
