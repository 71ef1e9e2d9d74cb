// Why a record was refused, as a short code ("corrupt-image", "frame-size-mismatch",
// "invalid-frame", "wrong-type"): the router dead-letters the record with reason "handler" and the
// status text in mcorps-dlq-error, which starts with this code ("corrupt-image: ...").
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace messagecorps::services {

// kInvalidArgument "<reason>: <message>", with the reason also attached as a payload.
absl::Status Rejected(std::string_view reason, std::string_view message);
// The reason of a status made by Rejected, else "handler-error".
std::string RejectionReason(const absl::Status& status);

}  // namespace messagecorps::services
