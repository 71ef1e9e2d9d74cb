#include "messagecorps/program/stop.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>

namespace messagecorps::program {
namespace {

// Process-wide: a signal handler cannot reach an object.
std::atomic<bool> g_installed{false};
std::atomic<int> g_signals{0};
std::atomic<int> g_first_signal{0};
int g_pipe[2] = {-1, -1};
struct sigaction g_previous[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGPIPE};

void OnSignal(int sig) {
  if (g_signals.fetch_add(1) >= 1) _exit(128 + sig);  // the second: stop waiting
  g_first_signal.store(sig);
  const int saved = errno;
  const unsigned char byte = 1;
  (void)!write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

StopSignals::StopSignals() {
  if (g_installed.exchange(true)) {
    // Two owners of the process's signals: a programming error, not a runtime condition.
    std::abort();
  }
  g_signals.store(0);
  g_first_signal.store(0);
  if (pipe2(g_pipe, O_CLOEXEC) != 0) std::abort();
  watcher_ = std::jthread([this] {
    unsigned char byte = 0;
    for (;;) {
      const ssize_t n = read(g_pipe[0], &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == 0) return;  // 0: the destructor asks the watcher to end
      source_.request_stop();
    }
  });
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &g_previous[0]);
  sigaction(SIGTERM, &sa, &g_previous[1]);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, &g_previous[2]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
  const unsigned char end = 0;
  (void)!write(g_pipe[1], &end, 1);
  watcher_.join();
  close(g_pipe[0]);
  close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
  g_installed.store(false);
}

int StopSignals::signal() const { return g_first_signal.load(); }

bool SleepFor(std::stop_token token, std::chrono::milliseconds timeout) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return cv.wait_for(lock, token, timeout, [] { return false; }) || token.stop_requested();
}

}  // namespace messagecorps::program
