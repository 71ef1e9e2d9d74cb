#include "support/test_brokers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace messagecorps::testing {

std::string TestBrokers() {
  if (const char* env = std::getenv("MESSAGECORPS_TEST_BROKERS"); env && *env) return env;
  const char* file = std::getenv("MESSAGECORPS_TEST_BROKERS_FILE");
  if (file == nullptr || *file == '\0') {
    ADD_FAILURE() << "No Kafka for this integration test: set MESSAGECORPS_TEST_BROKERS or run it "
                     "through ctest (fixture `kafka`) / scripts/test";
    return "";
  }
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    ADD_FAILURE() << "No Kafka for this integration test: " << file
                  << " is missing or empty (did the kafka.start fixture fail? see its output)";
    return "";
  }
  return line;
}

int KafkaScript(const std::string& action_and_args) {
  const char* src = std::getenv("MESSAGECORPS_SOURCE_DIR");
  const char* state = std::getenv("MESSAGECORPS_KAFKA_STATE");
  if (!src || !state) {
    ADD_FAILURE() << "MESSAGECORPS_SOURCE_DIR / MESSAGECORPS_KAFKA_STATE not set (run through ctest)";
    return -1;
  }
  std::ostringstream cmd;
  cmd << src << "/scripts/kafka " << action_and_args << " --state " << state << " >&2";
  return std::system(cmd.str().c_str());
}

}  // namespace messagecorps::testing
