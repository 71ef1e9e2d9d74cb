// Internal: the librdkafka handle of a Consumer that is a group member, for the producer's
// transactional offset commit (rd_kafka_send_offsets_to_transaction needs the consumer's group
// metadata: group id, generation, member id — KIP-447 fencing).
#pragma once

#include <librdkafka/rdkafka.h>

namespace messagecorps {
class Consumer;
namespace internal {

// Null when the consumer reads an explicit assignment (it is in no group) or is closed.
rd_kafka_t* GroupHandleOf(const Consumer& consumer);

}  // namespace internal
}  // namespace messagecorps
