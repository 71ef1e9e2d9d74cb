// mcorps-capture: publishes video frames as protobuf.data.Image on VideoStream.
//
//   mcorps-capture --video /usr/share/doc/opencv-doc/examples/data/vtest.avi --loop
//   mcorps-capture --camera 0 --resolution 640x480 --fps 15
//   mcorps-capture --synthetic --count 300 --encoding rgb     (raw RGB, as the original sent)
//
// Frames larger than the producer's message.max.bytes (default 1,000,000) are refused with an
// error naming the way out (JPEG, a smaller --resolution, or raising message.max.bytes on the
// broker/topic and passing -X message.max.bytes=N).
// Shared options (brokers, -X/-F, logging, metrics, envelope): messagecorps/program/options.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "capture/capture_service.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/program/program.h"

namespace ms = messagecorps::services;
namespace mp = messagecorps::program;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-capture: publish video frames (protobuf.data.Image) to Kafka"};
  mp::ProgramOptions shared;
  ms::CaptureOptions options;
  mp::AddProgramOptions(app, shared);
  ms::AddCaptureOptions(app, options);
  CLI11_PARSE(app, argc, argv);

  auto plan = ms::PlanCapture(options);
  if (!plan.ok()) return mp::Fail("mcorps-capture", plan.status());
  auto program = mp::Program::Start("capture", shared);
  if (!program.ok()) return mp::Fail("mcorps-capture", program.status());
  mp::Program& p = **program;
  auto source = ms::OpenSource(options, *plan);
  if (!source.ok()) return p.Finish(source.status());

  ms::FramePublisher publisher(options, *plan, **source, p.logger());
  ms::EnsureTopics(p.client(), {ms::MakeTopicSpec(options.topic, 8)});
  auto producer = messagecorps::Producer::Create(publisher.MakeProducerConfig(p));
  if (!producer.ok()) return p.Finish(producer.status());
  auto status = ms::StatusServer::StartIfEnabled(
      p.metrics(), [&] { return publisher.Stats(); }, p.metrics_options().host,
      p.metrics_options().port);
  if (!status.ok()) return p.Finish(status.status());

  const int exit_code = publisher.Run(p.stop_token(), **producer);
  std::cout << publisher.Summary().dump() << std::endl;
  return exit_code;
}
