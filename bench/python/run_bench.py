"""The macro benchmark driver behind scripts/bench.

Runs every contender x payload size x repetition, each phase in its own child process (so its
getrusage is its own), each contender on a fresh topic (created and deleted with AdminClient).
Repetitions are interleaved (rep 1 of everything, then rep 2, ...) so that load changes on the
shared machine hit every contender alike; from the second one on the contenders run in a seeded
shuffled order, so that no contender always follows the same one. Then the 1M-record backlog test and the micro benchmark
results (JSON files written by scripts/bench) are folded in. Writes OUT/results.json,
OUT/results.csv and docs/bench-throughput.png; prints the tables.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIZES = [100, 1024, 921600]
SIZE_NAMES = {100: "100 B", 1024: "1 KiB", 921600: "900 KiB"}
PARTITIONS = 4

# name -> how to run it. kind: "cxx" (mcorps_bench_macro) or "py" (contenders.py).
CONTENDERS = {
    "raw": {"kind": "cxx", "args": ["--contender", "raw"]},
    # Diagnostics: raw consuming one record per rd_kafka_consume_queue call (as Consumer::Poll does
    # since its librdkafka 2.0.2 workaround), and raw sending the very bytes of a messagecorps record
    # (stamped, encoded Image + the default headers (traceparent), built per message as the library
    # does).
    "raw/one-per-poll": {"kind": "cxx", "args": ["--contender", "raw", "--poll", "one"]},
    "raw/same-record": {"kind": "cxx", "args": ["--contender", "raw", "--record", "messagecorps"]},
    # Hand-written librdkafka + protobuf: the serialized stamped Image (raw encoding, no headers),
    # the consumer parsing each value into one reused Image. What messagecorps replaces.
    "raw/protobuf": {"kind": "cxx", "args": ["--contender", "raw", "--record", "protobuf"]},
    "messagecorps/raw": {"kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw"]},
    # The default header set is traceparent only; the CloudEvents binary set (the default before) and
    # the compact set for comparison.
    "messagecorps/raw-standard": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw", "--headers", "standard"]},
    "messagecorps/raw-compact": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw", "--headers", "compact"]},
    "messagecorps/raw-noheaders": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw", "--headers", "none"]},
    "messagecorps/raw+lz4": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw", "-X", "compression.type=lz4"]},
    "messagecorps/raw+zstd": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw", "-X", "compression.type=zstd"]},
    # Tracing on (docs/observability.md): the same binary, every record sampled, a PRODUCER span
    # per send and a CONSUMER span per record, exported over OTLP/gRPC to a real Jaeger that
    # run_bench starts (scripts/jaeger) when this contender runs. The SDK's default batch
    # processor: a queue of 2048 spans, exported every 5 s; spans beyond it are dropped, as the
    # SDK does under overload.
    "messagecorps/raw+tracing": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "raw"], "tracing": True},
    "messagecorps/seed": {"kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "seed"]},
    "messagecorps/confluent": {
        "kind": "cxx", "args": ["--contender", "messagecorps", "--encoding", "confluent"]},
    "seed-python": {"kind": "py", "args": ["--contender", "seed-python"]},
    # glibc's default M_TRIM_THRESHOLD (128 KiB, adjusted dynamically) vs a raised one: per-message
    # zlib.compress allocates and frees ~256 KiB of deflate state.
    "seed-python/trim": {"kind": "py", "args": ["--contender", "seed-python"],
                         "env": {"MALLOC_TRIM_THRESHOLD_": str(256 << 20)}},
    "confluent-python": {"kind": "py", "args": ["--contender", "confluent-python"]},
}
LATENCY_CONTENDERS = ["raw", "messagecorps/raw", "messagecorps/seed", "seed-python", "confluent-python"]

# Messages per run (full mode): sized from measured rates so that a produce run lasts several
# seconds on the shared 2-core machine (consuming is faster: those runs are shorter). The 1 KiB
# counts had become ~1 s runs once the broker's log moved to memory and the rates rose (issue 20).
# Every run's topic is deleted after it; scripts/kafka frees a deleted topic's files after 1 s, so
# these gigabytes do not pile up in /dev/shm (BENCHMARKS.md, "The 1 KiB produce variance").
RAW = {100: 5_000_000, 1024: 2_000_000, 921600: 1_500}
WITH_HEADERS = {100: 1_000_000, 1024: 600_000, 921600: 1_500}
COUNTS = {
    "raw": RAW, "raw/one-per-poll": RAW, "raw/same-record": WITH_HEADERS,
    "raw/protobuf": {100: 4_000_000, 1024: 1_500_000, 921600: 1_500},
    "messagecorps/raw": {100: 1_500_000, 1024: 1_000_000, 921600: 1_500},
    "messagecorps/raw-standard": WITH_HEADERS,
    "messagecorps/raw-compact": {100: 1_500_000, 1024: 1_000_000, 921600: 1_500},
    "messagecorps/raw-noheaders": {100: 2_000_000, 1024: 1_000_000, 921600: 1_500},
    "messagecorps/raw+lz4": WITH_HEADERS, "messagecorps/raw+zstd": WITH_HEADERS,
    "messagecorps/raw+tracing": WITH_HEADERS,
    "messagecorps/confluent": WITH_HEADERS,
    "messagecorps/seed": {100: 200_000, 1024: 100_000, 921600: 150},
    "seed-python": {100: 30_000, 1024: 25_000, 921600: 40},
    "seed-python/trim": {100: 30_000, 1024: 25_000, 921600: 40},
    "confluent-python": {100: 150_000, 1024: 120_000, 921600: 1_500},
}
QUICK_COUNT = {100: 2_000, 1024: 2_000, 921600: 20}
RATES = {100: 1000, 1024: 1000, 921600: 20}
LATENCY_SECONDS = {100: 5, 1024: 5, 921600: 10}  # 5000, 5000 and 200 samples
QUICK_LATENCY_SECONDS = {100: 1, 1024: 1, 921600: 1}

METRICS = ["produce_msgs_per_s", "produce_mb_per_s", "produce_cpu_s", "produce_cpu_us_per_msg",
           "produce_broker_cpu_us_per_msg", "consume_broker_cpu_us_per_msg",
           "produce_maxrss_mb", "consume_msgs_per_s", "consume_mb_per_s", "consume_cpu_s",
           "consume_cpu_us_per_msg", "consume_maxrss_mb", "lat_p50_ms", "lat_p99_ms"]


def log(*what):
    print("bench:", *what, file=sys.stderr, flush=True)


class Admin:
    def __init__(self, brokers):
        from confluent_kafka.admin import AdminClient

        self.client = AdminClient({"bootstrap.servers": brokers})

    def create(self, topic, partitions=PARTITIONS):
        from confluent_kafka.admin import NewTopic

        futures = self.client.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
        futures[topic].result()
        # Wait until the metadata shows a leader for every partition.
        deadline = time.time() + 30
        while time.time() < deadline:
            md = self.client.list_topics(topic, timeout=10)
            t = md.topics.get(topic)
            if t and not t.error and len(t.partitions) == partitions and all(
                    p.leader >= 0 for p in t.partitions.values()):
                return
            time.sleep(0.2)
        raise RuntimeError("topic %s has no leaders" % topic)

    def delete(self, topic):
        try:
            self.client.delete_topics([topic], operation_timeout=30)[topic].result()
        except Exception as e:  # a leftover topic only costs disk space
            log("could not delete", topic, e)


class Runner:
    def __init__(self, args):
        self.args = args
        self.macro = os.path.join(args.build_dir, "bench", "mcorps_bench_macro")
        self.python = sys.executable
        self.tracing_env = {}  # OTEL_* for the +tracing contenders (start_jaeger)

    def command(self, contender, mode, topic, size, count, rate=0, warmup=0, extra=()):
        spec = CONTENDERS[contender]
        common = ["--mode", mode, "--brokers", self.args.brokers, "--topic", topic,
                  "--partitions", str(PARTITIONS), "--size", str(size), "--count", str(count),
                  "--rate", str(rate), "--warmup", str(warmup)]
        if spec["kind"] == "cxx":
            cmd = [self.macro] + spec["args"] + common + list(extra)
        else:
            cmd = [self.python, os.path.join(HERE, "contenders.py")] + spec["args"] + common + [
                "--proto-dir", self.args.proto_dir]
        env = dict(os.environ)
        env.update(spec.get("env", {}))
        if spec.get("tracing"):
            if not self.tracing_env:
                raise RuntimeError("%s needs Jaeger (not started)" % contender)
            env.update(self.tracing_env)
        return cmd, env

    def start(self, contender, mode, topic, size, count, **kw):
        cmd, env = self.command(contender, mode, topic, size, count, **kw)
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)

    @staticmethod
    def finish(proc, what):
        out, _ = proc.communicate()
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError("%s failed (exit %s): %s" % (what, proc.returncode, out[-500:]))
        result = json.loads(lines[-1])
        if not result.get("ok"):
            raise RuntimeError("%s: %s" % (what, result.get("error")))
        return result

    @staticmethod
    def check_version(contender, result):
        """A twin on the current librdkafka must really have loaded it."""
        want = CONTENDERS[contender].get("librdkafka")
        if want and result.get("librdkafka") != want:
            raise RuntimeError("%s loaded librdkafka %s, not %s" % (contender, result.get("librdkafka"), want))

    def broker_cpu_s(self):
        """User + system CPU seconds of the broker's process (--broker-pid), else None."""
        return process_cpu_seconds(self.args.broker_pid) if self.args.broker_pid else None

    def run(self, contender, mode, topic, size, count, **kw):
        broker_before = self.broker_cpu_s()
        result = self.finish(self.start(contender, mode, topic, size, count, **kw),
                             "%s %s %s" % (contender, mode, SIZE_NAMES.get(size, size)))
        self.check_version(contender, result)
        if broker_before is not None:
            # The broker's CPU over the child's whole life (its one warm-up record, connecting and
            # metadata included): what the contender's records cost the broker that shares the
            # machine's cores.
            result["broker_cpu_s"] = self.broker_cpu_s() - broker_before
        return result

    @staticmethod
    def wait_ready(proc):
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("latency consumer exited before READY")
            if line.strip() == "READY":
                return


def process_cpu_seconds(pid):
    """User + system CPU time a process has used so far (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up_broker(build_dir, admin, brokers, quick=False):
    """Untimed load before any measurement: a freshly started broker's first heavy run costs it
    about 3x the CPU of later ones (its JVM compiles the produce and fetch paths meanwhile), and on
    2 shared cores that made whichever contender came first up to 2x slower (issue 20: the library
    Producer, 1 KiB, 1M records, six runs on a fresh broker: 191k msg/s with 7.4 s of broker CPU,
    then 331k-364k with 2.4-3.0 s)."""
    macro = os.path.join(build_dir, "bench", "mcorps_bench_macro")
    topic = "bench-warm-up-%s" % uuid.uuid4().hex[:8]
    count = "2000" if quick else "1000000"
    log("warming the broker up (untimed: raw, 1 KiB, %s records produced and consumed)" % count)
    admin.create(topic)
    try:
        for mode in ("produce", "consume"):
            subprocess.run([macro, "--contender", "raw", "--mode", mode, "--brokers", brokers,
                            "--topic", topic, "--partitions", str(PARTITIONS), "--size", "1024",
                            "--count", count, "--warmup", "1"], stdout=subprocess.DEVNULL, check=True)
    finally:
        admin.delete(topic)


def topic_part(contender):
    """The contender's name as Kafka allows it in a topic name ("raw @2.14.2" -> "raw-2.14.2")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", contender).strip("-")


