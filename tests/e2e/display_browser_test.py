#!/usr/bin/env python3
"""Browser test of the display page, with the whole pipeline running.

Starts mcorps-broker (embedded Kafka), mcorps-predict, mcorps-display and mcorps-capture (the
pedestrian video, looped), then drives Debian's headless Chromium through chromedriver's W3C
WebDriver HTTP API (stdlib only: no browser or driver is ever downloaded) and checks that the page
 * shows detected labels in the DOM (#labels li.label, e.g. "person"),
 * keeps drawing: two screenshots of the canvas a second apart differ,
 * shows live figures (frames/s is a number),
 * captions the frame with its trace id: 32 hex digits that `mcorps trace` finds on a frame the
   capture service sent to VideoStream.
A screenshot is saved as display_page.png in --out (default: $MESSAGECORPS_BINARY_DIR or .).

Usage: display_browser_test.py --bin-dir BUILD/services --mcorps BUILD/tools/mcorps/mcorps
                               [--out DIR] [--video PATH]
Exit status 0 when every check passed; prints "N passed, M failed".
"""
import argparse
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {url}: {e.code} {e.read().decode()[:500]}") from None


class WebDriver:
    """The few W3C WebDriver commands this test needs."""

    def __init__(self, port, profile):
        self.base = f"http://127.0.0.1:{port}"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         f"--user-data-dir={profile}", "--window-size=1280,900"]}}}}
        self.session = http("POST", f"{self.base}/session", caps)["value"]["sessionId"]
        self.url = f"{self.base}/session/{self.session}"

    def get(self, url):
        http("POST", f"{self.url}/url", {"url": url})

    def script(self, source, *args):
        return http("POST", f"{self.url}/execute/sync", {"script": source, "args": list(args)})["value"]

    def screenshot(self):
        return base64.b64decode(http("GET", f"{self.url}/screenshot")["value"])

    def quit(self):
        try:
            http("DELETE", self.url, timeout=10)
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


class Pipeline:
    def __init__(self, bin_dir, video, workdir):
        self.bin_dir, self.video, self.workdir = bin_dir, video, workdir
        self.procs = []
        self.brokers = None

    def start(self, name, args, stdout=subprocess.DEVNULL):
        log = open(os.path.join(self.workdir, f"{name}.log"), "w")
        exe = os.path.join(self.bin_dir, name.split("-")[0], f"mcorps-{name.split('-')[0]}")
        p = subprocess.Popen([exe] + args, stdout=stdout, stderr=log, start_new_session=True)
        self.procs.append((name, p))
        return p

    def up(self):
        bootstrap_file = os.path.join(self.workdir, "bootstrap")
        self.start("broker", ["--bootstrap-file", bootstrap_file])
        deadline = time.time() + 30
        while not os.path.exists(bootstrap_file):
            if time.time() > deadline:
                raise RuntimeError("mcorps-broker did not start")
            time.sleep(0.1)
        brokers = open(bootstrap_file).read().strip()
        self.brokers = brokers
        display = self.start("display", ["--brokers", brokers, "--port", "0"], stdout=subprocess.PIPE)
        url = display.stdout.readline().decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"mcorps-display printed no URL ({url!r})")
        self.start("predict", ["--brokers", brokers, "--max-frame-age", "5"])
        # Wait until the display has joined its group (it reads from the newest frame on).
        deadline = time.time() + 30
        while http("GET", url + "api/stats")["assigned_partitions"] == 0:
            if time.time() > deadline:
                raise RuntimeError("mcorps-display got no partitions")
            time.sleep(0.2)
        self.start("capture", ["--brokers", brokers, "--video", self.video, "--loop", "--fps", "10"])
        return url

    def stop(self, name):
        for n, p in self.procs:
            if n == name and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=15)

    def down(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--mcorps", required=True, help="the mcorps binary (looks the trace id up)")
    ap.add_argument("--out", default=os.environ.get("MESSAGECORPS_BINARY_DIR", "."))
    ap.add_argument("--video", default=VIDEO)
    ap.add_argument("--timeout", type=float, default=90)
    opts = ap.parse_args()

    passed, failed = 0, 0

    def check(ok, what):
        nonlocal passed, failed
        print(("PASS " if ok else "FAIL ") + what, flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    workdir = tempfile.mkdtemp(prefix="mcorps-browser-")
    pipeline = Pipeline(os.path.abspath(opts.bin_dir), opts.video, workdir)
    driver_port = free_port()
    driver = None
    chromedriver = subprocess.Popen([CHROMEDRIVER, f"--port={driver_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
    try:
        url = pipeline.up()
        print(f"display at {url}", flush=True)
        deadline = time.time() + 20
        while True:
            try:
                http("GET", f"http://127.0.0.1:{driver_port}/status", timeout=2)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.time() > deadline:
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.2)
        driver = WebDriver(driver_port, tempfile.mkdtemp(prefix="mcorps-chromium-"))
        driver.get(url)

        labels, deadline = [], time.time() + opts.timeout
        while time.time() < deadline:
            labels = driver.script(
                "return [...document.querySelectorAll('#labels li.label')].map(e => e.dataset.label)")
            if labels:
                break
            time.sleep(0.5)
        check(bool(labels), f"labels shown in the page: {labels}")
        check("person" in labels or any("person" in l for l in labels),
              "a person is labelled on the pedestrian video")

        first = driver.script("return document.getElementById('canvas').toDataURL('image/png')")
        time.sleep(1.5)
        second = driver.script("return document.getElementById('canvas').toDataURL('image/png')")
        check(first != second, "the canvas changes between two captures 1.5 s apart")

        time.sleep(1.5)
        fps = driver.script("return document.getElementById('fps').textContent")
        try:
            fps_value = float(fps)
        except ValueError:
            fps_value = 0.0
        check(fps_value > 0, f"frames/s shown on the page: {fps}")
        caption = driver.script("return document.getElementById('caption').textContent")
        found = re.search(r"\btrace ([0-9a-f]{32})\b", caption)
        check(found is not None, f"caption shows a 32-hex trace id: {caption[:120]}")

        png = driver.screenshot()
        os.makedirs(opts.out, exist_ok=True)
        path = os.path.join(opts.out, "display_page.png")
        with open(path, "wb") as f:
            f.write(png)
        check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, f"screenshot saved to {path}")

        if found:
            # The id is a frame's that was sent: the capture service's record in VideoStream has it.
            # The capture stops first, so that `mcorps trace` reaches the end of the topic.
            trace_id = found.group(1)
            pipeline.stop("capture")
            traced = subprocess.run(
                [opts.mcorps, "trace", trace_id, "-t", "VideoStream", "-b", pipeline.brokers],
                capture_output=True, text=True, timeout=120)
            hops = [json.loads(line) for line in traced.stdout.splitlines() if line.strip()]
            sent = [h for h in hops if h.get("topic") == "VideoStream" and h.get("service") == "capture"]
            check(traced.returncode == 0 and len(sent) == 1,
                  f"trace {trace_id} is a frame capture sent to VideoStream: exit {traced.returncode}, "
                  f"hops {hops}, {traced.stderr.strip()[-300:]}")
    except Exception as e:  # noqa: BLE001 - report as a failure with the logs
        check(False, f"pipeline or browser error: {e}")
        for name in ("broker", "display", "predict", "capture"):
            log = os.path.join(workdir, f"{name}.log")
            if os.path.exists(log):
                print(f"--- {name}.log (tail)")
                print("".join(open(log).readlines()[-15:]))
    finally:
        if driver:
            driver.quit()
        chromedriver.terminate()
        try:
            chromedriver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromedriver.kill()
        pipeline.down()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
