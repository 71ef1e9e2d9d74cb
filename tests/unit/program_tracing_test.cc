// Program::Start sets tracing up (the OTEL_* variables, read once per process: so this is a test
// binary of its own, where nothing read them before). A malformed value is an error in the
// program's log, never a failed start; the program then runs without tracing.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "messagecorps/program/program.h"
#include "messagecorps/tracing.h"

namespace messagecorps::program {
namespace {

TEST(ProgramTracing, MalformedTracingVariablesAreLoggedNotFatal) {
  char path[] = "/tmp/program_tracing_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(dup2(fd, STDERR_FILENO), 0);  // the program's logger writes to stderr
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
  setenv("OTEL_TRACES_SAMPLER", "sometimes", 1);
  ProgramOptions options;
  options.client.brokers = "h:1";
  auto program = Program::Start("unit", options);
  if (program.ok()) (*program)->logger()->flush();
  dup2(saved_stderr, STDERR_FILENO);
  close(fd);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(path);

  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_NE(text.find("tracing: "), std::string::npos) << text;
  EXPECT_NE(text.find("OTEL_TRACES_SAMPLER=sometimes"), std::string::npos) << text;
  EXPECT_FALSE(tracing::Enabled());
  program->reset();  // ~Program: tracing::Shutdown, a no-op with tracing off
}

}  // namespace
}  // namespace messagecorps::program
