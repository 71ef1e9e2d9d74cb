#include "scenario.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "support/test_brokers.h"

extern char** environ;

namespace messagecorps::testing {

namespace {
using Clock = std::chrono::steady_clock;

absl::StatusOr<std::unique_ptr<AdminClient>> Admin(const std::string& brokers) {
  ClientConfig config;
  config.brokers = brokers;
  return AdminClient::Create(config);
}
}  // namespace

Form ScenarioForm() {
  const char* form = std::getenv("MESSAGECORPS_ROBUSTNESS_FORM");
  return form != nullptr && std::string(form) == "full" ? Form::kFull : Form::kCi;
}

const char* FormName(Form form) { return form == Form::kFull ? "full" : "ci"; }

void CreateReplicatedTopic(const std::string& brokers, const std::string& name, int partitions,
                           std::map<std::string, std::string> config) {
  config.emplace("min.insync.replicas", "2");
  auto admin = Admin(brokers);
  ASSERT_TRUE(admin.ok()) << admin.status();
  // 30 s: topic creation waits for the controller and the leaders of every partition; measured in
  // seconds on the loaded 2-core machine.
  absl::Status s =
      (*admin)->CreateTopic({name, partitions, kClusterNodes, config}, std::chrono::seconds(30));
  ASSERT_TRUE(s.ok()) << s;
  s = (*admin)->WaitForTopic(name, partitions, std::chrono::seconds(30));
  ASSERT_TRUE(s.ok()) << s;
}

absl::StatusOr<int> LeaderOf(const std::string& brokers, const std::string& topic,
                             int32_t partition) {
  auto admin = Admin(brokers);
  if (!admin.ok()) return admin.status();
  auto info = (*admin)->DescribeTopic(topic, std::chrono::seconds(10));
  if (!info.ok()) return info.status();
  for (const PartitionInfo& p : info->partitions) {
    if (p.id == partition && p.leader >= 0) return p.leader;
  }
  return absl::UnavailableError(absl::StrCat(topic, "[", partition, "] has no leader"));
}

absl::Status WaitForFullIsr(const std::string& brokers, const std::string& topic,
                            std::chrono::milliseconds timeout) {
  auto admin = Admin(brokers);
  if (!admin.ok()) return admin.status();
  const auto deadline = Clock::now() + timeout;
  std::string missing;
  while (Clock::now() < deadline) {
    auto info = (*admin)->DescribeTopic(topic, std::chrono::seconds(10));
    missing.clear();
    if (info.ok()) {
      for (const PartitionInfo& p : info->partitions) {
        if (p.in_sync.size() < static_cast<size_t>(kClusterNodes)) {
          absl::StrAppend(&missing, " ", p.id, "(isr ", p.in_sync.size(), ")");
        }
      }
      if (missing.empty()) return absl::OkStatus();
    } else {
      missing = std::string(info.status().message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(topic, ": replicas not all in sync after ", timeout.count(), " ms:", missing));
}

absl::Status WaitForGroupToCatchUp(const std::string& brokers, const std::string& group,
                                   int partitions, std::chrono::milliseconds stall) {
  auto admin = Admin(brokers);
  if (!admin.ok()) return admin.status();
  int64_t least = std::numeric_limits<int64_t>::max();
  auto progress = Clock::now();
  std::string behind;
  while (Clock::now() - progress < stall) {
    auto lag = (*admin)->GroupLag(group, std::chrono::seconds(10));
    behind.clear();
    if (lag.ok() && lag->size() == static_cast<size_t>(partitions)) {
      int64_t total = 0;
      for (const PartitionLag& l : *lag) {
        if (l.lag != 0) absl::StrAppend(&behind, " ", l.partition, ":", l.lag);
        total += std::max<int64_t>(l.lag, 0);
      }
      if (total == 0) return absl::OkStatus();
      if (total < least) {
        least = total;
        progress = Clock::now();
      }
    } else {
      behind = lag.ok() ? absl::StrCat(lag->size(), " partitions committed")
                        : std::string(lag.status().message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::DeadlineExceededError(absl::StrCat("group ", group, " made no progress for ",
                                                  stall.count(), " ms; behind:", behind));
}

void KillNode(int node) {
  EXPECT_EQ(KafkaScript(absl::StrCat("kill ", node)), 0) << "kill " << node;
}

void RestartNode(int node) {
  // 240 s, not the script's 90 s default: on a loaded 2-core machine a restarted node's JVM took
  // 27 s to start, then recovered its unflushed logs, and the readiness probe (a JVM too) ran out
  // of 90 s once. The scenarios measure recovery themselves; this bound only catches a node that
  // never comes back.
  EXPECT_EQ(KafkaScript(absl::StrCat("restart ", node, " --timeout 240")), 0) << "restart " << node;
}

void PauseAllNodes() { EXPECT_EQ(KafkaScript("pause all"), 0) << "pause all"; }

void ResumeAllNodes() { EXPECT_EQ(KafkaScript("resume all"), 0) << "resume all"; }

std::vector<int> RestartMissingNodes() {
  std::vector<int> restarted;
  const char* state = std::getenv("MESSAGECORPS_KAFKA_STATE");
  if (state == nullptr) return restarted;
  (void)KafkaScript("resume all");  // a frozen node is "running" but serves nothing
  for (int n = 1; n <= kClusterNodes; ++n) {
    // scripts/kafka removes node-N.pid when it kills node N.
    if (!std::filesystem::exists(absl::StrCat(state, "/node-", n, ".pid"))) {
      RestartNode(n);
      restarted.push_back(n);
    }
  }
  return restarted;
}

void Pace(Clock::time_point start, std::chrono::milliseconds duration, int64_t done,
          int64_t total) {
  if (total <= 0) return;
  const auto due = start + duration * done / total;
  if (Clock::now() < due) std::this_thread::sleep_until(due);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    ChildProcess old(std::move(*this));
    pid_ = std::exchange(other.pid_, -1);
  }
  return *this;
}

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                 const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc)));
  }
  ChildProcess child;
  child.pid_ = pid;
  return child;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

absl::StatusOr<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no child process");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still runs after ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::Status ChildProcess::DumpStacks(const std::string& path) const {
  if (pid_ <= 0) return absl::FailedPreconditionError("no child process");
  const std::string pid = std::to_string(pid_);
  auto gdb = Start({"/usr/bin/gdb", "-p", pid, "-batch", "-nx", "-ex", "info threads", "-ex",
                    "thread apply all bt"},
                   path);
  if (!gdb.ok()) return gdb.status();
  auto status = gdb->Wait(std::chrono::seconds(60));
  if (!status.ok()) return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(absl::StrCat("gdb -p ", pid, " failed (see ", path, ")"));
  }
  return absl::OkStatus();
}

std::string ScenarioDir(const std::string& scenario) {
  const char* bin = std::getenv("MESSAGECORPS_BINARY_DIR");
  std::filesystem::path dir = std::filesystem::path(bin ? bin : ".") / "robustness-logs" / scenario;
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace messagecorps::testing
