#include "common/shutdown.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>

namespace messagecorps::services {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};
std::mutex g_mu;
std::condition_variable g_cv;

void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);  // second signal: give up waiting
  g_stop.store(true);
  // Not async-signal-safe to notify: waiters poll with a short period instead (see WaitForStop).
}

}  // namespace

void InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_stop.load(); }

void RequestStop() {
  g_stop.store(true);
  std::lock_guard lock(g_mu);
  g_cv.notify_all();
}

bool WaitForStop(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(g_mu);
  while (!g_stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // Signals cannot notify the condition variable, so wake up at least every 50 ms.
    g_cv.wait_for(lock, std::min<std::chrono::steady_clock::duration>(
                            deadline - now, std::chrono::milliseconds(50)));
  }
  return true;
}

}  // namespace messagecorps::services
