#include "messagecorps/type_registry.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "protobuf/common/MessageData.pb.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "protobufs/common/Boolean.pb.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

namespace pb = google::protobuf;

// Collects the build errors of one descriptor set (the pool reports them here instead of logging).
class CollectingErrors : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const pb::Message* /*descriptor*/, ErrorLocation /*location*/,
                const std::string& message) override {
    if (count_++ >= kMaxKept) return;
    if (!text_.empty()) text_ += "; ";
    absl::StrAppend(&text_, filename, element_name.empty() ? "" : ": ", element_name, ": ",
                    message);
  }
  std::string Take() {
    std::string t = std::move(text_);
    if (count_ > kMaxKept) absl::StrAppend(&t, "; and ", count_ - kMaxKept, " more");
    text_.clear();
    count_ = 0;
    return t;
  }

 private:
  static constexpr int kMaxKept = 5;
  std::string text_;
  int count_ = 0;
};

// The descriptor files our library compiles in. Touching descriptor() forces their generated code
// (and its registration in the generated pool) to be linked even from a static library.
std::vector<const pb::FileDescriptor*> SeedFiles() {
  return {protobuf::common::messageData::descriptor()->file(),
          protobufs::common::Boolean::descriptor()->file(),
          protobuf::data::Image::descriptor()->file(),
          protobuf::predictions::Prediction::descriptor()->file()};
}

void CollectTypes(const pb::Descriptor* d, std::set<std::string>* names) {
  if (d->options().map_entry()) return;  // synthesized for map fields; not a type users build
  names->insert(d->full_name());
  for (int i = 0; i < d->nested_type_count(); ++i) CollectTypes(d->nested_type(i), names);
}

void CollectTypes(const pb::FileDescriptor* f, std::set<std::string>* names) {
  for (int i = 0; i < f->message_type_count(); ++i) CollectTypes(f->message_type(i), names);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", what, " \"", path, "\": ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " \"", path, "\""));
  }
  return std::move(buffer).str();
}

// Kafka's rule for topic names: 1..249 characters from [a-zA-Z0-9._-].
bool IsValidTopicName(std::string_view t) {
  if (t.empty() || t.size() > 249) return false;
  for (char c : t) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ParseNonNegativeInt32(std::string_view text, int32_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && *out >= 0;
}

absl::Status CheckOptions(const TopicOptions& options) {
  for (int32_t i : options.message_indexes) {
    if (i < 0) return absl::InvalidArgumentError(absl::StrCat("negative message index ", i));
  }
  return absl::OkStatus();
}

std::vector<std::string_view> SplitWords(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

struct TypeRegistry::Impl {
  // One pool per added descriptor set, self-contained (built from the set's own files, hence
  // --include_imports), so sets never clash with each other or with the generated pool.
  struct SetPool {
    CollectingErrors errors;                // outlives the pool that reports into it
    pb::SimpleDescriptorDatabase database;  // the pool's source of files
    std::unique_ptr<pb::DescriptorPool> pool;
    std::vector<const pb::FileDescriptor*> files;
  };
  // Declaration order matters: bindings, then the factory (its prototypes point at descriptors)
  // are destroyed before the pools.
  std::vector<std::unique_ptr<SetPool>> pools;
  pb::DynamicMessageFactory factory;
  std::map<std::string, TopicBinding, std::less<>> bindings;

  bool Owns(const pb::DescriptorPool* pool) const {
    if (pool == pb::DescriptorPool::generated_pool()) return true;
    for (const auto& p : pools) {
      if (p->pool.get() == pool) return true;
    }
    return false;
  }
};

TypeRegistry::TypeRegistry() : impl_(std::make_unique<Impl>()) {}
TypeRegistry::~TypeRegistry() = default;
TypeRegistry::TypeRegistry(TypeRegistry&&) noexcept = default;
TypeRegistry& TypeRegistry::operator=(TypeRegistry&&) noexcept = default;

TypeRegistry TypeRegistry::WithSeedDefaults() {
  TypeRegistry registry;
  SeedFiles();  // force-link the generated code of every seed schema
  TopicOptions seed;
  seed.encoding = Encoding::kSeed;
  // Cannot fail: valid names and compiled-in types.
  registry.Bind("VideoStream", protobuf::data::Image::descriptor(), seed).IgnoreError();
  registry.Bind("Predictions", protobuf::predictions::Prediction::descriptor(), seed).IgnoreError();
  return registry;
}

absl::Status TypeRegistry::Bind(std::string topic, const pb::Descriptor* type,
                                TopicOptions options) {
  if (!impl_) impl_ = std::make_unique<Impl>();
  if (topic.empty()) return absl::InvalidArgumentError("Bind: empty topic name");
  if (type == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Bind(\"", topic, "\"): null message type"));
  }
  if (!impl_->Owns(type->file()->pool())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Bind(\"", topic, "\"): type ", type->full_name(),
        " comes from a DescriptorPool this registry does not own (add it with AddDescriptorSet)"));
  }
  if (absl::Status s = CheckOptions(options); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Bind(\"", topic, "\"): ", s.message()));
  }
  TopicBinding binding{topic, type, std::move(options)};
  auto it = impl_->bindings.find(topic);
  if (it != impl_->bindings.end()) {
    it->second = std::move(binding);  // keeps the node: earlier Find() pointers stay valid
  } else {
    impl_->bindings.emplace(std::move(topic), std::move(binding));
  }
  return absl::OkStatus();
}