def throughput_run(runner, admin, contender, size, count):
    topic = "bench-%s-%d-%s" % (topic_part(contender), size, uuid.uuid4().hex[:8])
    admin.create(topic)
    try:
        prod = runner.run(contender, "produce", topic, size, count, warmup=1)
        cons = runner.run(contender, "consume", topic, size, count, warmup=1)
    finally:
        admin.delete(topic)
    def per_msg(r, key="cpu_s"):
        return r[key] / r["messages"] * 1e6 if r["messages"] and key in r else None

    def positive(v):
        return v if v else None

    return {
        "produce_msgs_per_s": positive(prod["msgs_per_s"]), "produce_mb_per_s": positive(prod["mb_per_s"]),
        "produce_cpu_s": prod["cpu_s"], "produce_cpu_us_per_msg": per_msg(prod),
        "produce_broker_cpu_us_per_msg": per_msg(prod, "broker_cpu_s"),
        "consume_broker_cpu_us_per_msg": per_msg(cons, "broker_cpu_s"),
        "produce_maxrss_mb": prod["maxrss_kb"] / 1024, "produce_seconds": prod["seconds"],
        "consume_msgs_per_s": positive(cons["msgs_per_s"]), "consume_mb_per_s": positive(cons["mb_per_s"]),
        "consume_cpu_s": cons["cpu_s"], "consume_cpu_us_per_msg": per_msg(cons),
        "consume_maxrss_mb": cons["maxrss_kb"] / 1024, "consume_seconds": cons["seconds"],
        "value_bytes_per_msg": cons["value_bytes"] / max(cons["messages"], 1),
        "count": count,
    }


