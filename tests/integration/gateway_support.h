// Helpers for the gateway's tests: run mcorps-gateway as a child process on free ports, talk to it
// over gRPC (the generated C++ stub) and HTTP (cpp-httplib, SSE included).
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "integration/services_support.h"
#include "messagecorps/gateway/v1/gateway.grpc.pb.h"

#ifndef MCORPS_GATEWAY_BIN
#error "the test's CMake target defines MCORPS_GATEWAY_BIN (path of mcorps-gateway)"
#endif

namespace messagecorps::testing {

namespace v1 = messagecorps::gateway::v1;

// One mcorps-gateway process on free ports (--grpc-port 0 --http-port 0), brokers from the test.
class GatewayProcess {
 public:
  GatewayProcess(const std::string& name, const std::string& brokers,
                 std::vector<std::string> extra_args, const std::filesystem::path& dir)
      : name_(name) {
    // No brokers: the gateway finds them in -F / $MESSAGECORPS_CLIENT_CONFIG / the environment.
    std::vector<std::string> args = {"--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0"};
    if (!brokers.empty()) args.insert(args.begin(), {"--brokers", brokers});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<ServiceProcess>(name, MCORPS_GATEWAY_BIN, args, dir);
  }

  // Waits for the {"grpc_port": P, "http_port": Q} line. False (and a test failure with the log)
  // when it does not come within `timeout`.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string line = process_->LastLine();
      if (!line.empty()) {
        auto json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_object() && json.contains("grpc_port")) {
          grpc_port_ = json["grpc_port"];
          http_port_ = json["http_port"];
          return true;
        }
      }
      if (!process_->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << name_ << " did not start; its log:\n" << process_->Log();
    return false;
  }

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }

  std::shared_ptr<grpc::Channel> Channel() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    return grpc::CreateCustomChannel(grpc_target(), grpc::InsecureChannelCredentials(), args);
  }
  std::unique_ptr<v1::Gateway::Stub> Stub() const { return v1::Gateway::NewStub(Channel()); }
  // A channel for a client that stops reading: small HTTP/2 windows (no BDP probing), so that not
  // reading holds the gateway back at once.
  std::shared_ptr<grpc::Channel> SlowChannel() const {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 65536);
    args.SetMaxReceiveMessageSize(64 << 20);
    return grpc::CreateCustomChannel(grpc_target(), grpc::InsecureChannelCredentials(), args);
  }
  httplib::Client Http() const {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_read_timeout(std::chrono::seconds(30));
    client.set_write_timeout(std::chrono::seconds(30));
    return client;
  }

  ServiceProcess& process() { return *process_; }

 private:
  std::string name_;
  std::unique_ptr<ServiceProcess> process_;
  int grpc_port_ = 0;
  int http_port_ = 0;
};

// A number from /proc/PID/status (`field` with its colon, e.g. "VmRSS:", in KiB for sizes); 0
// when unreadable.
inline int64_t ProcStatusNumber(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + field.size());
  }
  return 0;
}
inline int64_t RssKib(pid_t pid) { return ProcStatusNumber(pid, "VmRSS:"); }
inline int64_t ThreadCount(pid_t pid) { return ProcStatusNumber(pid, "Threads:"); }
// Open file descriptors of a process (0 when unreadable).
inline int64_t OpenFds(pid_t pid) {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// One Server-Sent Event.
struct SseEvent {
  std::string id;
  std::string event;
  std::string data;
};

// Splits an SSE byte stream into events (comments dropped).
class SseParser {
 public:
  // Feeds bytes; calls `on_event` per complete event; returns false when on_event did.
  bool Feed(const char* data, size_t size, const std::function<bool(const SseEvent&)>& on_event) {
    buffer_.append(data, size);
    size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      SseEvent event;
      bool any = false;
      size_t start = 0;
      while (start <= block.size()) {
        size_t nl = block.find('\n', start);
        if (nl == std::string::npos) nl = block.size();
        const std::string line = block.substr(start, nl - start);
        start = nl + 1;
        if (line.empty() || line[0] == ':') continue;
        const size_t colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "id") event.id = value, any = true;
        if (field == "event") event.event = value, any = true;
        if (field == "data") event.data += value, any = true;
      }
      if (any && !on_event(event)) return false;
    }
    return true;
  }

 private:
  std::string buffer_;
};

// Reads an SSE stream until `want` events (of any kind) arrived, the stream ended, or `timeout`
// (the HTTP read timeout). Returns the events; `*status` gets the HTTP status and `*opened` turns
// true once the response headers arrived (the subscription is open), when not null.
inline std::vector<SseEvent> ReadSse(int port, const std::string& path, size_t want,
                                     std::chrono::seconds timeout,
                                     const httplib::Headers& headers = {}, int* status = nullptr,
                                     std::atomic<bool>* opened = nullptr) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(timeout);
  std::vector<SseEvent> events;
  SseParser parser;
  auto res = client.Get(
      path.c_str(), headers,
      [&](const httplib::Response&) {
        if (opened != nullptr) *opened = true;
        return true;
      },
      [&](const char* data, size_t size) {
        return parser.Feed(data, size, [&](const SseEvent& e) {
          events.push_back(e);
          return events.size() < want;
        });
      });
  if (status != nullptr) *status = res ? res->status : -1;
  if (opened != nullptr) *opened = true;  // also when it failed: nobody should wait forever
  return events;
}

}  // namespace messagecorps::testing
