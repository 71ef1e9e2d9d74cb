// messagecorps/type_registry.h — which message type (and encoding) each topic carries, at run time.
//
// Built-in default (the original's hand-written map): VideoStream -> protobuf.data.Image,
// Predictions -> protobuf.predictions.Prediction, both seed-encoded. More bindings come from code
// (Bind), from a small config file (LoadConfigFile) and from types the program was not compiled with:
// a FileDescriptorSet written by `protoc --include_imports --descriptor_set_out=FILE`
// (AddDescriptorSetFile), whose messages are built as DynamicMessage.
//
// Config file: one binding per line, `#` comments, blank lines ignored:
//     <topic>  <full.message.Type>  [encoding=seed|raw|confluent]  [schema_id=N]  [indexes=0,1]
// e.g.  VideoStream  protobuf.data.Image  encoding=seed
// Errors name the file, the line number and the problem (kInvalidArgument / kNotFound for an
// unknown type). Topics follow Kafka's naming rule ([a-zA-Z0-9._-], 1-249 characters); schema_id
// and indexes (non-negative) are only accepted with encoding=confluent; a later line for the same
// topic replaces an earlier one. Loading is all or nothing: a file with an error changes no
// binding.
//
// Type lookup order: types compiled into the program (the generated pool) first, then descriptor sets
// in the order they were added.
//
// Thread-safety: const methods may run concurrently; mutating methods (Bind, Load*, Add*) must not run
// concurrently with anything else — configure first, then share.
// Ownership: the registry owns the descriptor pools and message factories; descriptors and prototypes
// it returns live as long as the registry.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/topic.h"

namespace google::protobuf {
class Descriptor;
class DescriptorPool;
class DynamicMessageFactory;
class FileDescriptorSet;
class Message;
}  // namespace google::protobuf

namespace messagecorps {

struct TopicBinding {
  std::string topic;
  const google::protobuf::Descriptor* type = nullptr;
  TopicOptions options;
};

class TypeRegistry {
 public:
  // An empty registry (no bindings).
  TypeRegistry();
  // The registry with the original's seed bindings.
  static TypeRegistry WithSeedDefaults();
  ~TypeRegistry();
  TypeRegistry(TypeRegistry&&) noexcept;
  TypeRegistry& operator=(TypeRegistry&&) noexcept;

  // Binds `topic` to `type` (replacing an earlier binding in place: pointers from Find stay valid).
  // kInvalidArgument for an empty topic, a null type, a type from a DescriptorPool the registry
  // does not own (neither compiled in nor added with AddDescriptorSet: it could not be built
  // safely) or a negative message index.
  absl::Status Bind(std::string topic, const google::protobuf::Descriptor* type,
                    TopicOptions options = {});
  // Binds by full type name, looked up as FindType does (kNotFound when unknown).
  absl::Status Bind(std::string topic, std::string_view full_type_name, TopicOptions options = {});
  template <ProtoMessage T>
  absl::Status Bind(const Topic<T>& topic) {
    return Bind(topic.name(), T::descriptor(), topic.options());
  }

  // Reads bindings from a config file / text (format above). kNotFound when the file cannot be
  // opened.
  absl::Status LoadConfigFile(const std::string& path);
  absl::Status LoadConfigText(std::string_view text, std::string_view source_name = "<config>");

  // Adds the types of a FileDescriptorSet (file or parsed), in a pool of its own (so its files may
  // come in any order, and may repeat files of the program or of other sets). kInvalidArgument when
  // the file does not parse, the set is empty, or its files do not build (e.g. a missing import:
  // use --include_imports); nothing is added then. kNotFound when the file cannot be opened.
  absl::Status AddDescriptorSetFile(const std::string& path);
  absl::Status AddDescriptorSet(const google::protobuf::FileDescriptorSet& set);

  // The binding of `topic`, or nullptr.
  const TopicBinding* Find(std::string_view topic) const;
  // Every binding, sorted by topic.
  std::vector<const TopicBinding*> Bindings() const;

  // A message type by full name (generated pool first, then descriptor sets), or nullptr.
  const google::protobuf::Descriptor* FindType(std::string_view full_name) const;
  // Every message type the registry can build (for `mcorps types`), sorted, without duplicates and
  // without map-entry types. The generated pool cannot be enumerated: it contributes messagecorps'
  // own schemas and the files of bound types.
  std::vector<std::string> TypeNames() const;

  // A new, empty message of `type`: the generated class when compiled in, else a DynamicMessage.
  // nullptr for a null type or one from a pool the registry does not own (Prototype likewise).
  std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* type) const;
  // The immutable default instance (prototype) of `type`; New() on it builds messages.
  const google::protobuf::Message* Prototype(const google::protobuf::Descriptor* type) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps
