// mcorps: where message types come from — compiled in (messagecorps' schemas), descriptor sets
// (--descriptors, from protoc --include_imports --descriptor_set_out), .proto files compiled at run
// time (--proto-path DIR --proto FILE), and topic bindings (--registry FILE, the seed defaults).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/type_registry.h"

namespace CLI {
class App;
}
namespace google::protobuf {
class Descriptor;
}

namespace mcorps {

struct SchemaOptions {
  std::vector<std::string> descriptor_sets;  // --descriptors
  std::vector<std::string> proto_paths;      // --proto-path (besides messagecorps' own schemas)
  std::vector<std::string> protos;           // --proto
  std::string registry_file;                 // --registry: topic -> type bindings
};

void AddSchemaOptions(CLI::App& command, SchemaOptions& options);

// The seed bindings plus everything the options name. Errors name the file and the problem
// (kNotFound for a missing file, kInvalidArgument for one that does not parse or build).
absl::StatusOr<messagecorps::TypeRegistry> LoadRegistry(const SchemaOptions& options);

// A type by full name, or kNotFound listing where types come from.
absl::StatusOr<const google::protobuf::Descriptor*> FindType(
    const messagecorps::TypeRegistry& registry, std::string_view name);

// The directories searched for imports of `--proto` files after the user's --proto-path ones:
// messagecorps' schemas (source tree, installed share/messagecorps/proto, or next to the binary).
std::vector<std::string> BuiltinProtoPaths();

}  // namespace mcorps
