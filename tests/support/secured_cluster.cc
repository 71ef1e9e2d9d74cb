#include "support/secured_cluster.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "messagecorps/client_config.h"

namespace messagecorps::testing {

std::string SecuredStateDir() {
  const char* dir = std::getenv("MESSAGECORPS_KAFKA_SECURITY_STATE");
  if (dir == nullptr || *dir == '\0') {
    ADD_FAILURE() << "MESSAGECORPS_KAFKA_SECURITY_STATE is not set (run through ctest: fixture "
                     "kafka_security)";
    return "";
  }
  return dir;
}

std::string SecuredClientFile(const std::string& listener) {
  return SecuredStateDir() + "/client-" + listener + ".properties";
}

std::map<std::string, std::string> SecuredClientProperties(const std::string& listener) {
  auto props = ReadPropertiesFile(SecuredClientFile(listener));
  EXPECT_TRUE(props.ok()) << props.status();
  return props.ok() ? *props : std::map<std::string, std::string>{};
}

std::string SecuredPassword() { return SecuredClientProperties("plain")["sasl.password"]; }

std::string SecuredPlaintextBrokers() {
  std::ifstream in(SecuredStateDir() + "/bootstrap");
  std::string brokers;
  std::getline(in, brokers);
  while (!brokers.empty() && (brokers.back() == ' ' || brokers.back() == '\r')) brokers.pop_back();
  EXPECT_FALSE(brokers.empty()) << "no bootstrap list in " << SecuredStateDir();
  return brokers;
}

}  // namespace messagecorps::testing
