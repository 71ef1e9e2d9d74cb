#include "store/schema.h"

#include <chrono>

namespace messagecorps::services::sql {

std::vector<std::string> Schema(const std::string& blob_type) {
  const std::string key =
      "topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL";
  const std::string pk = "PRIMARY KEY (topic, kafka_partition, kafka_offset)";
  return {
      "CREATE TABLE IF NOT EXISTS envelopes (" + key +
          ", message_type TEXT NOT NULL, uuid TEXT, trace_id TEXT, span_id TEXT, "
          "parent_span_id TEXT, timestamp DOUBLE PRECISION, iso_date TEXT, environment TEXT, "
          "sending_service TEXT, stored_at DOUBLE PRECISION, " +
          pk + ")",
      "CREATE INDEX IF NOT EXISTS envelopes_trace_id ON envelopes (trace_id)",
      "CREATE INDEX IF NOT EXISTS envelopes_uuid ON envelopes (uuid)",
      "CREATE TABLE IF NOT EXISTS frames (" + key +
          ", trace_id TEXT, frame BIGINT, width INTEGER, height INTEGER, encoding TEXT, "
          "channels INTEGER, capture_time DOUBLE PRECISION, source TEXT, image_bytes INTEGER, "
          "image " +
          blob_type + ", " + pk + ")",
      "CREATE INDEX IF NOT EXISTS frames_trace_id ON frames (trace_id)",
      "CREATE INDEX IF NOT EXISTS frames_frame ON frames (frame)",
      "CREATE TABLE IF NOT EXISTS predictions (" + key +
          ", trace_id TEXT, frame BIGINT, objects TEXT, detections TEXT, model_name TEXT, "
          "inference_ms DOUBLE PRECISION, source_trace_id TEXT, source_topic TEXT, "
          "source_partition INTEGER, source_offset BIGINT, frame_width INTEGER, "
          "frame_height INTEGER, " +
          pk + ")",
      "CREATE INDEX IF NOT EXISTS predictions_trace_id ON predictions (trace_id)",
      "CREATE INDEX IF NOT EXISTS predictions_frame ON predictions (frame)",
  };
}

const char* const kInsertEnvelope =
    "INSERT INTO envelopes (topic, kafka_partition, kafka_offset, message_type, uuid, trace_id, "
    "span_id, parent_span_id, timestamp, iso_date, environment, sending_service, stored_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING";

const char* const kInsertFrame =
    "INSERT INTO frames (topic, kafka_partition, kafka_offset, trace_id, frame, width, height, "
    "encoding, channels, capture_time, source, image_bytes) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING";

const char* const kInsertFrameWithImage =
    "INSERT INTO frames (topic, kafka_partition, kafka_offset, trace_id, frame, width, height, "
    "encoding, channels, capture_time, source, image_bytes, image) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING";

const char* const kInsertPrediction =
    "INSERT INTO predictions (topic, kafka_partition, kafka_offset, trace_id, frame, objects, "
    "detections, model_name, inference_ms, source_trace_id, source_topic, source_partition, "
    "source_offset, frame_width, frame_height) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
    "ON CONFLICT DO NOTHING";

// Envelope columns first (shared by both selects): 0 topic, 1 kafka_partition, 2 kafka_offset,
// 3 message_type, 4 uuid, 5 trace_id, 6 span_id, 7 parent_span_id, 8 timestamp, 9 iso_date,
// 10 environment, 11 sending_service, 12 stored_at.
#define MCORPS_ENVELOPE_COLUMNS                                                                 \
  "e.topic, e.kafka_partition, e.kafka_offset, e.message_type, e.uuid, e.trace_id, e.span_id, " \
  "e.parent_span_id, e.timestamp, e.iso_date, e.environment, e.sending_service, e.stored_at"

const char* const kSelectFrames =
    "SELECT " MCORPS_ENVELOPE_COLUMNS
    ", f.frame, f.width, f.height, f.encoding, f.channels, f.capture_time, f.source, "
    "f.image_bytes, f.image IS NOT NULL "
    "FROM frames f JOIN envelopes e USING (topic, kafka_partition, kafka_offset) "
    "WHERE f.trace_id = $1 ORDER BY e.timestamp, e.kafka_offset";

const char* const kSelectPredictions =
    "SELECT " MCORPS_ENVELOPE_COLUMNS
    ", p.frame, p.objects, p.detections, p.model_name, p.inference_ms, p.source_trace_id, "
    "p.source_topic, p.source_partition, p.source_offset, p.frame_width, p.frame_height "
    "FROM predictions p JOIN envelopes e USING (topic, kafka_partition, kafka_offset) "
    "WHERE p.trace_id = $1 ORDER BY e.timestamp, e.kafka_offset";

const char* const kCount =
    "SELECT (SELECT COUNT(*) FROM envelopes), (SELECT COUNT(*) FROM frames), "
    "(SELECT COUNT(*) FROM predictions)";

std::string EnvironmentName(protobuf::common::Environment e) {
  return protobuf::common::Environment_Name(e);
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace messagecorps::services::sql
