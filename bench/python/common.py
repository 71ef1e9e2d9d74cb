"""Shared by the Python contenders and the driver: payload, percentiles, result lines."""
import json
import resource
import sys
import time


def payload(size):
    """The synthetic frame of bench/bench_common.h (byte-identical): gradient + 4 bits of LCG noise."""
    out = bytearray(size)
    state = 12345
    for i in range(size):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = ((i % 1920) // 9 + (i // 1920) // 2 + (state >> 28)) & 0xFF
    return bytes(out)


def percentile(values, p):
    """Linear interpolation between closest ranks (as bench_common.h's Percentile)."""
    if not values:
        return -1.0
    v = sorted(values)
    rank = p / 100.0 * (len(v) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(v) - 1)
    frac = rank - lo
    return v[lo] * (1 - frac) + v[hi] * frac


def usage():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime, ru.ru_maxrss


class Phase:
    """Wall time and process CPU of the measured phase (every thread of the process)."""

    def start(self):
        self.u0 = usage()
        self.t0 = time.monotonic()

    def finish(self, messages, payload_bytes, value_bytes):
        t1 = time.monotonic()
        u1 = usage()
        secs = t1 - self.t0
        if messages <= 0 or secs <= 0:  # nothing timed (a tiny run that arrived in one batch)
            secs = float("inf")
        return {
            "messages": messages,
            "seconds": secs,
            "msgs_per_s": messages / secs,
            "mb_per_s": payload_bytes / secs / 1e6,
            "value_bytes": value_bytes,
            "cpu_user_s": u1[0] - self.u0[0],
            "cpu_sys_s": u1[1] - self.u0[1],
            "cpu_s": (u1[0] - self.u0[0]) + (u1[1] - self.u0[1]),
            "maxrss_kb": u1[2],
        }


def latency_fields(ms):
    return {
        "latency_samples": len(ms),
        "lat_p50_ms": percentile(ms, 50),
        "lat_p99_ms": percentile(ms, 99),
        "lat_max_ms": percentile(ms, 100),
    }


def emit(result):
    result["ok"] = True
    print(json.dumps(result), flush=True)


def die(what):
    print("contender: " + what, file=sys.stderr, flush=True)
    print(json.dumps({"ok": False, "error": what}), flush=True)
    sys.exit(1)


class Pacer:
    """Sends at `rate` per second on an absolute schedule (no drift); rate 0: as fast as possible."""

    def __init__(self, rate):
        self.rate = rate
        self.t0 = time.monotonic()

    def wait(self, i):
        if self.rate <= 0:
            return
        delay = self.t0 + i / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