def latency_run(runner, admin, contender, size, seconds):
    rate = RATES[size]
    count = int(rate * seconds)
    warmup = max(int(rate), 10)
    topic = "lat-%s-%d-%s" % (topic_part(contender), size, uuid.uuid4().hex[:8])
    admin.create(topic)
    try:
        consumer = runner.start(contender, "latency-consume", topic, size, count, warmup=warmup)
        runner.wait_ready(consumer)
        time.sleep(0.5)
        producer = runner.start(contender, "latency-produce", topic, size, count, rate=rate, warmup=warmup)
        runner.finish(producer, contender + " latency-produce")
        cons = runner.finish(consumer, contender + " latency-consume")
    finally:
        admin.delete(topic)
    return {"lat_p50_ms": cons["lat_p50_ms"], "lat_p99_ms": cons["lat_p99_ms"],
            "lat_max_ms": cons["lat_max_ms"], "lat_rate": rate, "lat_samples": cons["latency_samples"]}


def backlog_run(runner, admin, count, extra_props, contender="messagecorps/raw"):
    topic = "backlog-%s" % uuid.uuid4().hex[:8]
    admin.create(topic)
    try:
        prod = runner.run(contender, "produce", topic, 100, count, warmup=1)
        extra = []
        for kv in extra_props:
            extra += ["-X", kv]
        cons = runner.run(contender, "backlog-consume", topic, 100, count, warmup=1, extra=extra)
    finally:
        admin.delete(topic)
    return {"records": count, "settings": extra_props or ["defaults"], "contender": contender,
            "librdkafka": CONTENDERS[contender].get("librdkafka", "system"),
            "peak_rss_mb": cons["maxrss_kb"] / 1024,
            "sampled_peak_rss_mb": cons.get("sampled_peak_rss_kb", 0) / 1024,
            "consume_msgs_per_s": cons["msgs_per_s"], "produce_msgs_per_s": prod["msgs_per_s"]}


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def machine_info():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception:
            return ""

    import confluent_kafka
    import google.protobuf
    import kafka

    return {
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "librdkafka_system": cmd("pkg-config", "--modversion", "rdkafka"),
        "protobuf_cpp": cmd("pkg-config", "--modversion", "protobuf"),
        "compiler": cmd("c++", "--version").splitlines()[0] if cmd("c++", "--version") else "",
        "python": platform.python_version(), "kafka_python": kafka.__version__,
        "python_protobuf": google.protobuf.__version__,
        "confluent_kafka": getattr(confluent_kafka, "__version__", None) or str(confluent_kafka.version()),
        "confluent_librdkafka": confluent_kafka.libversion()[0],
        "kafka_broker": os.environ.get("MCORPS_KAFKA_VERSION", "4.4.0"),
    }


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.1f" % v


def fmt_range(s, f=fmt_rate):
    if s is None:
        return "-"
    return "%s (%s-%s)" % (f(s["median"]), f(s["min"]), f(s["max"]))


def num(v, digits=2):
    return "-" if v is None else ("%.*f" % (digits, v))


def ratio(summary, a, b, size, metric):
    sa = summary.get(a, {}).get(str(size), {}).get(metric)
    sb = summary.get(b, {}).get(str(size), {}).get(metric)
    if not sa or not sb or not sb["median"]:
        return None
    return sa["median"] / sb["median"]


