// The SQL shared by the SQLite and PostgreSQL stores (see store.h). Parameters are written $1,
// $2, ... (PostgreSQL); the SQLite store turns them into ?1, ?2, ... (same numbering).
#pragma once

#include <string>
#include <vector>

#include "protobuf/common/MessageData.pb.h"

namespace messagecorps::services::sql {

// `blob_type`: BLOB (SQLite) or BYTEA (PostgreSQL).
std::vector<std::string> Schema(const std::string& blob_type);

// INSERT ... ON CONFLICT DO NOTHING statements.
// envelope: $1 topic, $2 partition, $3 offset, $4 message_type, $5 uuid, $6 trace_id, $7 span_id,
//           $8 parent_span_id, $9 timestamp, $10 iso_date, $11 environment, $12 sending_service,
//           $13 stored_at
extern const char* const kInsertEnvelope;
// frame: $1-$3 key, $4 trace_id, $5 frame, $6 width, $7 height, $8 encoding, $9 channels,
//        $10 capture_time, $11 source, $12 image_bytes [, $13 image]
extern const char* const kInsertFrame;
extern const char* const kInsertFrameWithImage;
// prediction: $1-$3 key, $4 trace_id, $5 frame, $6 objects, $7 detections, $8 model_name,
//             $9 inference_ms, $10 source_trace_id, $11 source_topic, $12 source_partition,
//             $13 source_offset, $14 frame_width, $15 frame_height
extern const char* const kInsertPrediction;

// Queries by trace id ($1); columns as listed in the SELECTs.
extern const char* const kSelectFrames;
extern const char* const kSelectPredictions;
extern const char* const kCount;

// Helpers for the envelope columns.
std::string EnvironmentName(protobuf::common::Environment e);
double NowSeconds();

}  // namespace messagecorps::services::sql
