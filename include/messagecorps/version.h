// messagecorps/version.h — which messagecorps and which librdkafka this process runs.
//
// librdkafka is linked dynamically, so the version that matters is the one loaded at run time, not
// the header compiled against: every program logs it in its first line and `mcorps --version`
// prints it. Behaviour that depends on the librdkafka version (consumer.h: assignment strategy,
// batch polling, fetch wake-ups) is chosen at run time from LibrdkafkaVersionNumber().
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace messagecorps {

// messagecorps' own version, e.g. "0.1.0".
std::string_view Version();

// The loaded librdkafka's version string, e.g. "2.0.2" or "2.14.2".
std::string_view LibrdkafkaVersion();

// The loaded librdkafka's version as 0xMMmmrrxx (major, minor, revision, pre-release), e.g.
// 0x020002ff for 2.0.2: compare with LibrdkafkaAtLeast.
int LibrdkafkaVersionNumber();

// True when the loaded librdkafka is major.minor.revision or newer.
bool LibrdkafkaAtLeast(int major, int minor, int revision = 0);

// "messagecorps 0.1.0 (librdkafka 2.0.2)": what programs print for --version and log first.
std::string VersionLine();

}  // namespace messagecorps