def render_tables(summary, ratios, backlog, micro_lines):
    out = []
    out.append("| contender | size | produce msg/s | produce MB/s | consume msg/s | consume MB/s | "
               "CPU µs/msg prod / cons | broker CPU µs/msg prod / cons | peak RSS MiB prod / cons | "
               "e2e p50 / p99 ms |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for name in CONTENDERS:
        for size in SIZES:
            s = summary.get(name, {}).get(str(size))
            if not s:
                continue
            def med(metric):
                m = s.get(metric)
                return m["median"] if m else None

            lat = "-"
            if med("lat_p50_ms") is not None:
                lat = "%s / %s" % (num(med("lat_p50_ms")), num(med("lat_p99_ms")))
            out.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s |" % (
                name, SIZE_NAMES[size], fmt_range(s.get("produce_msgs_per_s")),
                fmt_range(s.get("produce_mb_per_s"), lambda v: "%.1f" % v),
                fmt_range(s.get("consume_msgs_per_s")),
                fmt_range(s.get("consume_mb_per_s"), lambda v: "%.1f" % v),
                num(med("produce_cpu_us_per_msg"), 1), num(med("consume_cpu_us_per_msg"), 1),
                num(med("produce_broker_cpu_us_per_msg"), 1),
                num(med("consume_broker_cpu_us_per_msg"), 1),
                num(med("produce_maxrss_mb"), 0), num(med("consume_maxrss_mb"), 0), lat))
    out.append("")
    out.append("| ratio (medians) | size | produce msg/s | consume msg/s | CPU/msg produce | CPU/msg consume | e2e p99 |")
    out.append("|---|---|---|---|---|---|---|")
    for r in ratios:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], SIZE_NAMES[r["size"]], num(r["produce"]), num(r["consume"]),
            num(r["cpu_produce"]), num(r["cpu_consume"]), num(r["p99"])))
    if backlog:
        out.append("")
        out.append("| backlog test (100 B records) | librdkafka | settings | peak RSS MiB | consume msg/s |")
        out.append("|---|---|---|---|---|")
        for b in backlog:
            out.append("| %d records | %s | %s | %.0f | %s |" % (
                b["records"], b.get("librdkafka", "system"), ", ".join(b["settings"]),
                b["peak_rss_mb"], fmt_rate(b["consume_msgs_per_s"])))
    if micro_lines:
        out.append("")
        out.extend(micro_lines)
    return "\n".join(out)


RATIO_PAIRS = [
    ("messagecorps/raw ÷ raw", "messagecorps/raw", "raw"),
    ("messagecorps/raw ÷ raw/same-record", "messagecorps/raw", "raw/same-record"),
    ("messagecorps/raw ÷ raw/one-per-poll", "messagecorps/raw", "raw/one-per-poll"),
    ("messagecorps/raw-compact ÷ raw", "messagecorps/raw-compact", "raw"),
    ("messagecorps/raw ÷ raw/protobuf", "messagecorps/raw", "raw/protobuf"),
    ("messagecorps/raw-standard ÷ raw/protobuf", "messagecorps/raw-standard", "raw/protobuf"),
    ("messagecorps/raw-compact ÷ raw/protobuf", "messagecorps/raw-compact", "raw/protobuf"),
    ("messagecorps/raw-noheaders ÷ raw/protobuf", "messagecorps/raw-noheaders", "raw/protobuf"),
    ("messagecorps/raw-noheaders ÷ raw", "messagecorps/raw-noheaders", "raw"),
    ("messagecorps/raw+lz4 ÷ raw", "messagecorps/raw+lz4", "raw"),
    ("messagecorps/raw+tracing ÷ messagecorps/raw", "messagecorps/raw+tracing", "messagecorps/raw"),
    ("messagecorps/seed ÷ raw", "messagecorps/seed", "raw"),
    ("messagecorps/raw ÷ seed-python", "messagecorps/raw", "seed-python"),
    ("messagecorps/seed ÷ seed-python", "messagecorps/seed", "seed-python"),
    ("messagecorps/raw ÷ confluent-python", "messagecorps/raw", "confluent-python"),
    ("messagecorps/confluent ÷ confluent-python", "messagecorps/confluent", "confluent-python"),
]