absl::Status TypeRegistry::Bind(std::string topic, std::string_view full_type_name,
                                TopicOptions options) {
  const pb::Descriptor* type = FindType(full_type_name);
  if (type == nullptr) {
    return absl::NotFoundError(absl::StrCat("Bind(\"", topic, "\"): unknown message type \"",
                                            AsAbsl(full_type_name), "\""));
  }
  return Bind(std::move(topic), type, std::move(options));
}

absl::Status TypeRegistry::LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path, "type registry config");
  if (!text.ok()) return text.status();
  return LoadConfigText(*text, path);
}

absl::Status TypeRegistry::LoadConfigText(std::string_view text, std::string_view source_name) {
  struct Parsed {
    std::string topic;
    const pb::Descriptor* type;
    TopicOptions options;
  };
  std::vector<Parsed> parsed;
  const std::string source(source_name);
  size_t line_start = 0;
  for (int line_no = 1; line_start <= text.size(); ++line_no) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string_view> words = SplitWords(line);
    if (words.empty()) continue;

    auto error = [&](absl::StatusCode code, auto&&... parts) {
      return absl::Status(code, absl::StrCat(source, ":", line_no, ": ", parts...));
    };
    auto invalid = [&](auto&&... parts) {
      return error(absl::StatusCode::kInvalidArgument, parts...);
    };

    if (!IsValidTopicName(words[0])) {
      return invalid("invalid topic name \"", AsAbsl(words[0]),
                     "\" (Kafka allows 1-249 characters of [a-zA-Z0-9._-])");
    }
    if (words.size() < 2) {
      return invalid("missing message type after topic \"", AsAbsl(words[0]),
                     "\" (expected: <topic> <full.message.Type> [encoding=...] [schema_id=N] "
                     "[indexes=0,1])");
    }
    const pb::Descriptor* type = FindType(words[1]);
    if (type == nullptr) {
      return error(absl::StatusCode::kNotFound, "unknown message type \"", AsAbsl(words[1]),
                   "\" (neither compiled in nor in an added descriptor set)");
    }
    TopicOptions options;
    bool has_encoding = false, has_schema_id = false, has_indexes = false;
    for (size_t i = 2; i < words.size(); ++i) {
      const std::string_view word = words[i];
      const size_t eq = word.find('=');
      if (eq == std::string_view::npos) {
        return invalid("expected key=value, got \"", AsAbsl(word), "\"");
      }
      const std::string_view key = word.substr(0, eq);
      const std::string_view value = word.substr(eq + 1);
      if (key == "encoding") {
        if (has_encoding) return invalid("encoding given twice");
        has_encoding = true;
        absl::StatusOr<Encoding> e = ParseEncoding(value);
        if (!e.ok()) return invalid(e.status().message());
        options.encoding = *e;
      } else if (key == "schema_id") {
        if (has_schema_id) return invalid("schema_id given twice");
        has_schema_id = true;
        if (!ParseNonNegativeInt32(value, &options.schema_id)) {
          return invalid("schema_id \"", AsAbsl(value), "\" is not a non-negative 32-bit integer");
        }
      } else if (key == "indexes") {
        if (has_indexes) return invalid("indexes given twice");
        has_indexes = true;
        size_t pos = 0;
        while (true) {
          const size_t comma = value.find(',', pos);
          const std::string_view item = value.substr(
              pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
          int32_t index = 0;
          if (!ParseNonNegativeInt32(item, &index)) {
            return invalid("indexes \"", AsAbsl(value),
                           "\" is not a comma-separated list of non-negative integers");
          }
          options.message_indexes.push_back(index);
          if (comma == std::string_view::npos) break;
          pos = comma + 1;
        }
      } else {
        return invalid("unknown option \"", AsAbsl(key),
                       "\" (expected encoding, schema_id or indexes)");
      }
    }
    if ((has_schema_id || has_indexes) && options.encoding != Encoding::kConfluent) {
      return invalid("schema_id and indexes apply only to encoding=confluent");
    }
    parsed.push_back({std::string(words[0]), type, std::move(options)});
  }
  // All lines are valid: apply them together, so a bad file changes nothing.
  for (Parsed& p : parsed) {
    if (absl::Status s = Bind(std::move(p.topic), p.type, std::move(p.options)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status TypeRegistry::AddDescriptorSetFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path, "descriptor set");
  if (!bytes.ok()) return bytes.status();
  pb::FileDescriptorSet set;
  if (!set.ParseFromString(*bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path,
                     "\" is not a FileDescriptorSet (write one with protoc --include_imports "
                     "--descriptor_set_out=FILE)"));
  }
  absl::Status s = AddDescriptorSet(set);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("\"", path, "\": ", s.message()));
  return s;
}

