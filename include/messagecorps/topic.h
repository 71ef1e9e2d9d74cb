// messagecorps/topic.h — binding topics to message types.
//
// Compile time: a Topic<T> is a typed handle; Producer::Send(Topic<Image>, message) only accepts an
// Image, so sending the wrong type does not compile. Run time: TypeRegistry (type_registry.h) maps
// topic names to descriptors for consumers and tools.
//
// Value types; thread-compatible (share const instances freely).
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "messagecorps/codec.h"

namespace google::protobuf {
class Message;
}

namespace messagecorps {

// How records of a topic are encoded.
struct TopicOptions {
  Encoding encoding = Encoding::kSeed;
  int32_t schema_id = 0;                  // kConfluent only
  std::vector<int32_t> message_indexes;   // kConfluent only; empty = the type's own (codec.h)

  EncodeOptions encode_options() const {
    EncodeOptions o;
    o.encoding = encoding;
    o.schema_id = schema_id;
    o.message_indexes = message_indexes;
    return o;
  }
};

template <class T>
concept ProtoMessage = std::derived_from<T, google::protobuf::Message>;

template <ProtoMessage T>
class Topic {
 public:
  using MessageType = T;
  explicit Topic(std::string name, TopicOptions options = {})
      : name_(std::move(name)), options_(std::move(options)), encode_(options_.encode_options()) {}

  const std::string& name() const { return name_; }
  const TopicOptions& options() const { return options_; }
  const EncodeOptions& encode_options() const { return encode_; }

 private:
  std::string name_;
  TopicOptions options_;
  EncodeOptions encode_;
};

}  // namespace messagecorps