def add_current_librdkafka(prefix, version):
    """Registers a twin "NAME @VERSION" of every C++ contender that runs the same binary on the
    librdkafka in PREFIX (scripts/librdkafka) through LD_LIBRARY_PATH: one build, both versions,
    same run. Ratios of the twins are to raw on the same version; "NAME @V ÷ NAME" compares the
    versions. Returns the twins' names."""
    suffix = " @" + version
    twins = []
    for name, spec in list(CONTENDERS.items()):
        if spec["kind"] != "cxx":
            continue
        twin = name + suffix
        env = dict(spec.get("env", {}))
        env["LD_LIBRARY_PATH"] = os.path.join(prefix, "lib")
        CONTENDERS[twin] = dict(spec, env=env, librdkafka=version)
        COUNTS[twin] = COUNTS[name]
        if name in LATENCY_CONTENDERS:
            LATENCY_CONTENDERS.append(twin)
        twins.append(twin)
    for label, a, b in list(RATIO_PAIRS):
        if CONTENDERS[a]["kind"] == "cxx" and CONTENDERS[b]["kind"] == "cxx":
            RATIO_PAIRS.append(("(%s)%s" % (label, suffix), a + suffix, b + suffix))
    for name in ("raw", "messagecorps/raw", "messagecorps/raw-compact", "raw/protobuf"):
        RATIO_PAIRS.append(("%s%s ÷ %s" % (name, suffix, name), name + suffix, name))
    return twins


def compute_ratios(summary):
    ratios = []
    for label, a, b in RATIO_PAIRS:
        for size in SIZES:
            r = {"name": label, "a": a, "b": b, "size": size,
                 "produce": ratio(summary, a, b, size, "produce_msgs_per_s"),
                 "consume": ratio(summary, a, b, size, "consume_msgs_per_s"),
                 # CPU ratios as "b needs N times the CPU per message of a"
                 "cpu_produce": ratio(summary, b, a, size, "produce_cpu_us_per_msg"),
                 "cpu_consume": ratio(summary, b, a, size, "consume_cpu_us_per_msg"),
                 "p99": ratio(summary, a, b, size, "lat_p99_ms")}
            if r["produce"] is not None:
                ratios.append(r)
    return ratios


def micro_summary(micro_path, alloc_path):
    lines = []
    micro = alloc = None
    if micro_path and os.path.exists(micro_path):
        with open(micro_path) as f:
            micro = json.load(f)
        lines.append("| micro benchmark | ns/op (real) | ns/op (CPU) |")
        lines.append("|---|---|---|")
        for b in micro.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            label = (" [%s]" % b["label"]) if b.get("label") else ""
            lines.append("| %s%s | %.1f | %.1f |" % (b["name"], label, b["real_time"], b["cpu_time"]))
    if alloc_path and os.path.exists(alloc_path):
        with open(alloc_path) as f:
            alloc = json.load(f)
        lines.append("")
        lines.append("| allocations per message | caller thread (ours / protobuf / rdkafka / other) | all threads (ours / protobuf / rdkafka / other) |")
        lines.append("|---|---|---|")
        for b in alloc.get("benchmarks", []):
            c = b

            def split(prefix):
                other = sum(c.get(prefix + k, 0) for k in ("compression", "abseil", "other"))
                return "%.2f (%.2f / %.2f / %.2f / %.2f)" % (
                    c.get(prefix.rstrip("_"), 0), c.get(prefix + "ours", 0), c.get(prefix + "protobuf", 0),
                    c.get(prefix + "rdkafka", 0), other)

            label = (" [%s]" % b["label"]) if b.get("label") else ""
            lines.append("| %s%s | %s | %s |" % (b["name"], label, split("caller_"), split("all_")))
    return lines, micro, alloc


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in CONTENDERS if n in summary]
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2))
    width = 0.8 / max(len(names), 1)
    for ax, metric, title in ((axes[0], "produce_msgs_per_s", "produce (until all delivered)"),
                              (axes[1], "consume_msgs_per_s", "consume (until all received)")):
        for i, name in enumerate(names):
            xs, ys, lo, hi = [], [], [], []
            for j, size in enumerate(SIZES):
                s = summary[name].get(str(size), {}).get(metric)
                if not s:
                    continue
                xs.append(j + (i - len(names) / 2 + 0.5) * width)
                ys.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
            ax.bar(xs, ys, width, yerr=[lo, hi], label=name, capsize=2,
                   color=plt.cm.tab20(i % 20), edgecolor="black", linewidth=0.3)
        ax.set_yscale("log")
        ax.set_xticks(range(len(SIZES)))
        ax.set_xticklabels([SIZE_NAMES[s] for s in SIZES])
        ax.set_ylabel("messages/s (median, min-max bars)")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    # Below the panels, not over them: inside, the legend hid the 900 KiB consume bars.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=7, frameon=False)
    fig.suptitle("messagecorps benchmark: throughput per payload size (real Kafka, 1 node, 4 partitions)")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


