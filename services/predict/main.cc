// mcorps-predict: labels VideoStream frames and publishes a Prediction per frame on Predictions.
//
// Built on messagecorps::Router: instances share the topic's partitions through the consumer group
// (--group, default "predict"); each Prediction inherits its frame's trace; offsets are committed
// after the Prediction is delivered. When behind (--skip-to-latest, on by default) only the newest
// frame is handled — the router's newest-per-partition plus the predictor's age/ordering check —
// and the skipped frames are counted. Frames that cannot be handled (corrupt image, wrong size,
// another message type) go to VideoStream.DLQ with the reason; the service keeps running.
// --exactly-once: each poll's predictions, dead letters and input positions are one transaction
// (RouterConfig::exactly_once), so a frame's prediction appears once in the read_committed output
// whatever dies; with --no-skip every frame gets exactly one.
// Shared options (brokers, -X/-F, logging, metrics, envelope): messagecorps/program/options.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <opencv2/core/utility.hpp>
#include <thread>

#include "common/service_router.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/program/program.h"
#include "predict/predict_service.h"

namespace ms = messagecorps::services;
namespace mp = messagecorps::program;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-predict: detect objects in VideoStream frames, publish Predictions"};
  mp::ProgramOptions shared;
  ms::PredictOptions options;
  mp::AddProgramOptions(app, shared);
  ms::AddPredictOptions(app, options);
  CLI11_PARSE(app, argc, argv);

  auto program = mp::Program::Start("predict", shared);
  if (!program.ok()) return mp::Fail("mcorps-predict", program.status());
  mp::Program& p = **program;
  if (options.threads > 0) cv::setNumThreads(options.threads);
  auto detectors = ms::MakeDetectors(options);
  if (!detectors.ok()) return mp::Fail("mcorps-predict", detectors.status());
  ms::Predictor predictor(
      std::move(*detectors), messagecorps::Topic<protobuf::predictions::Prediction>(options.output),
      {.enabled = options.skip_to_latest, .max_frame_age_s = options.max_frame_age}, p.metrics());
  ms::EnsureTopics(p.client(), ms::PredictTopics(options));

  messagecorps::RouterConfig rc = ms::ServiceRouterConfig(
      p, options.group,
      options.earliest ? messagecorps::StartOffset::kEarliest : messagecorps::StartOffset::kLatest);
  ms::ApplyPredictOptions(options, rc);
  messagecorps::Router router(rc);
  if (auto s = ms::SetUpPredictRouter(router, predictor, options, p.logger(), p.metrics());
      !s.ok()) {
    return p.Finish(s);
  }
  auto stats = [&] { return ms::PredictStats(router.Stats(), predictor); };
  auto status = ms::StatusServer::StartIfEnabled(p.metrics(), stats, p.metrics_options().host,
                                                 p.metrics_options().port);
  if (!status.ok()) return p.Finish(status.status());
  p.logger()->info("predicting {} -> {} with {} (group {}, skip to latest: {}, exactly-once: {})",
                   options.input, options.output, predictor.model_name(), options.group,
                   options.skip_to_latest ? "on" : "off",
                   rc.exactly_once ? rc.exactly_once->transactional_id : std::string("off"));

  std::jthread progress([&] {
    ms::LogProgress(p.stop_token(), router, predictor, *p.logger(), std::chrono::seconds(10));
  });
  const absl::Status result = router.Run(p.stop_token());
  p.RequestStop();  // ends the progress log when --count ended the run
  progress.join();
  std::cout << stats().dump() << std::endl;
  return p.Finish(result);
}
