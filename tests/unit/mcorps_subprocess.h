// Runs the real `mcorps` binary (path in $MCORPS_BIN, set by CMake from $<TARGET_FILE:mcorps>) as a
// subprocess: stdin fed from a string, stdout and stderr captured, exit code returned. Used by
// the mcorps unit (no broker) and integration (real broker) tests.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mcorps::testing {

struct RunResult {
  int exit_code = -1;  // 128 + signal when killed (e.g. after the timeout)
  std::string out;
  std::string err;
  bool timed_out = false;
};

struct RunOptions {
  std::string stdin_data;
  std::chrono::milliseconds timeout{60000};
  // Environment changes: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
};

// Runs `$MCORPS_BIN args...`.
RunResult RunMcorps(const std::vector<std::string>& args, const RunOptions& options = {});

// Runs the program at `path` (no PATH lookup) the same way (the interop tests' Python peers).
RunResult RunProgram(const std::string& path, const std::vector<std::string>& args,
                     const RunOptions& options = {});

// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

// Pretty-prints a result for assertion messages.
std::string Describe(const RunResult& result);

}  // namespace mcorps::testing