def run_backlogs(args, runner, admin):
    backlog = []
    count = 20_000 if args.quick else args.backlog
    contenders = ["messagecorps/raw"] + [c for c in CONTENDERS
                                         if c.startswith("messagecorps/raw @")]
    for contender in contenders:
        for props in [[]] + [s.split(",") for s in args.backlog_props]:
            log("backlog: %s, %d records, consumer settings %s" % (contender, count, props or "default"))
            try:
                b = backlog_run(runner, admin, count, props, contender)
                b["load1"] = load_average()[0]
                backlog.append(b)
            except Exception as e:
                log("backlog FAILED:", e)
                backlog.append({"records": count, "settings": props, "error": str(e),
                                "contender": contender, "peak_rss_mb": -1, "consume_msgs_per_s": None})
    return backlog


def rerender(args):
    path = os.path.join(args.out, "results.json")
    with open(path) as f:
        results = json.load(f)
    if args.backlog_only:
        results["backlog"] = run_backlogs(args, Runner(args), Admin(args.brokers))
        results["backlog_load_averages"] = load_average()
    results["ratios"] = compute_ratios(results["summary"])
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    if args.plot:
        plot(results["summary"], args.plot)
    micro_lines, _, _ = micro_summary(args.micro_json, args.alloc_json)
    print(render_tables(results["summary"], results["ratios"], results["backlog"], micro_lines))
    print("\nload averages (1/5/15 min) at start, after each repetition, at the end: %s"
          % results["load_averages"])
    return 1 if any("error" in b for b in results["backlog"]) else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--plot", default="")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--only", default="", help="comma-separated contenders")
    p.add_argument("--sizes", default="", help="comma-separated sizes in bytes")
    p.add_argument("--no-latency", action="store_true")
    p.add_argument("--latency-seconds", action="append", default=[], metavar="SIZE=SECONDS",
                   help="latency run length for a payload size (default 5 s for 100 B and 1 KiB, "
                        "10 s for 900 KiB: 5000 / 5000 / 200 samples); repeatable")
    p.add_argument("--backlog", type=int, default=1_000_000, help="records (0: skip)")
    p.add_argument("--backlog-props", action="append", default=None,
                   help="extra backlog run with these consumer properties (k=v,k=v); default: "
                        "queued.max.messages.kbytes=32768")
    p.add_argument("--render-only", action="store_true",
                   help="re-render tables, ratios and plot from OUT/results.json")
    p.add_argument("--backlog-only", action="store_true",
                   help="run only the backlog test and merge it into OUT/results.json")
    p.add_argument("--current-librdkafka", default="", metavar="PREFIX",
                   help="also run every C++ contender on the librdkafka in PREFIX (scripts/librdkafka)")
    p.add_argument("--micro-json", default="")
    p.add_argument("--alloc-json", default="")
    p.add_argument("--command", default="scripts/bench")
    p.add_argument("--broker-pid", type=int, default=0,
                   help="the broker's process, for its CPU per record (one local broker only)")
    args = p.parse_args()

    if args.backlog_props is None:
        args.backlog_props = ["queued.max.messages.kbytes=32768"]
    for item in args.latency_seconds:
        size, _, seconds = item.partition("=")
        try:
            LATENCY_SECONDS[int(size)] = float(seconds)
        except ValueError:
            p.error("--latency-seconds wants SIZE=SECONDS, got %r" % item)
    twins = []
    if args.current_librdkafka:
        with open(os.path.join(args.current_librdkafka, ".mcorps-stamp")) as f:
            version = next(l.split()[1] for l in f if l.startswith("version "))
        twins = add_current_librdkafka(args.current_librdkafka, version)
    if args.render_only or args.backlog_only:
        return rerender(args)
    only = [c for c in args.only.split(",") if c] or list(CONTENDERS)
    # --only names contenders; their twins on the current librdkafka come along.
    if args.only and twins:
        only += [t for t in twins if t.split(" @")[0] in only and t not in only]
    unknown = [c for c in only if c not in CONTENDERS]
    if unknown:
        p.error("unknown contender(s): %s" % ", ".join(unknown))
    sizes = [int(s) for s in args.sizes.split(",") if s] or SIZES
    reps = 1 if args.quick and args.repetitions == 3 else args.repetitions
    os.makedirs(args.out, exist_ok=True)
    admin = Admin(args.brokers)
    runner = Runner(args)
    jaeger_state = None
    if any(CONTENDERS[c].get("tracing") for c in only):
        jaeger_state = tempfile.mkdtemp(prefix="mcorps-bench-jaeger-")
        runner.tracing_env = start_jaeger(jaeger_state)
    try:
        return run_all(args, only, sizes, reps, admin, runner)
    finally:
        if jaeger_state:
            subprocess.run([os.path.join(REPO, "scripts", "jaeger"), "stop", "--state", jaeger_state],
                           timeout=60)


