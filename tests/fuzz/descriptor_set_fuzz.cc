// libFuzzer target: a FileDescriptorSet loaded into the type registry (`mcorps --descriptors`,
// TypeRegistry::AddDescriptorSet), then its types built and used as `mcorps` uses them: a
// DynamicMessage parsed from bytes, printed as JSON, bound to a topic.
// Input: the serialized set (the checked-in seeds are real `protoc --descriptor_set_out` files).
// Invariants besides "no crash, no sanitizer report":
//   - a refused set is kInvalidArgument and adds no type (all or nothing);
//   - every type the registry lists can be found and instantiated, and binds to a topic.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "messagecorps/type_registry.h"

namespace {

namespace pb = google::protobuf;
using messagecorps::fuzz::Check;

// Bounds per input so that a set of thousands of types stays far under 100 ms.
constexpr size_t kMaxTypesUsed = 64;
constexpr size_t kMaxPayload = 256;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);  // DescriptorPool's build errors: reported as status
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(data, static_cast<int>(size))) return 0;

  messagecorps::TypeRegistry registry;
  const std::vector<std::string> before = registry.TypeNames();
  const absl::Status added = registry.AddDescriptorSet(set);
  if (!added.ok()) {
    Check(added.code() == absl::StatusCode::kInvalidArgument, "a bad set is kInvalidArgument");
    Check(registry.TypeNames() == before, "a refused set adds nothing");
    return 0;
  }

  const std::vector<std::string> names = registry.TypeNames();
  Check(std::is_sorted(names.begin(), names.end()), "TypeNames is sorted");
  // Some bytes of the input as a payload for each type: real fields for sets that parse.
  const std::string payload(reinterpret_cast<const char*>(data), std::min(size, kMaxPayload));
  for (size_t i = 0; i < names.size() && i < kMaxTypesUsed; ++i) {
    const pb::Descriptor* type = registry.FindType(names[i]);
    Check(type != nullptr, "a listed type is found");
    Check(type->full_name() == names[i], "found by its full name");
    std::unique_ptr<pb::Message> message = registry.NewMessage(type);
    Check(message != nullptr, "a listed type is instantiated");
    Check(registry.Prototype(type) != nullptr, "a listed type has a prototype");
    if (message->ParseFromString(payload)) {
      std::string json;
      (void)pb::util::MessageToJsonString(*message, &json);  // may refuse (e.g. bad UTF-8)
      std::string bytes;
      Check(message->SerializeToString(&bytes), "a parsed message serializes");
    }
    Check(registry.Bind("topic-" + std::to_string(i), type).ok(), "a listed type binds");
  }
  return 0;
}