absl::Status TypeRegistry::AddDescriptorSet(const pb::FileDescriptorSet& set) {
  if (!impl_) impl_ = std::make_unique<Impl>();
  if (set.file_size() == 0) return absl::InvalidArgumentError("descriptor set has no files");
  auto entry = std::make_unique<Impl::SetPool>();
  for (const pb::FileDescriptorProto& file : set.file()) {
    if (!entry->database.Add(file)) {
      return absl::InvalidArgumentError(absl::StrCat("descriptor set: file \"", file.name(),
                                                     "\" is listed twice with different content"));
    }
  }
  // The pool builds files from the database on demand, so the set's files may come in any order;
  // every file is built now so that errors surface here and later lookups find ready descriptors.
  entry->pool = std::make_unique<pb::DescriptorPool>(&entry->database, &entry->errors);
  for (const pb::FileDescriptorProto& file : set.file()) {
    const pb::FileDescriptor* built = entry->pool->FindFileByName(file.name());
    if (built == nullptr) {
      std::string detail = entry->errors.Take();
      return absl::InvalidArgumentError(absl::StrCat(
          "descriptor set: \"", file.name(), "\" does not build", detail.empty() ? "" : ": ",
          detail, " (was the set written with protoc --include_imports?)"));
    }
    entry->files.push_back(built);
  }
  impl_->pools.push_back(std::move(entry));
  return absl::OkStatus();
}

const TopicBinding* TypeRegistry::Find(std::string_view topic) const {
  if (!impl_) return nullptr;
  auto it = impl_->bindings.find(topic);
  return it == impl_->bindings.end() ? nullptr : &it->second;
}

std::vector<const TopicBinding*> TypeRegistry::Bindings() const {
  std::vector<const TopicBinding*> out;
  if (!impl_) return out;
  out.reserve(impl_->bindings.size());
  for (const auto& [topic, binding] : impl_->bindings) out.push_back(&binding);
  return out;
}

const pb::Descriptor* TypeRegistry::FindType(std::string_view full_name) const {
  const std::string name(full_name);
  const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
  // A descriptor in the generated pool is only usable if its class is linked in.
  if (d != nullptr && pb::MessageFactory::generated_factory()->GetPrototype(d) != nullptr) {
    return d;
  }
  if (!impl_) return nullptr;
  for (const auto& p : impl_->pools) {
    if ((d = p->pool->FindMessageTypeByName(name)) != nullptr) return d;
  }
  return nullptr;
}

std::vector<std::string> TypeRegistry::TypeNames() const {
  // The generated pool cannot be enumerated: list our compiled-in schemas, the files of bound
  // types, and everything in the added descriptor sets.
  std::set<std::string> names;
  for (const pb::FileDescriptor* f : SeedFiles()) CollectTypes(f, &names);
  if (impl_) {
    for (const auto& [topic, binding] : impl_->bindings) CollectTypes(binding.type->file(), &names);
    for (const auto& p : impl_->pools) {
      for (const pb::FileDescriptor* f : p->files) CollectTypes(f, &names);
    }
  }
  return {names.begin(), names.end()};
}

std::unique_ptr<pb::Message> TypeRegistry::NewMessage(const pb::Descriptor* type) const {
  const pb::Message* prototype = Prototype(type);
  return prototype == nullptr ? nullptr : std::unique_ptr<pb::Message>(prototype->New());
}

const pb::Message* TypeRegistry::Prototype(const pb::Descriptor* type) const {
  if (type == nullptr) return nullptr;
  const pb::DescriptorPool* pool = type->file()->pool();
  if (pool == pb::DescriptorPool::generated_pool()) {
    return pb::MessageFactory::generated_factory()->GetPrototype(type);
  }
  if (!impl_ || !impl_->Owns(pool)) return nullptr;
  // DynamicMessageFactory::GetPrototype is thread-safe (it locks its own cache).
  return impl_->factory.GetPrototype(type);
}

}  // namespace messagecorps