def start_jaeger(state):
    """Starts a Jaeger (scripts/jaeger) and returns the OTEL_* variables that export to it."""
    out = subprocess.run([os.path.join(REPO, "scripts", "jaeger"), "start", "--state", state],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("scripts/jaeger start failed: " + out.stderr[-2000:])
    jaeger = dict(line.split("=", 1) for line in out.stdout.split())
    log("Jaeger for the +tracing contenders at", jaeger["JAEGER_QUERY"])
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + jaeger["JAEGER_OTLP_GRPC"],
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_SERVICE_NAME": "bench"}


def run_all(args, only, sizes, reps, admin, runner):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()
    loads = [load_average()]
    runs = []
    t0 = time.time()
    warm_up_broker(args.build_dir, admin, args.brokers, args.quick)
    for rep in range(reps):
        # The first repetition runs the contenders in the listed order, the others in a shuffled
        # (seeded, reproducible) one: what the broker still digests from the previous contender
        # then weighs on a different contender each time instead of always on the same ones.
        order = list(only)
        if rep > 0:
            random.Random(rep).shuffle(order)
        log("repetition %d order: %s" % (rep + 1, ", ".join(order)))
        for size in sizes:
            for name in order:
                count = QUICK_COUNT[size] if args.quick else COUNTS[name][size]
                log("rep %d/%d %-28s %-8s %d msgs" % (rep + 1, reps, name, SIZE_NAMES[size], count))
                try:
                    r = throughput_run(runner, admin, name, size, count)
                    if not args.no_latency and name in LATENCY_CONTENDERS:
                        r.update(latency_run(runner, admin, name, size,
                                             (QUICK_LATENCY_SECONDS if args.quick else LATENCY_SECONDS)[size]))
                except Exception as e:
                    log("FAILED:", e)
                    r = {"error": str(e)}
                r.update({"contender": name, "size": size, "rep": rep + 1, "load1": load_average()[0]})
                runs.append(r)
        loads.append(load_average())

    summary = {}
    for name in only:
        for size in sizes:
            rs = [r for r in runs if r["contender"] == name and r["size"] == size and "error" not in r]
            if not rs:
                continue
            summary.setdefault(name, {})[str(size)] = {
                m: summarize([r.get(m) for r in rs]) for m in METRICS if any(m in r for r in rs)}
    ratios = compute_ratios(summary)

    backlog = run_backlogs(args, runner, admin) if args.backlog > 0 else []
    if backlog:
        loads.append(load_average())

    micro_lines, micro, alloc = micro_summary(args.micro_json, args.alloc_json)
    results = {
        "started": started, "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "duration_s": time.time() - t0, "quick": args.quick, "repetitions": reps,
        "command": args.command, "machine": machine_info(), "load_averages": loads,
        "partitions": PARTITIONS, "latency_rates": RATES,
        "settings": {"producer": "acks=all, enable.idempotence=true, linger.ms=5 (all contenders)",
                     "consumer": "assign from the beginning, batches of 500; C++: queued.min.messages="
                                 "1000000, queued.max.messages.kbytes=65536"},
        "runs": runs, "summary": summary, "ratios": ratios, "backlog": backlog,
        "micro": micro, "alloc": alloc,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["contender", "size_bytes", "metric", "median", "min", "max", "n"])
        for name, by_size in summary.items():
            for size, metrics in by_size.items():
                for m, s in metrics.items():
                    if s:
                        w.writerow([name, size, m, s["median"], s["min"], s["max"], s["n"]])
    if args.plot and summary:
        plot(summary, args.plot)
    print(render_tables(summary, ratios, backlog, micro_lines))
    print("\nload averages (1/5/15 min) at start, after each repetition, at the end: %s" % loads)
    failures = [r for r in runs if "error" in r] + [b for b in backlog if "error" in b]
    if failures:
        log("%d run(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
