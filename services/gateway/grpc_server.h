// The gateway's gRPC front end: messagecorps.gateway.v1.Gateway (proto/messagecorps/gateway/v1/
// gateway.proto) on the callback API, standard grpc.health.v1 health checking, and server
// reflection (Debian's gRPC 1.51 serves grpc.reflection.v1alpha only).
//
// No thread is held per call by gRPC itself: unary publishes finish from the producer's delivery
// report, publish streams bound their in-flight messages and stop reading past the window, and
// each subscription runs on one thread of its own (its consumer's Poll blocks) that feeds a
// bounded queue the stream writes from.
//
// Thread-safety: Start, SetServing and Shutdown are called by the owner's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gateway/gateway_context.h"

namespace messagecorps::gateway {

struct GrpcServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0: any free port (see port())
  size_t max_message_bytes = 4u << 20;
  // TLS: PEM files (plaintext when empty). With request_client_certs the handshake asks for a
  // client certificate without checking it; calls check it (GatewayContext::client_certs).
  std::string tls_cert_file, tls_key_file;
  bool request_client_certs = false;
};

class GrpcServer {
 public:
  explicit GrpcServer(GatewayContext context);
  ~GrpcServer();  // Shutdown(now) if still running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Builds and starts the server. kUnavailable when the address cannot be bound.
  absl::Status Start(const GrpcServerOptions& options);
  int port() const;

  // grpc.health.v1: SERVING / NOT_SERVING for "" and for messagecorps.gateway.v1.Gateway.
  void SetServing(bool serving);

  // Stops accepting calls, waits for running ones until `deadline`, then cancels the rest.
  // Streams should have been ended first (StreamRegistry::Drain).
  void Shutdown(std::chrono::system_clock::time_point deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps::gateway
