// Envelope stamping and serialization per message: the producer's own work before librdkafka.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_common.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

protobuf::data::Image MakeImage(size_t size) {
  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(size));
  image.set_width(640);
  image.set_height(480);
  return image;
}

const messagecorps::EnvelopeSettings& Settings() {
  static const messagecorps::EnvelopeSettings settings{"bench", protobuf::common::DEVELOPMENT};
  return settings;
}

// The brief's target: Stamp + Encode(raw) of a 100 B Image, message and buffer reused.
void BM_StampEncodeRaw(benchmark::State& state) {
  protobuf::data::Image image = MakeImage(static_cast<size_t>(state.range(0)));
  messagecorps::EncodeOptions raw;
  raw.encoding = messagecorps::Encoding::kRaw;
  std::string out;
  int64_t frame = 0;
  for (auto _ : state) {
    image.set_frame(frame++);
    auto env = messagecorps::Stamp(image, Settings());
    benchmark::DoNotOptimize(env);
    auto s = messagecorps::Encode(image, raw, &out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["value_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_StampEncodeRaw)->Arg(100)->Arg(1024);

void BM_Stamp(benchmark::State& state) {
  protobuf::data::Image image = MakeImage(100);
  for (auto _ : state) {
    auto env = messagecorps::Stamp(image, Settings());
    benchmark::DoNotOptimize(env);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stamp);

// Stamping a type without the envelope field: only the Envelope (for headers) is built.
void BM_MakeEnvelope(benchmark::State& state) {
  for (auto _ : state) {
    auto env = messagecorps::MakeEnvelope(Settings());
    benchmark::DoNotOptimize(env);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MakeEnvelope);

void BM_FormatIsoDate(benchmark::State& state) {
  std::array<char, 32> out{};
  for (auto _ : state) {
    messagecorps::FormatIsoDate(std::chrono::system_clock::now(), out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FormatIsoDate);

void BM_NewUuidV1(benchmark::State& state) {
  std::array<char, 36> out{};
  for (auto _ : state) {
    messagecorps::NewUuidV1(out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_NewUuidV1);

void BM_NewTrace(benchmark::State& state) {
  for (auto _ : state) {
    auto t = messagecorps::TraceContext::NewTrace();
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_NewTrace);

}  // namespace
