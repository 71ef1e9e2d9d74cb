// Shared by the benchmark programs: the synthetic payload, clocks, resource usage and a tiny JSON
// line writer (one result object per run, read by bench/python/run_bench.py).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace mcbench {

// A synthetic camera-like frame: a horizontal/vertical gradient (640 pixels per row, 3 bytes per
// pixel) plus 4 bits of noise from a 32-bit LCG. Deterministic, moderately compressible (like a
// real frame), and byte-identical to bench/python/common.py's payload().
inline std::string Payload(size_t size) {
  std::string out(size, '\0');
  uint32_t state = 12345;
  for (size_t i = 0; i < size; ++i) {
    state = state * 1664525u + 1013904223u;
    const uint32_t v = static_cast<uint32_t>((i % 1920) / 9 + (i / 1920) / 2 + (state >> 28));
    out[i] = static_cast<char>(v & 0xFF);
  }
  return out;
}

// Wall-clock nanoseconds (CLOCK_REALTIME): what both ends of a latency measurement compare.
inline int64_t RealtimeNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Usage {
  double user = 0;
  double sys = 0;
  long maxrss_kb = 0;
};

inline Usage ProcessUsage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  Usage u;
  u.user = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  u.sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  u.maxrss_kb = ru.ru_maxrss;
  return u;
}

// Current resident set size from /proc/self/statm (kB).
inline long CurrentRssKb() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * 4;
}

// p in [0, 100]; nearest-rank on a sorted copy.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return v[lo] * (1 - frac) + v[hi] * frac;
}

// Builds one flat JSON object (numbers and strings only).
class JsonLine {
 public:
  JsonLine& Num(std::string_view key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    fields_.emplace_back(std::string(key), buf);
    return *this;
  }
  JsonLine& Str(std::string_view key, std::string_view value) {
    std::string quoted = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        quoted += ' ';
        continue;
      }
      quoted += c;
    }
    quoted += '"';
    fields_.emplace_back(std::string(key), quoted);
    return *this;
  }
  JsonLine& Bool(std::string_view key, bool value) {
    fields_.emplace_back(std::string(key), value ? "true" : "false");
    return *this;
  }
  std::string Text() const {
    std::ostringstream out;
    out << '{';
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (i) out << ", ";
      out << '"' << fields_[i].first << "\": " << fields_[i].second;
    }
    out << '}';
    return out.str();
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace mcbench
