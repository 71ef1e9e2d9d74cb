// One mapping from messagecorps' status codes (gRPC's, messagecorps/error.h) to HTTP statuses, as
// google/rpc/code.proto documents it, with 413 for a body over the size limit.
//
// Thread-safety: pure functions.
#pragma once

#include "absl/status/status.h"
#include "messagecorps/error.h"

namespace messagecorps::gateway {

// 400 INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE, 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ABORTED / ALREADY_EXISTS, 413 RESOURCE_EXHAUSTED with
// reason kDecodeLimit or kRecordTooLarge (the request is too large), 429 other RESOURCE_EXHAUSTED,
// 499 CANCELLED, 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 otherwise.
int HttpStatusFor(const absl::Status& status);

}  // namespace messagecorps::gateway
