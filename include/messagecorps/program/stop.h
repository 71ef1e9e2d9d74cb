// messagecorps/program/stop.h — the one stop path of every program: SIGINT/SIGTERM become a
// request on a std::stop_source; a second signal ends the process at once.
//
//   StopSignals stop;                 // first thing in main
//   router.Run(stop.token());         // or: while (!SleepFor(stop.token(), 100ms)) { ... }
//
// Contract: the first SIGINT or SIGTERM requests stop on token() (programs then finish what they
// hold: flush, commit, close) and is remembered in signal(). A second one while stopping calls
// _exit(128 + signal) (130 for SIGINT, 143 for SIGTERM, what a shell reports), so a stuck shutdown
// can always be cut short from the terminal. RequestStop() (e.g. --count reached, a fatal error)
// requests the same stop without counting as a signal. SIGPIPE is ignored while a StopSignals
// lives (a closed stdout or socket is an EPIPE write error, not a dead process).
//
// Threads: the signal handler only writes one byte to a pipe (async-signal-safe); a watcher
// thread owned by StopSignals turns it into request_stop(), so stop callbacks run on that thread.
// token(), RequestStop() and the accessors may be called from any thread.
// At most one StopSignals exists at a time in a process (a second construction aborts: two
// owners of the process's signals would fight); the destructor restores the previous handlers.
#pragma once

#include <chrono>
#include <stop_token>
#include <thread>

namespace messagecorps::program {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  bool stop_requested() const { return source_.stop_requested(); }
  // Requests stop without a signal (signal() stays 0).
  void RequestStop() { source_.request_stop(); }
  // The signal that requested stop, 0 when none did.
  int signal() const;

 private:
  std::stop_source source_;
  std::jthread watcher_;
};

// Waits up to `timeout`; true as soon as stop is requested on `token` (at once when it already
// was), false when the time ran out. For loops that do periodic work until stopped.
bool SleepFor(std::stop_token token, std::chrono::milliseconds timeout);

}  // namespace messagecorps::program
