// mcorps-store: keeps every frame and prediction (with their envelopes) in SQLite or PostgreSQL,
// and tells a frame's story by trace id.
//
//   mcorps-store                          consume VideoStream + Predictions into the SQLite file
//   mcorps-store --postgres URL           ... into PostgreSQL
//   mcorps-store --query TRACE_ID         print the frame, its predictions and envelopes as JSON
//
// Built on messagecorps::Router (group "store", from the oldest record for a new group); writes
// are idempotent on the records' Kafka coordinates, so redelivered records add no rows. Database
// errors are retried (5 attempts, back-off up to 2 s) before the record is dead-lettered.
// Shared options (brokers, -X/-F, logging, metrics, envelope): messagecorps/program/options.h.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/service_router.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/program/program.h"
#include "store/store_service.h"

namespace ms = messagecorps::services;
namespace mp = messagecorps::program;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-store: keep frames and predictions in SQLite or PostgreSQL"};
  mp::ProgramOptions shared;
  ms::StoreOptions options;
  mp::AddProgramOptions(app, shared);
  ms::AddStoreOptions(app, options);
  CLI11_PARSE(app, argc, argv);

  auto store = ms::OpenStore(options);
  if (!store.ok()) return mp::Fail("mcorps-store", store.status());
  if (!options.query.empty()) return ms::PrintTrace(**store, options.query);

  auto program = mp::Program::Start("store", shared);
  if (!program.ok()) return mp::Fail("mcorps-store", program.status());
  mp::Program& p = **program;
  ms::EnsureTopics(p.client(), ms::StoreTopics(options));

  ms::Recorder recorder(**store, options.keep_images);
  messagecorps::Router router(ms::ServiceRouterConfig(
      p, options.group,
      options.latest ? messagecorps::StartOffset::kLatest : messagecorps::StartOffset::kEarliest));
  auto stored = [&] {
    const auto n = static_cast<int64_t>(recorder.written() + recorder.duplicates());
    if (options.count > 0 && n >= options.count) p.RequestStop();
  };
  if (auto s = ms::SetUpStoreRouter(router, recorder, options, p.logger(), p.metrics(), stored);
      !s.ok()) {
    return p.Finish(s);
  }
  auto stats = [&] { return ms::StoreStats(router.Stats(), **store, recorder); };
  auto status = ms::StatusServer::StartIfEnabled(p.metrics(), stats, p.metrics_options().host,
                                                 p.metrics_options().port);
  if (!status.ok()) return p.Finish(status.status());
  p.logger()->info("storing {} and {} into {}{}", options.video_topic, options.predictions_topic,
                   (*store)->description(), options.keep_images ? " (with images)" : "");

  const absl::Status result = router.Run(p.stop_token());
  std::cout << stats().dump() << std::endl;
  return p.Finish(result);
}
