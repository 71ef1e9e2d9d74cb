// Where mcorps-store keeps frames, predictions and their envelopes: SQLite (default) or
// PostgreSQL, behind one small interface.
//
// Schema (both databases; created by Open* if missing):
//   envelopes   (topic, kafka_partition, kafka_offset) PRIMARY KEY, message_type, uuid, trace_id,
//               span_id, parent_span_id, timestamp, iso_date, environment, sending_service,
//               stored_at                                    -- index on trace_id, uuid
//   frames      same key, trace_id, frame, width, height, encoding, channels, capture_time,
//               source, image_bytes, image (BLOB/BYTEA, only with keep_images)
//                                                            -- index on trace_id, frame
//   predictions same key, trace_id, frame, objects (JSON array), detections (JSON array),
//               model_name, inference_ms, source_trace_id, source_topic, source_partition,
//               source_offset, frame_width, frame_height     -- index on trace_id, frame
// A record is identified by its Kafka coordinates: writing one again (a redelivery after a
// crash or rebalance) changes nothing (ON CONFLICT DO NOTHING), so at-least-once delivery yields
// exactly one row per record.
//
// Thread-safety: a Store is used from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace messagecorps::services {

struct RecordKey {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

struct StoreCounts {
  int64_t envelopes = 0, frames = 0, predictions = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Each Put is one transaction: the envelope row and the frame/prediction row, or nothing.
  // Returns false when the record was stored before (nothing written). kUnavailable when the
  // database cannot be reached, kInternal for other database errors.
  virtual absl::StatusOr<bool> PutFrame(const RecordKey& key, const protobuf::data::Image& image,
                                        bool keep_image) = 0;
  virtual absl::StatusOr<bool> PutPrediction(
      const RecordKey& key, const protobuf::predictions::Prediction& prediction) = 0;
  // Everything stored under a trace id: {"trace_id", "frames": [...], "predictions": [...]},
  // each row with its envelope fields. kNotFound when nothing has that trace.
  virtual absl::StatusOr<nlohmann::json> QueryTrace(const std::string& trace_id) = 0;
  virtual absl::StatusOr<StoreCounts> Counts() = 0;
  virtual std::string description() const = 0;  // "sqlite:/path" or "postgresql://host/db"
};

// Opens (creating file and schema) a SQLite database. kInternal when it cannot.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
// Connects to PostgreSQL (libpq URL or key=value string) and creates the schema. kUnavailable
// when the server cannot be reached.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

}  // namespace messagecorps::services
