// The parts every program shares (messagecorps/program/): the shared options and what they turn
// into, and the one stop path (signals -> std::stop_source, a second signal ends the process at
// once). Signals are sent to forked children, never to the test process.
#include "messagecorps/program/program.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/envelope.h"
#include "messagecorps/program/options.h"
#include "messagecorps/program/stop.h"

namespace messagecorps::program {
namespace {

using namespace std::chrono_literals;

// argv from strings.
class Args {
 public:
  Args(std::initializer_list<std::string> args) : strings_(args) {
    for (std::string& s : strings_) pointers_.push_back(s.data());
  }
  int argc() { return static_cast<int>(pointers_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

TEST(Options, EveryProgramParsesTheSameSharedOptions) {
  CLI::App app{"test"};
  ProgramOptions options;
  AddProgramOptions(app, options);
  Args args{"prog",
            "-b",
            "h:1",
            "-X",
            "a=1",
            "-X",
            "b=2",
            "-F",
            "f1",
            "-F",
            "f2",
            "-vv",
            "--log-level",
            "warn",
            "--metrics-port",
            "9100",
            "--service",
            "s",
            "--environment",
            "staging"};
  app.parse(args.argc(), args.argv());
  EXPECT_EQ(options.client.brokers, "h:1");
  EXPECT_EQ(options.client.properties, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(options.client.config_files, (std::vector<std::string>{"f1", "f2"}));
  EXPECT_EQ(options.log.verbosity, 2);
  EXPECT_EQ(options.log.level, "warn");
  EXPECT_EQ(options.metrics.port, 9100);
  EXPECT_EQ(options.envelope.service, "s");
  EXPECT_EQ(options.envelope.environment, "staging");
}

TEST(Options, EnvelopeFromFlagsThenEnvironmentThenTheProgram) {
  unsetenv("LOG_TAG_SERVICE");
  unsetenv("ENVIRONMENT");
  EnvelopeOptions options;
  auto defaults = MakeEnvelope(options, "capture");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->service, "capture");
  EXPECT_EQ(defaults->environment, protobuf::common::DEVELOPMENT);
  setenv("LOG_TAG_SERVICE", "from-env", 1);
  setenv("ENVIRONMENT", "staging", 1);
  auto from_env = MakeEnvelope(options, "capture");
  EXPECT_EQ(from_env->service, "from-env");
  EXPECT_EQ(from_env->environment, protobuf::common::STAGING);
  options.service = "from-flag";
  options.environment = "production";
  auto from_flags = MakeEnvelope(options, "capture");
  EXPECT_EQ(from_flags->service, "from-flag");
  EXPECT_EQ(from_flags->environment, protobuf::common::PRODUCTION);
  options.environment = "nowhere";
  EXPECT_EQ(MakeEnvelope(options, "capture").status().code(), absl::StatusCode::kInvalidArgument);
  unsetenv("LOG_TAG_SERVICE");
  unsetenv("ENVIRONMENT");
}

TEST(Options, LoggerLevelFromFlagsThenEnvironmentThenTheProgram) {
  unsetenv("MCORPS_LOG_LEVEL");
  LogOptions options;
  EXPECT_EQ((*MakeLogger("p", options, "warn"))->level(), spdlog::level::warn);
  setenv("MCORPS_LOG_LEVEL", "error", 1);
  EXPECT_EQ((*MakeLogger("p", options, "warn"))->level(), spdlog::level::err);
  options.level = "debug";
  EXPECT_EQ((*MakeLogger("p", options, "warn"))->level(), spdlog::level::debug);
  options.level.clear();
  options.verbosity = 1;  // -v
  EXPECT_EQ((*MakeLogger("p", options, "warn"))->level(), spdlog::level::info);
  options.verbosity = 0;
  options.level = "loud";
  EXPECT_EQ(MakeLogger("p", options, "warn").status().code(), absl::StatusCode::kInvalidArgument);
  unsetenv("MCORPS_LOG_LEVEL");
}

TEST(Program, StartsWithOneClientConfigurationCarryingItsLoggerAndMetrics) {
  unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  ProgramOptions options;
  options.client.brokers = "h:1";
  options.client.properties = {"client.id=x"};
  auto program = Program::Start("unit", options);
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ((*program)->client().brokers, "h:1");
  EXPECT_EQ((*program)->client().properties.at("client.id"), "x");
  EXPECT_EQ((*program)->client().logger, (*program)->logger());
  EXPECT_EQ((*program)->client().metrics, (*program)->metrics());
  EXPECT_EQ((*program)->envelope().service, "unit");
  EXPECT_FALSE((*program)->stop_token().stop_requested());
  (*program)->RequestStop();
  EXPECT_TRUE((*program)->stop_token().stop_requested());
  EXPECT_EQ((*program)->Finish(absl::OkStatus()), kExitOk);
  EXPECT_EQ((*program)->Finish(absl::InvalidArgumentError("bad")), kExitUsage);
  EXPECT_EQ((*program)->metrics_options().port, -1);
  EXPECT_EQ((*program)->Finish(absl::UnavailableError("down")), kExitRuntime);
  program->reset();
  // A malformed -X is a usage error before anything starts.
  options.client.properties = {"no-equals"};
  EXPECT_EQ(Program::Start("unit", options).status().code(), absl::StatusCode::kInvalidArgument);
}

// Runs `child` in a forked process; returns its wait status.
int InChild(const std::function<int()>& child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(StopSignals, TheFirstSignalRequestsStop) {
  for (int sig : {SIGINT, SIGTERM}) {
    const int status = InChild([sig] {
      StopSignals stop;
      kill(getpid(), sig);
      // The watcher thread turns the signal into request_stop(); 5 s is ample on a loaded machine.
      if (SleepFor(stop.token(), 5s) && stop.signal() == sig) return 0;
      return 1;
    });
    ASSERT_TRUE(WIFEXITED(status)) << "signal " << sig << " killed the process";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "signal " << sig;
  }
}

TEST(StopSignals, ASecondSignalEndsTheProcessAtOnce) {
  for (int sig : {SIGINT, SIGTERM}) {
    const int status = InChild([sig] {
      StopSignals stop;
      kill(getpid(), sig);
      (void)SleepFor(stop.token(), 5s);
      kill(getpid(), sig);  // a stuck shutdown cut short
      std::this_thread::sleep_for(5s);
      return 0;  // not reached
    });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
  }
}

TEST(StopSignals, RequestStopIsNotASignalAndSigpipeIsAnErrorValue) {
  const int status = InChild([] {
    StopSignals stop;
    stop.RequestStop();
    if (!stop.stop_requested() || stop.signal() != 0) return 1;
    kill(getpid(), SIGTERM);  // still the first signal: not fatal
    std::this_thread::sleep_for(200ms);
    int fds[2];
    if (pipe(fds) != 0) return 2;
    close(fds[0]);
    const char byte = 'x';
    if (write(fds[1], &byte, 1) != -1 || errno != EPIPE) return 3;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(StopSignals, SleepForWaitsItsTimeWithoutAStop) {
  std::stop_source source;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(SleepFor(source.get_token(), 50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  std::jthread stopper([&] {
    std::this_thread::sleep_for(20ms);
    source.request_stop();
  });
  EXPECT_TRUE(SleepFor(source.get_token(), 60s));  // returns on the stop, long before 60 s
}

}  // namespace
}  // namespace messagecorps::program
