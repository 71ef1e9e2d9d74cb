// Topic -> type lookup, as the consumer does for every record.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

messagecorps::TypeRegistry Registry(int topics) {
  messagecorps::TypeRegistry registry = messagecorps::TypeRegistry::WithSeedDefaults();
  for (int i = 0; i < topics; ++i) {
    (void)registry.Bind("topic-" + std::to_string(i), protobuf::data::Image::descriptor());
  }
  return registry;
}

void BM_RegistryFind(benchmark::State& state) {
  const messagecorps::TypeRegistry registry = Registry(static_cast<int>(state.range(0)));
  const std::string topic = "VideoStream";
  for (auto _ : state) benchmark::DoNotOptimize(registry.Find(topic));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryFind)->Arg(0)->Arg(100)->ArgName("extra_topics");

void BM_RegistryFindType(benchmark::State& state) {
  const messagecorps::TypeRegistry registry = Registry(0);
  for (auto _ : state) benchmark::DoNotOptimize(registry.FindType("protobuf.data.Image"));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryFindType);

void BM_RegistryNewMessage(benchmark::State& state) {
  const messagecorps::TypeRegistry registry = Registry(0);
  const auto* type = protobuf::data::Image::descriptor();
  for (auto _ : state) benchmark::DoNotOptimize(registry.NewMessage(type));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryNewMessage);

}  // namespace
