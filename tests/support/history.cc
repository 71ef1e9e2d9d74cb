#include "support/history.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "messagecorps/version.h"

namespace messagecorps::testing {

namespace {

constexpr size_t kExamplesPerKind = 5;

std::string Id(const std::string& writer, int64_t seq) { return absl::StrCat(writer, "#", seq); }

std::string At(const ReadRecord& r) {
  return absl::StrCat(r.topic, "[", r.partition, "]@", r.offset);
}

// The input partition a read record stands for: its source's for a derived record, else its own.
int32_t SourcePartition(const ReadRecord& r) {
  return r.input_partition >= 0 ? r.input_partition : r.partition;
}

bool Affects(const Fault& f, int32_t partition) {
  return f.partitions.empty() ||
         std::find(f.partitions.begin(), f.partitions.end(), partition) != f.partitions.end();
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

History::History(std::string scenario) : scenario_(std::move(scenario)) {}

void History::Sent(const std::string& writer, int64_t seq) {
  std::lock_guard lock(mu_);
  sends_[{writer, seq}].sent = true;
  ++sent_;
}

void History::Acked(const std::string& writer, int64_t seq, int32_t partition, int64_t offset,
                    int64_t at_ns) {
  std::lock_guard lock(mu_);
  Send& s = sends_[{writer, seq}];
  ++s.reports;
  if (!s.acked) {
    s.acked = true;
    s.ack_ns = at_ns;
    s.partition = partition;
    s.offset = offset;
  }
}

void History::Failed(const std::string& writer, int64_t seq, const absl::Status& status,
                     bool possibly_persisted, int64_t /*at_ns*/) {
  std::lock_guard lock(mu_);
  Send& s = sends_[{writer, seq}];
  ++s.reports;
  if (!possibly_persisted) s.failed_not_persisted = true;
  ++failed_;
  ++failed_by_code_[absl::StatusCodeToString(status.code())];
}

void History::Aborted(const std::string& transaction) {
  std::lock_guard lock(mu_);
  aborted_.push_back(transaction);
}

void History::Read(ReadRecord record) {
  std::lock_guard lock(mu_);
  reads_.push_back(std::move(record));
}

void History::AddFault(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(fault));
}

void History::Killed(const std::string& incarnation, std::map<int32_t, int64_t> committed) {
  std::lock_guard lock(mu_);
  killed_[incarnation] = std::move(committed);
}

void History::SetExtra(const std::string& key, double value) {
  std::lock_guard lock(mu_);
  extra_[key] = value;
}

HistoryReport History::Check() const {
  std::lock_guard lock(mu_);
  HistoryReport r;
  r.scenario = scenario_;
  r.librdkafka = std::string(LibrdkafkaVersion());
  r.extra = extra_;
  std::map<std::string, size_t> examples_of;
  auto example = [&](const std::string& kind, const std::string& text) {
    if (examples_of[kind]++ < kExamplesPerKind) r.examples.push_back(kind + ": " + text);
  };

  // Sends and their reports.
  r.sent = sent_;
  r.failed = failed_;
  r.failed_by_code = failed_by_code_;
  for (const auto& [key, s] : sends_) {
    if (s.acked) ++r.acked;
    if (!s.sent) {
      ++r.reports_extra;
      example("report without a send", Id(key.writer, key.seq));
    } else if (s.reports == 0) {
      ++r.reports_missing;
      example("no report", Id(key.writer, key.seq));
    } else if (s.reports > 1) {
      r.reports_extra += static_cast<uint64_t>(s.reports - 1);
      example("several reports", absl::StrCat(Id(key.writer, key.seq), " got ", s.reports));
    }
  }

  // Reads: each log position once (a reader that reads a position twice is not a duplicate in the
  // log), in log order.
  std::vector<const ReadRecord*> reads;
  {
    std::set<std::tuple<std::string, int32_t, int64_t>> positions;
    for (const ReadRecord& rec : reads_) {
      if (positions.insert({rec.topic, rec.partition, rec.offset}).second) reads.push_back(&rec);
    }
    std::sort(reads.begin(), reads.end(), [](const ReadRecord* a, const ReadRecord* b) {
      return std::tie(a->topic, a->partition, a->offset) <
             std::tie(b->topic, b->partition, b->offset);
    });
  }
  r.read = reads.size();
  const std::set<std::string> aborted(aborted_.begin(), aborted_.end());

  // Copies per (writer, seq); order per (topic, partition, writer).
  std::map<Key, std::vector<const ReadRecord*>> copies;
  std::map<std::tuple<std::string, int32_t, std::string>, const ReadRecord*> last_in_stream;
  for (const ReadRecord* rec : reads) {
    if (rec->writer.empty()) {
      ++r.unknown;
      example("undecodable", At(*rec));
      continue;
    }
    if (!rec->transaction.empty() && aborted.count(rec->transaction)) {
      ++r.aborted_reads;
      example("aborted read", absl::StrCat(Id(rec->writer, rec->seq), " of transaction ",
                                           rec->transaction, " at ", At(*rec)));
    }
    auto& c = copies[{rec->writer, rec->seq}];
    c.push_back(rec);
    if (c.size() > 1) continue;  // a duplicate: counted below, not an order violation
    auto& last = last_in_stream[{rec->topic, rec->partition, rec->writer}];
    if (last != nullptr && last->seq > rec->seq) {
      ++r.reordered;
      example("reordered", absl::StrCat(Id(rec->writer, rec->seq), " at ", At(*rec), " after ",
                                        Id(last->writer, last->seq), " at ", At(*last)));
    }
    if (last == nullptr || rec->seq > last->seq) last = rec;
  }
  r.distinct = copies.size();

  for (const auto& [key, c] : copies) {
    auto send = sends_.find(key);
    if (send == sends_.end() || !send->second.sent) {
      ++r.unknown;
      example("never sent", absl::StrCat(Id(key.writer, key.seq), " at ", At(*c.front())));
      continue;
    }
    if (!send->second.acked) {
      ++r.unacked_present;
      if (send->second.failed_not_persisted) {
        ++r.not_persisted_but_read;
        example("failed as not written, yet read",
                absl::StrCat(Id(key.writer, key.seq), " at ", At(*c.front())));
      }
    }
    if (c.size() < 2) continue;
    r.duplicated += c.size() - 1;
    // Explained by a kill: a copy written by a killed incarnation from an input record at or after
    // where its group had committed when it died.
    bool explained = false;
    for (const ReadRecord* copy : c) {
      auto k = killed_.find(copy->processed_by);
      if (k == killed_.end()) continue;
      auto committed = k->second.find(copy->input_partition);
      const int64_t from = committed == k->second.end() ? 0 : committed->second;
      if (copy->input_offset >= from) explained = true;
    }
    if (explained) {
      r.duplicated_after_kill += c.size() - 1;
    } else {
      r.duplicated_unexplained += c.size() - 1;
    }
    std::string where;
    for (const ReadRecord* copy : c) {
      absl::StrAppend(&where, " ", At(*copy),
                      copy->processed_by.empty() ? "" : absl::StrCat(" by ", copy->processed_by));
    }
    example(explained ? "duplicate after a kill" : "duplicate",
            absl::StrCat(Id(key.writer, key.seq), ":", where));
  }

  for (const auto& [key, s] : sends_) {
    if (s.acked && !copies.count(key)) {
      ++r.lost;
      example("lost", absl::StrCat(Id(key.writer, key.seq), " acked at partition ", s.partition,
                                   " offset ", s.offset));
    }
  }

  // Named readers.
  {
    std::map<std::string, std::set<std::tuple<std::string, int32_t, int64_t>>> positions;
    std::map<std::string, std::set<Key>> seen;
    for (const ReadRecord& rec : reads_) {
      if (rec.reader.empty()) continue;
      ReaderReport& rr = r.readers[rec.reader];
      ++rr.read;
      if (!positions[rec.reader].insert({rec.topic, rec.partition, rec.offset}).second) {
        ++rr.redelivered;
      }
      if (!rec.writer.empty()) seen[rec.reader].insert({rec.writer, rec.seq});
    }
    for (auto& [name, rr] : r.readers) {
      for (const auto& [key, s] : sends_) {
        if (s.acked && !seen[name].count(key)) {
          ++rr.missing;
          example(absl::StrCat("missed by ", name), Id(key.writer, key.seq));
        }
      }
    }
  }

  // Recovery per fault.
  for (const Fault& f : faults_) {
    FaultRecovery fr;
    fr.what = f.what;
    int64_t first_ack = std::numeric_limits<int64_t>::max();
    if (f.victim.empty()) {
      for (const auto& [key, s] : sends_) {
        if (s.acked && s.ack_ns > f.at_ns && Affects(f, s.partition)) {
          first_ack = std::min(first_ack, s.ack_ns);
        }
      }
      if (first_ack != std::numeric_limits<int64_t>::max())
        fr.delivery_ms = Ms(first_ack - f.at_ns);
    }
    int64_t first_read = std::numeric_limits<int64_t>::max();
    for (const ReadRecord& rec : reads_) {
      if (rec.at_ns <= f.at_ns || rec.writer.empty() || !Affects(f, SourcePartition(rec))) continue;
      if (f.victim.empty()) {
        auto s = sends_.find({rec.writer, rec.seq});
        if (s == sends_.end() || !s->second.acked || s->second.ack_ns <= f.at_ns) continue;
      } else if (rec.processed_by == f.victim) {
        continue;
      }
      first_read = std::min(first_read, rec.at_ns);
    }
    if (first_read != std::numeric_limits<int64_t>::max()) fr.consume_ms = Ms(first_read - f.at_ns);
    r.faults.push_back(std::move(fr));
  }
  return r;
}

double HistoryReport::MaxDeliveryRecoveryMs() const {
  double m = -1;
  for (const auto& f : faults) m = std::max(m, f.delivery_ms);
  return m;
}

double HistoryReport::MaxConsumeRecoveryMs() const {
  double m = -1;
  for (const auto& f : faults) m = std::max(m, f.consume_ms);
  return m;
}

std::string HistoryReport::SummaryLine() const {
  nlohmann::ordered_json j;
  j["scenario"] = scenario;
  j["librdkafka"] = librdkafka;
  j["sent"] = sent;
  j["acked"] = acked;
  j["failed"] = failed;
  j["failed_by_code"] = failed_by_code;
  j["reports_missing"] = reports_missing;
  j["reports_extra"] = reports_extra;
  j["read"] = read;
  j["distinct"] = distinct;
  j["lost"] = lost;
  j["duplicated"] = duplicated;
  j["duplicated_after_kill"] = duplicated_after_kill;
  j["duplicated_unexplained"] = duplicated_unexplained;
  j["reordered"] = reordered;
  j["aborted_reads"] = aborted_reads;
  j["unacked_present"] = unacked_present;
  j["not_persisted_but_read"] = not_persisted_but_read;
  j["unknown"] = unknown;
  j["faults"] = faults.size();
  // Rounded to the millisecond: the clock reads are nanoseconds, the faults' effects are not.
  auto round = [](double ms) {
    return ms < 0 ? -1.0 : static_cast<double>(static_cast<int64_t>(ms + 0.5));
  };
  j["recovery_delivery_ms_max"] = round(MaxDeliveryRecoveryMs());
  j["recovery_consume_ms_max"] = round(MaxConsumeRecoveryMs());
  nlohmann::ordered_json per_fault = nlohmann::ordered_json::array();
  for (const auto& f : faults) {
    per_fault.push_back({{"what", f.what},
                         {"delivery_ms", round(f.delivery_ms)},
                         {"consume_ms", round(f.consume_ms)}});
  }
  j["recovery"] = per_fault;
  if (!readers.empty()) {
    nlohmann::ordered_json rj = nlohmann::ordered_json::object();
    for (const auto& [name, rr] : readers) {
      rj[name] = {{"read", rr.read}, {"redelivered", rr.redelivered}, {"missing", rr.missing}};
    }
    j["readers"] = rj;
  }
  for (const auto& [k, v] : extra) j[k] = v;
  return "mcorps-history " + j.dump();
}

std::string HistoryReport::Details() const {
  std::ostringstream out;
  for (const auto& e : examples) out << "  " << e << "\n";
  return out.str();
}

void History::Publish(const HistoryReport& report) {
  const std::string line = report.SummaryLine();
  std::cout << line << std::endl;
  if (const char* path = std::getenv("MESSAGECORPS_HISTORY_OUT"); path && *path) {
    std::ofstream out(path, std::ios::app);
    out << line << "\n";
  }
}

}  // namespace messagecorps::testing
