// Store on top of a SqlBackend: messages -> rows (store.h), trace queries -> JSON.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/frame_codec.h"
#include "messagecorps/envelope.h"
#include "store/schema.h"
#include "store/sql_backend.h"
#include "store/store.h"

namespace messagecorps::services {
namespace {

using protobuf::common::messageData;

std::vector<SqlParam> EnvelopeParams(const RecordKey& key, const std::string& type,
                                     const messageData& e) {
  return {key.topic,
          int64_t{key.partition},
          key.offset,
          type,
          e.uuid(),
          e.trace_id(),
          e.span_id(),
          e.parent_span_id(),
          e.timestamp(),
          e.iso_date(),
          sql::EnvironmentName(e.environment()),
          e.sending_service(),
          sql::NowSeconds()};
}

const std::vector<ColumnKind> kEnvelopeKinds = {
    ColumnKind::kText,   ColumnKind::kInt,  ColumnKind::kInt,  ColumnKind::kText,
    ColumnKind::kText,   ColumnKind::kText, ColumnKind::kText, ColumnKind::kText,
    ColumnKind::kDouble, ColumnKind::kText, ColumnKind::kText, ColumnKind::kText,
    ColumnKind::kDouble};
const char* const kEnvelopeNames[] = {"topic",     "partition", "offset",      "message_type",
                                      "uuid",      "trace_id",  "span_id",     "parent_span_id",
                                      "timestamp", "iso_date",  "environment", "sending_service",
                                      "stored_at"};

nlohmann::json CellJson(const SqlCell& c) {
  if (std::holds_alternative<int64_t>(c)) return std::get<int64_t>(c);
  if (std::holds_alternative<double>(c)) return std::get<double>(c);
  if (std::holds_alternative<std::string>(c)) return std::get<std::string>(c);
  return nullptr;
}

// Builds {"envelope": {...}, <names>: ...} from a row whose first columns are the envelope's.
nlohmann::json RowJson(const std::vector<SqlCell>& row, const std::vector<std::string>& names,
                       const std::vector<std::string>& json_columns = {}) {
  nlohmann::json envelope = nlohmann::json::object();
  const size_t n_env = kEnvelopeKinds.size();
  for (size_t i = 0; i < n_env && i < row.size(); ++i)
    envelope[kEnvelopeNames[i]] = CellJson(row[i]);
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < names.size() && n_env + i < row.size(); ++i) {
    nlohmann::json v = CellJson(row[n_env + i]);
    bool is_json = false;
    for (const auto& j : json_columns) is_json |= j == names[i];
    if (is_json && v.is_string()) {
      v = nlohmann::json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    }
    out[names[i]] = std::move(v);
  }
  out["envelope"] = std::move(envelope);
  return out;
}

std::vector<ColumnKind> With(std::vector<ColumnKind> extra) {
  std::vector<ColumnKind> kinds = kEnvelopeKinds;
  kinds.insert(kinds.end(), extra.begin(), extra.end());
  return kinds;
}

class SqlStore : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlBackend> db) : db_(std::move(db)) {}

  absl::Status Migrate() {
    for (const std::string& statement : sql::Schema(db_->blob_type())) {
      auto r = db_->Exec(statement, {});
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> PutFrame(const RecordKey& key, const protobuf::data::Image& image,
                                bool keep_image) override {
    std::vector<SqlParam> frame = {key.topic,
                                   int64_t{key.partition},
                                   key.offset,
                                   image._message_data().trace_id(),
                                   int64_t{image.frame()},
                                   int64_t{image.width()},
                                   int64_t{image.height()},
                                   std::string(FrameEncodingName(image.encoding())),
                                   int64_t{image.channels()},
                                   image.capture_time(),
                                   image.source(),
                                   static_cast<int64_t>(image.image_data().size())};
    if (keep_image) frame.emplace_back(Blob{image.image_data()});
    return Put(EnvelopeParams(key, image.GetDescriptor()->full_name(), image._message_data()),
               keep_image ? sql::kInsertFrameWithImage : sql::kInsertFrame, frame);
  }

  absl::StatusOr<bool> PutPrediction(const RecordKey& key,
                                     const protobuf::predictions::Prediction& p) override {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& o : p.object()) objects.push_back(o);
    nlohmann::json detections = nlohmann::json::array();
    for (const auto& d : p.detections()) {
      detections.push_back({{"label", d.label()},
                            {"score", d.score()},
                            {"box", {d.box().x(), d.box().y(), d.box().width(), d.box().height()}},
                            {"model", d.model()}});
    }
    std::vector<SqlParam> row = {key.topic,
                                 int64_t{key.partition},
                                 key.offset,
                                 p._message_data().trace_id(),
                                 int64_t{p.frame()},
                                 objects.dump(),
                                 detections.dump(),
                                 p.model_name(),
                                 p.inference_ms(),
                                 p.source_trace_id(),
                                 p.source_topic(),
                                 int64_t{p.source_partition()},
                                 int64_t{p.source_offset()},
                                 int64_t{p.frame_width()},
                                 int64_t{p.frame_height()}};
    return Put(EnvelopeParams(key, p.GetDescriptor()->full_name(), p._message_data()),
               sql::kInsertPrediction, row);
  }

  absl::StatusOr<nlohmann::json> QueryTrace(const std::string& trace_id) override {
    auto frames = db_->Query(sql::kSelectFrames, {trace_id},
                             With({ColumnKind::kInt, ColumnKind::kInt, ColumnKind::kInt,
                                   ColumnKind::kText, ColumnKind::kInt, ColumnKind::kDouble,
                                   ColumnKind::kText, ColumnKind::kInt, ColumnKind::kBool}));
    if (!frames.ok()) return frames.status();
    auto predictions =
        db_->Query(sql::kSelectPredictions, {trace_id},
                   With({ColumnKind::kInt, ColumnKind::kText, ColumnKind::kText, ColumnKind::kText,
                         ColumnKind::kDouble, ColumnKind::kText, ColumnKind::kText,
                         ColumnKind::kInt, ColumnKind::kInt, ColumnKind::kInt, ColumnKind::kInt}));
    if (!predictions.ok()) return predictions.status();
    if (frames->empty() && predictions->empty()) {
      return absl::NotFoundError(absl::StrCat("nothing stored with trace id ", trace_id));
    }
    nlohmann::json out{{"trace_id", trace_id},
                       {"frames", nlohmann::json::array()},
                       {"predictions", nlohmann::json::array()}};
    for (const auto& row : *frames) {
      nlohmann::json f = RowJson(row, {"frame", "width", "height", "encoding", "channels",
                                       "capture_time", "source", "image_bytes", "image_stored"});
      f["image_stored"] = f["image_stored"] == 1;
      out["frames"].push_back(std::move(f));
    }
    for (const auto& row : *predictions) {
      out["predictions"].push_back(RowJson(
          row,
          {"frame", "objects", "detections", "model_name", "inference_ms", "source_trace_id",
           "source_topic", "source_partition", "source_offset", "frame_width", "frame_height"},
          {"objects", "detections"}));
    }
    return out;
  }

  absl::StatusOr<StoreCounts> Counts() override {
    auto rows = db_->Query(sql::kCount, {}, {ColumnKind::kInt, ColumnKind::kInt, ColumnKind::kInt});
    if (!rows.ok()) return rows.status();
    if (rows->size() != 1) return absl::InternalError("count: no row");
    const auto& r = rows->front();
    auto get = [](const SqlCell& c) {
      return std::holds_alternative<int64_t>(c) ? std::get<int64_t>(c) : int64_t{0};
    };
    return StoreCounts{get(r[0]), get(r[1]), get(r[2])};
  }

  std::string description() const override { return db_->description(); }

 private:
  absl::StatusOr<bool> Put(const std::vector<SqlParam>& envelope, const char* sql,
                           const std::vector<SqlParam>& row) {
    if (auto s = db_->Begin(); !s.ok()) return s;
    auto e = db_->Exec(sql::kInsertEnvelope, envelope);
    if (!e.ok()) {
      db_->Rollback();
      return e.status();
    }
    auto r = db_->Exec(sql, row);
    if (!r.ok()) {
      db_->Rollback();
      return r.status();
    }
    if (auto s = db_->Commit(); !s.ok()) return s;
    return *e > 0 || *r > 0;
  }

  std::unique_ptr<SqlBackend> db_;
};

absl::StatusOr<std::unique_ptr<Store>> Finish(absl::StatusOr<std::unique_ptr<SqlBackend>> db) {
  if (!db.ok()) return db.status();
  auto store = std::make_unique<SqlStore>(std::move(*db));
  if (auto s = store->Migrate(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  return Finish(OpenSqliteBackend(path));
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  return Finish(OpenPostgresBackend(url));
}

}  // namespace messagecorps::services
