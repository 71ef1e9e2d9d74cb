// Uses the installed package: a user type with the envelope, stamped and seed-encoded, and the
// installed generated header of a seed schema.
#include <cstdio>

#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "protobuf/data/ImageData.pb.h"
#include "shop/order.pb.h"

int main() {
  shop::Order order;
  order.set_item("book");
  order.set_quantity(2);
  messagecorps::EnvelopeSettings settings{"downstream", protobuf::common::PRODUCTION};
  auto envelope = messagecorps::Stamp(order, settings);
  if (!envelope.ok() || order._message_data().trace_id().size() != 32 ||
      order._message_data().sending_service() != "downstream") {
    std::fprintf(stderr, "stamping failed\n");
    return 1;
  }
  std::string bytes;
  if (!messagecorps::Encode(order, {}, &bytes).ok()) return 1;
  shop::Order back;
  std::string scratch;
  if (!messagecorps::Decode(bytes, messagecorps::DetectEncoding(bytes), &back, {}, &scratch).ok() ||
      back.item() != "book") {
    std::fprintf(stderr, "round trip failed\n");
    return 1;
  }
  protobuf::data::Image image;
  image.set_width(640);
  std::printf("downstream OK: order %s trace %s, image width %d\n", back.item().c_str(),
              back._message_data().trace_id().c_str(), image.width());
  return 0;
}
