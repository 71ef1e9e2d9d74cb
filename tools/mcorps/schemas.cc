#include "schemas.h"

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcorps {

namespace pb = google::protobuf;
namespace fs = std::filesystem;

namespace {

// Collects the parser's errors and warnings as "file:line:column: message" lines.
class ErrorCollector final : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& filename, int line, int column,
                const std::string& message) override {
    // protobuf counts lines and columns from 0; editors from 1.
    errors_.push_back(absl::StrCat(filename, ":", line + 1, ":", column + 1, ": ", message));
  }
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

// Adds `file` after its dependencies (each once), as a descriptor set wants them.
void AddWithDependencies(const pb::FileDescriptor* file, std::set<std::string>& added,
                         pb::FileDescriptorSet& set) {
  if (!added.insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddWithDependencies(file->dependency(i), added, set);
  }
  file->CopyTo(set.add_file());
}

// Compiles the --proto files (with their imports) into a descriptor set.
absl::StatusOr<pb::FileDescriptorSet> CompileProtos(const SchemaOptions& options) {
  pb::compiler::DiskSourceTree tree;
  std::vector<std::string> roots = options.proto_paths;
  for (const std::string& builtin : BuiltinProtoPaths()) roots.push_back(builtin);
  for (const std::string& root : roots) tree.MapPath("", root);
  ErrorCollector errors;
  pb::compiler::Importer importer(&tree, &errors);
  pb::FileDescriptorSet set;
  std::set<std::string> added;
  for (const std::string& proto : options.protos) {
    // A path on disk is mapped to its name under a --proto-path; anything else is taken as that
    // name already (e.g. acme/sensor.proto).
    std::string virtual_name = proto;
    if (fs::exists(proto)) {
      std::string shadowing;
      if (tree.DiskFileToVirtualFile(proto, &virtual_name, &shadowing) !=
          pb::compiler::DiskSourceTree::SUCCESS) {
        virtual_name = proto;
      }
    }
    const pb::FileDescriptor* file = importer.Import(virtual_name);
    if (file == nullptr) {
      std::string detail = errors.Text();
      return absl::InvalidArgumentError(absl::StrCat(
          "--proto ", proto, " does not compile",
          detail.empty()
              ? absl::StrCat(" (not found under --proto-path ", absl::StrJoin(roots, ":"), ")")
              : absl::StrCat(": ", detail)));
    }
    AddWithDependencies(file, added, set);
  }
  return set;
}

}  // namespace

void AddSchemaOptions(CLI::App& command, SchemaOptions& options) {
  command
      .add_option("--descriptors", options.descriptor_sets,
                  "FileDescriptorSet with types not compiled in (protoc --include_imports "
                  "--descriptor_set_out=FILE); repeatable")
      ->group("Types")
      ->check(CLI::ExistingFile);
  command
      .add_option("--proto-path", options.proto_paths,
                  "Directory to find --proto files and their imports in; repeatable")
      ->group("Types")
      ->check(CLI::ExistingDirectory);
  command
      .add_option("--proto", options.protos,
                  ".proto file compiled at run time (name under --proto-path); repeatable")
      ->group("Types");
  command
      .add_option(
          "--registry", options.registry_file,
          "Topic bindings file: '<topic> <full.Type> [encoding=seed|raw|confluent]' per line")
      ->group("Types")
      ->check(CLI::ExistingFile);
}

std::vector<std::string> BuiltinProtoPaths() {
  std::vector<std::string> candidates = {MCORPS_SOURCE_PROTO_DIR, MCORPS_INSTALLED_PROTO_DIR};
  // A relocated installation: <prefix>/bin/mcorps next to <prefix>/share/messagecorps/proto.
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    candidates.push_back((self.parent_path().parent_path() / "share/messagecorps/proto").string());
  std::vector<std::string> out;
  for (const std::string& dir : candidates) {
    if (fs::exists(fs::path(dir) / "protobuf/common/MessageData.proto", ec)) {
      out.push_back(dir);
      break;  // one copy: two would be the same files twice
    }
  }
  return out;
}

absl::StatusOr<messagecorps::TypeRegistry> LoadRegistry(const SchemaOptions& options) {
  messagecorps::TypeRegistry registry = messagecorps::TypeRegistry::WithSeedDefaults();
  for (const std::string& path : options.descriptor_sets) {
    if (absl::Status s = registry.AddDescriptorSetFile(path); !s.ok()) return s;
  }
  if (!options.protos.empty()) {
    auto set = CompileProtos(options);
    if (!set.ok()) return set.status();
    if (absl::Status s = registry.AddDescriptorSet(*set); !s.ok()) return s;
  } else if (!options.proto_paths.empty()) {
    return absl::InvalidArgumentError(
        "--proto-path without --proto: name the .proto files to load");
  }
  // Bindings last: they may name types of the sets above.
  if (!options.registry_file.empty()) {
    if (absl::Status s = registry.LoadConfigFile(options.registry_file); !s.ok()) return s;
  }
  return registry;
}

absl::StatusOr<const pb::Descriptor*> FindType(const messagecorps::TypeRegistry& registry,
                                               std::string_view name) {
  if (const pb::Descriptor* type = registry.FindType(name)) return type;
  return absl::NotFoundError(absl::StrCat(
      "unknown message type '", absl::string_view(name.data(), name.size()),
      "': not compiled in and not in the loaded schemas (load it with --descriptors FILE or "
      "--proto-path DIR --proto FILE; `mcorps types --all` lists the known types)"));
}

}  // namespace mcorps
