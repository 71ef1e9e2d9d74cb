// Helpers for the example system's integration tests: run the service binaries as child
// processes (output to files), wait for them with a deadline, stop them with SIGTERM.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace messagecorps::testing {

class ServiceProcess {
 public:
  // Starts `binary args...` with stdout/stderr in `dir`/<name>.out/.log.
  ServiceProcess(std::string name, const std::string& binary, std::vector<std::string> args,
                 const std::filesystem::path& dir)
      : name_(std::move(name)), out_(dir / (name_ + ".out")), log_(dir / (name_ + ".log")) {
    std::vector<std::string> argv_s = {binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test that crashes (no
    // destructor runs) must not leave its services running, holding ports and consumer groups
    // that disturb the tests after it. The signal follows the thread that started the child, so
    // start services from the test's own thread. Between fork and exec only async-signal-safe
    // calls.
    const pid_t parent = getpid();
    const int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int log = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int exec_failed[2] = {-1, -1};  // written to only when execve fails (closed on exec)
    pid_ = (out >= 0 && log >= 0 && pipe2(exec_failed, O_CLOEXEC) == 0) ? fork() : -1;
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the test ended before prctl
      if (dup2(out, 1) >= 0 && dup2(log, 2) >= 0) execve(binary.c_str(), argv.data(), environ);
      const int error = errno;
      (void)!write(exec_failed[1], &error, sizeof error);
      _exit(127);
    }
    for (int fd : {out, log, exec_failed[1]}) {
      if (fd >= 0) close(fd);
    }
    if (pid_ > 0) {
      int error = 0;
      if (read(exec_failed[0], &error, sizeof error) > 0) {  // not started: as posix_spawn failing
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
      }
    }
    if (exec_failed[0] >= 0) close(exec_failed[0]);
  }
  ~ServiceProcess() {
    if (running()) {
      Terminate();
      if (!Wait(std::chrono::seconds(10))) {
        kill(pid_, SIGKILL);
        Wait(std::chrono::seconds(5));
      }
    }
  }
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  bool running() {
    Reap();
    return pid_ > 0 && !exited_;
  }
  void Terminate() { Signal(SIGTERM); }
  void Signal(int sig) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
  }
  // True when the process exited within `timeout`.
  bool Wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  int exit_code() const { return exit_code_; }
  std::string Out() const { return Slurp(out_); }
  std::string Log() const { return Slurp(log_); }
  // The last line of stdout (the services print a JSON summary there when they stop).
  std::string LastLine() const {
    std::istringstream in(Out());
    std::string line, last;
    while (std::getline(in, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }
  const std::string& name() const { return name_; }

 private:
  void Reap() {
    if (pid_ <= 0 || exited_) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  static std::string Slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string name_;
  std::filesystem::path out_, log_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

// Polls `done` every 200 ms until it holds (true) or `limit` passed (false).
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return true;
}

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string templ = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace messagecorps::testing
