// The secured broker of the ctest fixture kafka_security (scripts/kafka start --security): its
// state directory, the client property files the script wrote there (client-<listener>.properties:
// plain, scram256, scram512, mtls, expired, wronghost) and its PLAINTEXT listener, where tests
// create their topics. Every helper records a test failure (ADD_FAILURE) and returns "" when the
// test runs outside that fixture: a missing part fails, it never skips.
#pragma once

#include <map>
#include <string>

namespace messagecorps::testing {

// $MESSAGECORPS_KAFKA_SECURITY_STATE.
std::string SecuredStateDir();

// STATE/client-<listener>.properties (the path; it exists once the fixture ran).
std::string SecuredClientFile(const std::string& listener);

// The properties of that file (empty after a recorded failure to read it).
std::map<std::string, std::string> SecuredClientProperties(const std::string& listener);

// The SASL password of the clients' user (sasl.password of client-plain.properties).
std::string SecuredPassword();

// The PLAINTEXT listener's bootstrap list (STATE/bootstrap).
std::string SecuredPlaintextBrokers();

}  // namespace messagecorps::testing
