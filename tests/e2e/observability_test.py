#!/usr/bin/env python3
"""Observability of the example system, end to end on the embedded broker.

--check metrics: runs capture (looped video) -> predict -> store and display, each serving
  /metrics; scrapes every program's /metrics and parses it with prometheus_client's reference text
  parser (an independent implementation of the exposition format); checks the metric names kept
  from before, the per-topic end-to-end latency histogram, and that counters moved.
--check tracing: starts a real Jaeger (scripts/jaeger) and runs 30 frames through capture ->
  predict -> store and display with OTLP export (OTEL_* variables only); then asks Jaeger's query
  API, for every frame's trace id, for its spans, and checks each hop with its parent link:
    capture  publish VideoStream   PRODUCER  root
    predict  process VideoStream   CONSUMER  child of capture's publish
    predict  handle <handler>      INTERNAL  child of predict's process
    predict  publish Predictions   PRODUCER  child of predict's handle
    store    process VideoStream / process Predictions   CONSUMER children of the publishes
    display  process VideoStream / process Predictions   CONSUMER children of the publishes
  plus messaging.* attributes (system, destination, message id = the envelope uuid the consumer
  saw); that each frame's hop latency (frame sent -> prediction sent) in Jaeger is within 1 ms of
  what `mcorps trace` reports from the envelopes; that the display's page is given Jaeger's trace
  URL (--trace-url); and that the ECS JSON log lines of predict carry the trace ids of the frames.

Usage: observability_test.py --check metrics|tracing --repo DIR --bin-dir BUILD/services
Exit status 0 when every check passed; prints "N passed, M failed".
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
FRAMES = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def get_json(url, timeout=10):
    return json.loads(get(url, timeout))


class Pipeline:
    def __init__(self, bin_dir, workdir, env):
        self.bin_dir, self.workdir, self.env = bin_dir, workdir, env
        self.procs = []
        self.brokers = None

    def start(self, name, args, env=None, stdout=subprocess.DEVNULL):
        log = open(os.path.join(self.workdir, f"{name}.log"), "w")
        exe = os.path.join(self.bin_dir, name, f"mcorps-{name}")
        p = subprocess.Popen([exe] + args, stdout=stdout, stderr=log, start_new_session=True,
                             env={**self.env, **(env or {})})
        self.procs.append((name, p))
        return p

    def broker(self):
        bootstrap_file = os.path.join(self.workdir, "bootstrap")
        self.start("broker", ["--bootstrap-file", bootstrap_file])
        deadline = time.time() + 30  # the embedded broker starts in well under a second when idle
        while not os.path.exists(bootstrap_file):
            if time.time() > deadline:
                raise RuntimeError("mcorps-broker did not start")
            time.sleep(0.1)
        self.brokers = open(bootstrap_file).read().strip()
        return self.brokers

    def display(self, env=None, args=()):
        p = self.start("display", ["--brokers", self.brokers, "--port", "0", *args], env=env,
                       stdout=subprocess.PIPE)
        url = p.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"mcorps-display printed no URL ({url!r})")
        deadline = time.time() + 60  # group join on a loaded machine
        while get_json(url + "api/stats")["assigned_partitions"] == 0:
            if time.time() > deadline:
                raise RuntimeError("mcorps-display got no partitions")
            time.sleep(0.2)
        return url

    def wait(self, name, timeout):
        for n, p in self.procs:
            if n == name:
                return p.wait(timeout=timeout)
        raise KeyError(name)

    def stop(self, name):
        for n, p in self.procs:
            if n == name and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)

    def down(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in reversed(self.procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, what):
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def sample_value(families, name, **labels):
    total, found = 0.0, False
    for f in families:
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                found = True
    return total if found else None


def run_metrics(opts, check, workdir):
    from prometheus_client.parser import text_string_to_metric_families

    env = dict(os.environ)
    for k in list(env):
        if k.startswith("OTEL_"):
            del env[k]
    p = Pipeline(opts.bin_dir, workdir, env)
    try:
        brokers = p.broker()
        display_url = p.display()
        ports = {"capture": free_port(), "predict": free_port(), "store": free_port()}
        p.start("predict", ["--brokers", brokers, "--max-frame-age", "30",
                            "--metrics-port", str(ports["predict"])])
        p.start("store", ["--brokers", brokers, "--db", os.path.join(workdir, "store.db"),
                          "--metrics-port", str(ports["store"])])
        p.start("capture", ["--brokers", brokers, "--video", VIDEO, "--loop", "--fps", "10",
                            "--metrics-port", str(ports["capture"])])
        urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
        urls["display"] = display_url + "metrics"

        # Until frames went all the way through (predictions reached the store and the display).
        deadline = time.time() + opts.timeout
        texts = {}
        while time.time() < deadline:
            try:
                texts = {name: get(url) for name, url in urls.items()}
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
                continue
            store = list(text_string_to_metric_families(texts["store"]))
            got = sample_value(store, "messagecorps_messages_received_total") or 0
            preds = sample_value(store, "messagecorps_end_to_end_latency_seconds_count",
                                 topic="Predictions") or 0
            if got >= 20 and preds >= 3:
                break
            time.sleep(0.5)

        for name in ("capture", "predict", "store", "display"):
            text = texts.get(name, "")
            with open(os.path.join(opts.out, f"metrics-{name}.txt"), "w") as f:
                f.write(text)
            try:
                families = list(text_string_to_metric_families(text))
                parsed = True
            except Exception as e:  # noqa: BLE001 - the parser's error is the finding
                families, parsed = [], False
                print(f"  {name}: {e}")
            check(parsed and bool(families), f"{name}: /metrics parses with prometheus_client "
                                             f"({len(families)} families)")
            names = {f.name for f in families}
            kinds = {f.name: f.type for f in families}
            # Names kept from the hand-written renderer (the parser strips _total of counters).
            for kept in ("messagecorps_messages_sent", "messagecorps_messages_received",
                         "messagecorps_decode_failures", "messagecorps_client_errors"):
                check(kept in names and kinds[kept] == "counter", f"{name}: counter {kept}")
            check(kinds.get("messagecorps_handler_duration_seconds") == "histogram",
                  f"{name}: histogram messagecorps_handler_duration_seconds")
            if name != "capture":  # consumers only: it is observed per received record
                check(kinds.get("messagecorps_end_to_end_latency_seconds") == "histogram",
                      f"{name}: histogram messagecorps_end_to_end_latency_seconds")
            for f in families:
                if f.type != "histogram":
                    continue
                # Per series: buckets cumulative, +Inf bucket == _count.
                series = {}
                for s in f.samples:
                    key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                    series.setdefault(key, {"buckets": [], "count": None})
                    if s.name.endswith("_bucket"):
                        series[key]["buckets"].append((float(s.labels["le"]), s.value))
                    elif s.name.endswith("_count"):
                        series[key]["count"] = s.value
                ok = True
                for key, v in series.items():
                    b = sorted(v["buckets"])
                    ok = ok and bool(b) and b[-1][0] == float("inf") and b[-1][1] == v["count"]
                    ok = ok and all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1))
                check(ok, f"{name}: {f.name} buckets cumulative, +Inf == _count "
                          f"({len(series)} series)")
            if name == "capture":
                sent = sample_value(families, "messagecorps_messages_sent_total") or 0
                check(sent >= 20, f"capture: messages_sent_total {sent} >= 20")
            if name in ("store", "display"):
                families_by = {f.name: f for f in families}
                e2e = families_by.get("messagecorps_end_to_end_latency_seconds")
                topics = set()
                if e2e:
                    topics = {s.labels.get("topic") for s in e2e.samples if s.name.endswith("_count")
                              and s.value > 0}
                check({"VideoStream", "Predictions"} <= topics,
                      f"{name}: end-to-end latency observed per topic {sorted(topics)}")
                svc = {s.labels.get("service") for f in families for s in f.samples}
                check(svc == {f"{name}"} or len(svc) == 1, f"{name}: one service label {svc}")
    finally:
        p.down()


def run_tracing(opts, check, workdir):
    state = os.path.join(workdir, "jaeger")
    out = subprocess.run([os.path.join(opts.repo, "scripts", "jaeger"), "start", "--state", state],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(out.stderr)
        check(False, "scripts/jaeger start")
        return
    jaeger = dict(line.split("=", 1) for line in out.stdout.split())
    query = jaeger["JAEGER_QUERY"]
    env = dict(os.environ)
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + jaeger["JAEGER_OTLP_GRPC"],
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "MCORPS_LOG_FORMAT": "json",
    })
    p = Pipeline(opts.bin_dir, workdir, env)
    try:
        brokers = p.broker()
        # A --trace-url without the placeholder is refused before anything starts.
        bad = subprocess.run([os.path.join(opts.bin_dir, "display", "mcorps-display"),
                              "--trace-url", f"{query}/trace"], capture_output=True, text=True,
                             timeout=30)
        check(bad.returncode != 0 and "{trace_id}" in bad.stderr,
              f"mcorps-display refuses a --trace-url without {{trace_id}} (exit {bad.returncode})")
        trace_url = f"{query}/trace/{{trace_id}}"
        display_url = p.display(env={"OTEL_SERVICE_NAME": "display"},
                                args=["--trace-url", trace_url])
        # The page links each prediction's trace to Jaeger's UI (services/display/web/app.js).
        check(get_json(display_url + "api/config").get("trace_url") == trace_url,
              "the display page's /api/config names the Jaeger trace URL")
        # Debug level: the router's Logging middleware logs a line per handled record.
        p.start("predict", ["--brokers", brokers, "--no-skip", "--earliest", "--count",
                            str(FRAMES)],
                env={"OTEL_SERVICE_NAME": "predict", "MCORPS_LOG_LEVEL": "debug"})
        p.start("store", ["--brokers", brokers, "--db", os.path.join(workdir, "store.db"),
                          "--count", str(2 * FRAMES)], env={"OTEL_SERVICE_NAME": "store"})
        # The HTTP exporter this time: both OTLP transports are exercised.
        p.start("capture", ["--brokers", brokers, "--video", VIDEO, "--count", str(FRAMES),
                            "--fps", "10"],
                env={"OTEL_SERVICE_NAME": "capture",
                     "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger["JAEGER_OTLP_HTTP"],
                     "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
        check(p.wait("capture", opts.timeout) == 0, "capture sent its frames and exited 0")
        check(p.wait("predict", opts.timeout) == 0, f"predict handled {FRAMES} frames, exited 0")
        check(p.wait("store", opts.timeout) == 0, f"store stored {2 * FRAMES} records, exited 0")
        time.sleep(1)  # the display's last records
        p.stop("display")

        # Every process flushed its spans at exit; Jaeger's batch processor stores them within
        # ~100 ms.
        def traces_of(service):
            return get_json(f"{query}/api/traces?service={service}&limit=1000&lookback=1h")["data"]

        deadline = time.time() + 30
        traces = []
        while time.time() < deadline:
            traces = traces_of("capture")
            if len(traces) >= FRAMES:
                break
            time.sleep(1)
        check(len(traces) == FRAMES, f"Jaeger has {len(traces)} traces of capture (want {FRAMES})")
        time.sleep(2)  # spans of later hops of the same traces
        # The same traces as `mcorps trace` follows them through the topics (the broker still
        # runs): its per-hop latencies, from the envelopes, are compared with Jaeger's below.
        mcorps_hops = {}
        for t in traces:
            out = subprocess.run([opts.mcorps, "trace", t["traceID"], "-t", "VideoStream", "-t",
                                  "Predictions", "-b", brokers],
                                 capture_output=True, text=True, timeout=60)
            mcorps_hops[t["traceID"]] = [json.loads(line) for line in out.stdout.splitlines()
                                         if line.startswith("{")]
    finally:
        p.down()

    complete, problems = 0, []
    latency_gaps = []  # |Jaeger - mcorps trace| per trace, ms
    trace_ids = []
    predict_spans = set()
    for t in traces:
        tid = t["traceID"]
        trace_ids.append(tid)
        data = get_json(f"{query}/api/traces/{tid}")["data"][0]
        procs = {k: v["serviceName"] for k, v in data["processes"].items()}
        spans = {s["spanID"]: s for s in data["spans"]}
        predict_spans.update(sid for sid, s in spans.items() if procs[s["processID"]] == "predict")

        def tag(s, key):
            for tg in s["tags"]:
                if tg["key"] == key:
                    return tg["value"]
            return None

        def find(service, name):
            return [s for s in spans.values()
                    if procs[s["processID"]] == service and s["operationName"] == name]

        def parent(s):
            refs = [r for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
            return spans.get(refs[0]["spanID"]) if refs else None

        errs = []
        cap = find("capture", "publish VideoStream")
        if len(cap) != 1 or parent(cap[0]) is not None or tag(cap[0], "span.kind") != "producer":
            errs.append("capture publish root producer span")
        else:
            cap = cap[0]
            if tag(cap, "messaging.system") != "kafka" or not tag(cap, "messaging.message.id"):
                errs.append("capture publish attributes")
        pp = find("predict", "process VideoStream")
        if len(pp) != 1 or parent(pp[0]) is not cap or tag(pp[0], "span.kind") != "consumer":
            errs.append("predict process -> capture publish")
        elif tag(pp[0], "messaging.message.id") != tag(cap, "messaging.message.id"):
            errs.append("predict process message id == capture's envelope uuid")
        handles = [s for s in spans.values() if procs[s["processID"]] == "predict"
                   and s["operationName"].startswith("handle ")]
        if len(handles) != 1 or not pp or parent(handles[0]) is not pp[0]:
            errs.append("predict handle -> predict process")
        pub = find("predict", "publish Predictions")
        if len(pub) != 1 or not handles or parent(pub[0]) is not handles[0]:
            errs.append("predict publish -> predict handle")
        # Per-hop latency: frame sent -> prediction sent, as Jaeger's publish spans start and as
        # `mcorps trace` computes it from the two envelopes' timestamps (1 ms apart at most).
        hops = mcorps_hops.get(tid, [])
        if len(hops) != 2 or hops[1].get("topic") != "Predictions" or not pub or \
                not isinstance(cap, dict):
            errs.append(f"mcorps trace found {len(hops)} hops (want VideoStream, Predictions)")
        else:
            jaeger_ms = (pub[0]["startTime"] - cap["startTime"]) / 1000.0  # microseconds
            latency_gaps.append(abs(jaeger_ms - hops[1]["latency_ms"]))
            if latency_gaps[-1] > 1.0:
                errs.append(f"hop latency: Jaeger {jaeger_ms:.3f} ms, mcorps trace "
                            f"{hops[1]['latency_ms']:.3f} ms")
        for svc in ("store", "display"):
            sv = find(svc, "process VideoStream")
            if len(sv) != 1 or parent(sv[0]) is not cap:
                errs.append(f"{svc} process VideoStream -> capture publish")
            sp = find(svc, "process Predictions")
            if len(sp) != 1 or not pub or parent(sp[0]) is not pub[0]:
                errs.append(f"{svc} process Predictions -> predict publish")
        if errs:
            problems.append((tid, errs))
        else:
            complete += 1
    for tid, errs in problems[:3]:
        print(f"  trace {tid}: {', '.join(errs)}")
    check(complete == FRAMES, f"{complete} of {len(traces)} traces have every hop with correct "
                              "parent links and hop latencies within 1 ms of mcorps trace's "
                              f"(largest gap {max(latency_gaps, default=float('nan')):.3f} ms)")

    # Logs and traces join: predict's ECS JSON lines logged inside a span carry the trace id and
    # the id of the active span (one of predict's spans in Jaeger, not the record's traceparent).
    logged, logged_spans = set(), set()
    with open(os.path.join(workdir, "predict.log")) as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("trace.id") and doc.get("span.id"):
                logged.add(doc["trace.id"])
                logged_spans.add(doc["span.id"])
    check(len(logged) == FRAMES and logged <= set(trace_ids),
          f"predict's JSON log lines carry trace.id of the frames ({len(logged)} traces)")
    check(bool(logged_spans) and logged_spans <= predict_spans,
          f"their span.id is an active span of predict in Jaeger ({len(logged_spans)} spans)")
    subprocess.run([os.path.join(opts.repo, "scripts", "jaeger"), "stop", "--state", state],
                   timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", choices=["metrics", "tracing"], required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--out", default=os.environ.get("MESSAGECORPS_BINARY_DIR", "."))
    ap.add_argument("--mcorps", help="the mcorps tool (default: OUT/tools/mcorps/mcorps)")
    ap.add_argument("--timeout", type=float, default=180)
    opts = ap.parse_args()
    opts.mcorps = opts.mcorps or os.path.join(opts.out, "tools", "mcorps", "mcorps")
    check = Checks()
    workdir = tempfile.mkdtemp(prefix=f"mcorps-obs-{opts.check}-")
    try:
        if opts.check == "metrics":
            run_metrics(opts, check, workdir)
        else:
            run_tracing(opts, check, workdir)
    except Exception as e:  # noqa: BLE001 - reported as a failure with the logs' place
        check(False, f"unexpected error: {e!r} (logs in {workdir})")
    print(f"{check.passed} passed, {check.failed} failed")
    return 0 if check.failed == 0 and check.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
