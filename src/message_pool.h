// Internal: decoded message objects to reuse, per type (see ReceivedMessage in consumer.h). One per
// Consumer, shared by its polling thread (Take) and whichever threads destroy its
// ReceivedMessages (Give).
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace messagecorps {

class MessagePool {
 public:
  // A cleared message of `type` to parse into, or null when none is free.
  std::unique_ptr<google::protobuf::Message> Take(const google::protobuf::Descriptor* type);
  // Takes `m` back: cleared (keeping its envelope's and strings' storage) and kept, unless
  // kMaxPooledMessages of its type are already free (then deleted).
  void Give(std::unique_ptr<google::protobuf::Message> m);

 private:
  std::mutex mu_;
  std::unordered_map<const google::protobuf::Descriptor*,
                     std::vector<std::unique_ptr<google::protobuf::Message>>>
      free_;
};

}  // namespace messagecorps
