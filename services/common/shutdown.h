// Stopping a service on SIGINT/SIGTERM: the handler only sets a flag; loops poll StopRequested()
// or wait with WaitForStop(). A second signal while stopping exits at once (status 130), so a
// stuck shutdown can always be cut short from the terminal.
#pragma once

#include <chrono>

namespace messagecorps::services {

// Installs the handlers for SIGINT and SIGTERM (idempotent) and ignores SIGPIPE (a browser closing
// its connection must not kill the display).
void InstallStopSignals();

// True once SIGINT/SIGTERM arrived or RequestStop() was called.
bool StopRequested();

// Asks every loop to stop (tests, --count reached, fatal errors).
void RequestStop();

// Sleeps up to `timeout`, returning early (true) when a stop was requested.
bool WaitForStop(std::chrono::milliseconds timeout);

}  // namespace messagecorps::services
