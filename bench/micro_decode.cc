// Dynamic (descriptor-built DynamicMessage) decode vs the generated class, for a raw-encoded Image.
#include <benchmark/benchmark.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <memory>
#include <string>

#include "bench_common.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

std::string Value(size_t size) {
  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(size));
  image.set_width(640);
  image.set_height(480);
  image.set_frame(7);
  (void)messagecorps::Stamp(image, {"bench", protobuf::common::DEVELOPMENT});
  std::string value;
  messagecorps::EncodeOptions raw;
  raw.encoding = messagecorps::Encoding::kRaw;
  (void)messagecorps::Encode(image, raw, &value);
  return value;
}

// The Image schema in a pool of its own, as a program loading a descriptor set at run time has it.
struct DynamicImage {
  google::protobuf::DescriptorPool pool;
  google::protobuf::DynamicMessageFactory factory{&pool};
  const google::protobuf::Descriptor* type = nullptr;
  DynamicImage() {
    for (const google::protobuf::FileDescriptor* f :
         {protobuf::common::messageData::descriptor()->file(),
          protobuf::data::Image::descriptor()->file()}) {
      google::protobuf::FileDescriptorProto proto;
      f->CopyTo(&proto);
      pool.BuildFile(proto);
    }
    type = pool.FindMessageTypeByName("protobuf.data.Image");
  }
};

void BM_DecodeGenerated(benchmark::State& state) {
  const std::string value = Value(static_cast<size_t>(state.range(0)));
  protobuf::data::Image out;
  for (auto _ : state) {
    auto s = messagecorps::Decode(value, messagecorps::Encoding::kRaw, &out, {}, nullptr);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeGenerated)->Arg(100)->Arg(1024)->Arg(921600)->ArgName("bytes");

void BM_DecodeDynamic(benchmark::State& state) {
  const std::string value = Value(static_cast<size_t>(state.range(0)));
  static DynamicImage dynamic;
  std::unique_ptr<google::protobuf::Message> out(dynamic.factory.GetPrototype(dynamic.type)->New());
  for (auto _ : state) {
    auto s = messagecorps::Decode(value, messagecorps::Encoding::kRaw, out.get(), {}, nullptr);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeDynamic)->Arg(100)->Arg(1024)->Arg(921600)->ArgName("bytes");

// What the consumer does per record: a new message from the registry, then decode into it.
void BM_DecodeNewGenerated(benchmark::State& state) {
  const std::string value = Value(100);
  const messagecorps::TypeRegistry registry = messagecorps::TypeRegistry::WithSeedDefaults();
  const auto* type = protobuf::data::Image::descriptor();
  for (auto _ : state) {
    auto out = registry.NewMessage(type);
    auto s = messagecorps::Decode(value, messagecorps::Encoding::kRaw, out.get(), {}, nullptr);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeNewGenerated);

void BM_DecodeNewDynamic(benchmark::State& state) {
  const std::string value = Value(100);
  static DynamicImage dynamic;
  const google::protobuf::Message* prototype = dynamic.factory.GetPrototype(dynamic.type);
  for (auto _ : state) {
    std::unique_ptr<google::protobuf::Message> out(prototype->New());
    auto s = messagecorps::Decode(value, messagecorps::Encoding::kRaw, out.get(), {}, nullptr);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeNewDynamic);

}  // namespace
