#include "support/ownership.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace messagecorps::testing {

namespace {

struct Interval {
  std::string owner;
  int64_t from;
  int64_t to;
};

constexpr int64_t kOpen = std::numeric_limits<int64_t>::max();

// Ownership intervals per partition.
std::map<int32_t, std::vector<Interval>> Intervals(std::vector<OwnershipEvent> events) {
  std::stable_sort(
      events.begin(), events.end(),
      [](const OwnershipEvent& a, const OwnershipEvent& b) { return a.at_ns < b.at_ns; });
  std::map<int32_t, std::vector<Interval>> out;
  std::map<std::pair<std::string, int32_t>, size_t> open;  // (owner, partition) -> interval index
  auto close = [&](const std::string& owner, int32_t partition, int64_t at) {
    auto it = open.find({owner, partition});
    if (it == open.end()) return;
    out[partition][it->second].to = at;
    open.erase(it);
  };
  for (const OwnershipEvent& e : events) {
    switch (e.kind) {
      case OwnershipEvent::kAssign:
        if (open.count({e.owner, e.partition})) break;  // assigned twice: still one interval
        open[{e.owner, e.partition}] = out[e.partition].size();
        out[e.partition].push_back({e.owner, e.at_ns, kOpen});
        break;
      case OwnershipEvent::kRevoke:
        close(e.owner, e.partition, e.at_ns);
        break;
      case OwnershipEvent::kGone: {
        std::vector<int32_t> held;
        for (const auto& [key, index] : open) {
          if (key.first == e.owner) held.push_back(key.second);
        }
        for (int32_t p : held) close(e.owner, p, e.at_ns);
        break;
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<OwnershipEvent>> ReadOwnershipLog(const std::string& path,
                                                             const std::string& owner) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<OwnershipEvent> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string kind;
    OwnershipEvent e;
    e.owner = owner;
    if (!(words >> kind >> e.at_ns)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": \"", line, "\""));
    }
    if (kind == "stopped") {
      e.kind = OwnershipEvent::kGone;
    } else if ((kind == "assign" || kind == "revoke") && (words >> e.partition)) {
      e.kind = kind == "assign" ? OwnershipEvent::kAssign : OwnershipEvent::kRevoke;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": \"", line, "\""));
    }
    out.push_back(std::move(e));
  }
  return out;
}

OwnershipReport CheckOwnership(std::vector<OwnershipEvent> events) {
  OwnershipReport report;
  for (auto& [partition, intervals] : Intervals(std::move(events))) {
    std::sort(intervals.begin(), intervals.end(),
              [](const Interval& a, const Interval& b) { return a.from < b.from; });
    for (size_t i = 0; i < intervals.size(); ++i) {
      for (size_t j = i + 1; j < intervals.size() && intervals[j].from < intervals[i].to; ++j) {
        if (intervals[j].owner == intervals[i].owner) continue;
        ++report.overlaps;
        if (report.examples.size() < 5) {
          report.examples.push_back(absl::StrCat(
              "partition ", partition, ": ", intervals[j].owner, " assigned while ",
              intervals[i].owner, " still owned it (",
              (intervals[i].to == kOpen
                   ? std::string("never released")
                   : absl::StrCat("released ", (intervals[i].to - intervals[j].from) / 1000000,
                                  " ms later")),
              ")"));
        }
      }
    }
  }
  return report;
}

std::vector<int32_t> OwnedAt(const std::vector<OwnershipEvent>& events, const std::string& owner,
                             int64_t at_ns) {
  std::vector<int32_t> out;
  for (const auto& [partition, intervals] : Intervals(events)) {
    for (const Interval& i : intervals) {
      if (i.owner == owner && i.from <= at_ns && at_ns < i.to) {
        out.push_back(partition);
        break;
      }
    }
  }
  return out;
}

}  // namespace messagecorps::testing
