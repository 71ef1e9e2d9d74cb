#include "unit/mcorps_subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace mcorps::testing {

namespace {

std::string McorpsBinary() {
  const char* bin = std::getenv("MCORPS_BIN");
  if (bin == nullptr || *bin == '\0') {
    throw std::runtime_error("MCORPS_BIN is not set (the test is registered with it by CMake)");
  }
  return bin;
}

std::vector<std::string> MakeEnvironment(
    const std::map<std::string, std::optional<std::string>>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (changes.count(name)) continue;
    env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : changes) {
    if (value) env.push_back(name + "=" + *value);
  }
  return env;
}

}  // namespace

RunResult RunMcorps(const std::vector<std::string>& args, const RunOptions& options) {
  return RunProgram(McorpsBinary(), args, options);
}

RunResult RunProgram(const std::string& bin, const std::vector<std::string>& args,
                     const RunOptions& options) {
  std::vector<std::string> argv_strings = {bin};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = MakeEnvironment(options.env);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (spawned != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    throw std::runtime_error("posix_spawn " + bin + ": " + std::strerror(spawned));
  }

  // Feed stdin and drain stdout/stderr together: either side may fill a pipe.
  RunResult result;
  size_t written = 0;
  int stdin_fd = in[1];
  if (options.stdin_data.empty()) {
    close(stdin_fd);
    stdin_fd = -1;
  } else {
    fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  }
  signal(SIGPIPE, SIG_IGN);  // the child may exit without reading all its input
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool out_open = true, err_open = true;
  char buffer[65536];
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      result.timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    int out_index = -1, err_index = -1, in_index = -1;
    if (out_open) fds[out_index = n++] = {out[0], POLLIN, 0};
    if (err_open) fds[err_index = n++] = {err[0], POLLIN, 0};
    if (stdin_fd >= 0) fds[in_index = n++] = {stdin_fd, POLLOUT, 0};
    if (poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::min<int64_t>(left.count(), 1000))) <
        0) {
      if (errno == EINTR) continue;
      break;
    }
    auto drain = [&](int index, int fd, std::string& into, bool& open) {
      if (index < 0 || fds[index].revents == 0) return;
      const ssize_t got = read(fd, buffer, sizeof buffer);
      if (got > 0) {
        into.append(buffer, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        open = false;
      }
    };
    drain(out_index, out[0], result.out, out_open);
    drain(err_index, err[0], result.err, err_open);
    if (in_index >= 0 && fds[in_index].revents != 0) {
      const ssize_t put =
          write(stdin_fd, options.stdin_data.data() + written, options.stdin_data.size() - written);
      if (put > 0) written += static_cast<size_t>(put);
      if (put < 0 && errno != EAGAIN && errno != EINTR) written = options.stdin_data.size();
      if (written == options.stdin_data.size()) {
        close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  if (stdin_fd >= 0) close(stdin_fd);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string Describe(const RunResult& result) {
  std::ostringstream s;
  s << "exit " << result.exit_code << (result.timed_out ? " (timed out)" : "") << "\n--- stdout ("
    << result.out.size() << " bytes):\n"
    << result.out.substr(0, 2000) << "\n--- stderr:\n"
    << result.err.substr(0, 4000);
  return s.str();
}

}  // namespace mcorps::testing
