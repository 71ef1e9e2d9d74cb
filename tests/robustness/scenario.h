// What the fault scenarios (tests/robustness/*_scenario_test.cc) share: their two forms, the
// 3-node fixture cluster's nodes (kill, restart, freeze, find a leader), topics as the scenarios
// need them, pacing, and child processes that can be SIGKILLed.
//
// Forms: MESSAGECORPS_ROBUSTNESS_FORM=full runs the documented long form (the message
// counts and fault schedules; results in docs/RELIABILITY.md); anything else (CI) runs the short
// form: fewer messages, one fault of each kind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/admin.h"

namespace messagecorps::testing {

enum class Form { kCi, kFull };
Form ScenarioForm();
const char* FormName(Form form);
// `ci` in the short form, `full` in the long one.
template <class T>
T ByForm(T ci, T full) {
  return ScenarioForm() == Form::kFull ? full : ci;
}

inline constexpr int kClusterNodes = 3;

// Creates `name` with replication factor 3 and min.insync.replicas=2 (acks=all then survives one
// node down and refuses writes rather than losing durability with two), waits for its leaders.
void CreateReplicatedTopic(const std::string& brokers, const std::string& name, int partitions,
                           std::map<std::string, std::string> config = {});

// The node (scripts/kafka node number = Kafka node id) leading `topic`'s partition.
absl::StatusOr<int> LeaderOf(const std::string& brokers, const std::string& topic,
                             int32_t partition);
// Waits until every partition of `topic` has all 3 replicas in sync again (after a node came back),
// so that the next fault is one fault, not two.
absl::Status WaitForFullIsr(const std::string& brokers, const std::string& topic,
                            std::chrono::milliseconds timeout);

// Waits until `group` has committed everything of its `partitions` input partitions (lag 0 on
// each). Fails (kDeadlineExceeded, naming the partitions behind) only when the group's total lag
// has not shrunk for `stall`: a slow group catching up on a backlog is not a stuck one.
absl::Status WaitForGroupToCatchUp(const std::string& brokers, const std::string& group,
                                   int partitions, std::chrono::milliseconds stall);

// scripts/kafka on the fixture's cluster; a failure is a test failure naming the command.
void KillNode(int node);
void RestartNode(int node);
void PauseAllNodes();
void ResumeAllNodes();
// Restarts (in the background of nothing: blocking) every node that does not run; for the end of a
// scenario, so that the next one finds a whole cluster. Returns the nodes restarted.
std::vector<int> RestartMissingNodes();

// Sleeps so that `done` events out of `total` are spread evenly over `duration` since `start`.
void Pace(std::chrono::steady_clock::time_point start, std::chrono::milliseconds duration,
          int64_t done, int64_t total);

// A child process running a program of ours (fork + exec), that the test can SIGKILL.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs it if still running
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;

  // Starts `argv[0]` with these arguments; its stderr and stdout go to `log_path` (appended).
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::string& log_path);
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits up to `timeout` for it to exit; its exit status (as from waitpid) or kDeadlineExceeded.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  // Writes every thread's stack (gdb's `thread apply all bt`) to `path`: what a stuck child was
  // doing, kept beside its log. Fails when gdb is missing or cannot attach.
  absl::Status DumpStacks(const std::string& path) const;

 private:
  pid_t pid_ = -1;
};

// The directory a test binary runs in under ctest's build tree (for logs of child processes).
std::string ScenarioDir(const std::string& scenario);

}  // namespace messagecorps::testing
