// Each codec's encode and decode (seed zlib, raw, confluent) for the three payload sizes.
// Kafka-level lz4/zstd are librdkafka's (per batch), not a codec of ours: the macro benchmark
// measures them.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_common.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

messagecorps::EncodeOptions Options(int64_t encoding) {
  messagecorps::EncodeOptions o;
  o.encoding = static_cast<messagecorps::Encoding>(encoding);
  if (o.encoding == messagecorps::Encoding::kConfluent) o.schema_id = 1;
  return o;
}

protobuf::data::Image StampedImage(size_t size) {
  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(size));
  image.set_width(640);
  image.set_height(480);
  image.set_frame(42);
  (void)messagecorps::Stamp(image, {"bench", protobuf::common::DEVELOPMENT});
  return image;
}

void SetLabel(benchmark::State& state) {
  state.SetLabel(
      std::string(messagecorps::EncodingName(static_cast<messagecorps::Encoding>(state.range(0)))));
}

void BM_Encode(benchmark::State& state) {
  const protobuf::data::Image image = StampedImage(static_cast<size_t>(state.range(1)));
  const auto options = Options(state.range(0));
  std::string out;
  for (auto _ : state) {
    auto s = messagecorps::Encode(image, options, &out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out.data());
  }
  SetLabel(state);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(1));
  state.counters["value_bytes"] = static_cast<double>(out.size());
}

void BM_Decode(benchmark::State& state) {
  const protobuf::data::Image image = StampedImage(static_cast<size_t>(state.range(1)));
  const auto encoding = static_cast<messagecorps::Encoding>(state.range(0));
  std::string value;
  (void)messagecorps::Encode(image, Options(state.range(0)), &value);
  protobuf::data::Image out;
  std::string scratch;
  for (auto _ : state) {
    auto s = messagecorps::Decode(value, encoding, &out, {}, &scratch);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out);
  }
  SetLabel(state);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(1));
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t encoding : {static_cast<int64_t>(messagecorps::Encoding::kSeed),
                           static_cast<int64_t>(messagecorps::Encoding::kRaw),
                           static_cast<int64_t>(messagecorps::Encoding::kConfluent)}) {
    for (int64_t size : {100, 1024, 921600}) b->Args({encoding, size});
  }
  b->ArgNames({"encoding", "bytes"});
}
BENCHMARK(BM_Encode)->Apply(Sizes);
BENCHMARK(BM_Decode)->Apply(Sizes);

void BM_DetectEncoding(benchmark::State& state) {
  const protobuf::data::Image image = StampedImage(100);
  std::string value;
  (void)messagecorps::Encode(image, Options(0), &value);
  for (auto _ : state) benchmark::DoNotOptimize(messagecorps::DetectEncoding(value));
}
BENCHMARK(BM_DetectEncoding);

}  // namespace
