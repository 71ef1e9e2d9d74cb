#include "messagecorps/version.h"

#include <librdkafka/rdkafka.h>

#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps {

std::string_view Version() { return MESSAGECORPS_VERSION; }

std::string_view LibrdkafkaVersion() { return rd_kafka_version_str(); }

int LibrdkafkaVersionNumber() { return rd_kafka_version(); }

bool LibrdkafkaAtLeast(int major, int minor, int revision) {
  const int wanted = (major << 24) | (minor << 16) | (revision << 8);
  return (LibrdkafkaVersionNumber() & ~0xff) >= wanted;
}

std::string VersionLine() {
  return absl::StrCat("messagecorps ", AsAbsl(Version()), " (librdkafka ",
                      AsAbsl(LibrdkafkaVersion()), ")");
}

}  // namespace messagecorps
