// libFuzzer target: the type registry's config file (`<topic> <type> [encoding=..] [schema_id=N]
// [indexes=..]` per line; `mcorps --registry`, TypeRegistry::LoadConfigText).
// Invariants besides "no crash, no sanitizer report":
//   - a refused file is kInvalidArgument or kNotFound (unknown type), names the source and a line,
//     and changes no binding (all or nothing);
//   - what loads, written back in the same format, loads to the same bindings.
#include <google/protobuf/descriptor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fuzz_support.h"
#include "messagecorps/codec.h"
#include "messagecorps/string_view.h"
#include "messagecorps/type_registry.h"

namespace {

using messagecorps::TopicBinding;
using messagecorps::TypeRegistry;
using messagecorps::fuzz::Check;

struct Flat {
  std::string topic, type;
  messagecorps::Encoding encoding;
  int32_t schema_id;
  std::vector<int32_t> indexes;
  bool operator==(const Flat&) const = default;
};

std::vector<Flat> Flatten(const TypeRegistry& registry) {
  std::vector<Flat> out;
  for (const TopicBinding* b : registry.Bindings()) {
    out.push_back({b->topic, b->type->full_name(), b->options.encoding, b->options.schema_id,
                   b->options.message_indexes});
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  const std::vector<Flat> before = Flatten(registry);
  const absl::Status s = registry.LoadConfigText(text, "fuzz.conf");
  if (!s.ok()) {
    Check(s.code() == absl::StatusCode::kInvalidArgument || s.code() == absl::StatusCode::kNotFound,
          "a bad file is kInvalidArgument or kNotFound");
    Check(s.message().rfind("fuzz.conf:", 0) == 0, "the error names the source");
    Check(Flatten(registry) == before, "a refused file changes no binding");
    return 0;
  }
  std::string written;
  for (const Flat& b : Flatten(registry)) {
    absl::StrAppend(&written, b.topic, " ", b.type,
                    " encoding=", messagecorps::AsAbsl(messagecorps::EncodingName(b.encoding)));
    if (b.encoding == messagecorps::Encoding::kConfluent) {
      absl::StrAppend(&written, " schema_id=", b.schema_id);
      if (!b.indexes.empty()) absl::StrAppend(&written, " indexes=", absl::StrJoin(b.indexes, ","));
    }
    written += "\n";
  }
  TypeRegistry again;
  const absl::Status reloaded = again.LoadConfigText(written, "written");
  Check(reloaded.ok(), "written back, the config loads");
  Check(Flatten(again) == Flatten(registry), "written back, the config gives the same bindings");
  return 0;
}
