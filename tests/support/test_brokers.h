// Where integration tests find their Kafka: MESSAGECORPS_TEST_BROKERS (a user's own cluster), else the
// bootstrap file written by the ctest fixture (MESSAGECORPS_TEST_BROKERS_FILE). No broker is a test
// failure, never a skip.
#pragma once

#include <string>

namespace messagecorps::testing {

// The bootstrap list; fails the current test (ADD_FAILURE) and returns "" when there is none.
std::string TestBrokers();

// Runs scripts/kafka ACTION ARGS against the fixture's cluster (kill/restart a node in robustness
// tests). Returns the command's exit status.
int KafkaScript(const std::string& action_and_args);

}  // namespace messagecorps::testing
