#include "common/rejection.h"

#include "absl/strings/cord.h"

namespace messagecorps::services {
namespace {
constexpr const char* kReasonPayload = "type.messagecorps.dev/dlq-reason";
}

absl::Status Rejected(std::string_view reason, std::string_view message) {
  absl::Status status =
      absl::InvalidArgumentError(std::string(reason) + ": " + std::string(message));
  status.SetPayload(kReasonPayload, absl::Cord(std::string(reason)));
  return status;
}

std::string RejectionReason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonPayload);
  if (payload.has_value()) return std::string(*payload);
  return "handler-error";
}

}  // namespace messagecorps::services
