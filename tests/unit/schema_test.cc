// The seed's wire contract: every field of the original MessageCorps schemas keeps its number, type and
// package (checked by descriptor reflection, so a renumbering in proto/ fails here).
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "protobuf/common/MessageData.pb.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "protobufs/common/Boolean.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

struct Expected {
  const char* name;
  int number;
  FieldDescriptor::Type type;
  bool repeated = false;
  const char* message_type = nullptr;
};

void ExpectFields(const Descriptor* d, std::initializer_list<Expected> fields) {
  for (const Expected& e : fields) {
    const FieldDescriptor* f = d->FindFieldByName(e.name);
    ASSERT_NE(f, nullptr) << d->full_name() << " lacks field " << e.name;
    EXPECT_EQ(f->number(), e.number) << d->full_name() << "." << e.name;
    EXPECT_EQ(f->type(), e.type) << d->full_name() << "." << e.name;
    EXPECT_EQ(f->is_repeated(), e.repeated) << d->full_name() << "." << e.name;
    if (e.message_type) {
      EXPECT_EQ(f->message_type()->full_name(), e.message_type) << d->full_name() << "." << e.name;
    }
  }
}

TEST(SeedSchema, MessageDataHasTheOriginalFieldNumbers) {
  const Descriptor* d = protobuf::common::messageData::descriptor();
  EXPECT_EQ(d->full_name(), "protobuf.common.messageData");
  EXPECT_EQ(d->file()->syntax(), google::protobuf::FileDescriptor::SYNTAX_PROTO3);
  ExpectFields(d, {{"timestamp", 1, FieldDescriptor::TYPE_DOUBLE},
                   {"environment", 2, FieldDescriptor::TYPE_ENUM},
                   {"sending_service", 3, FieldDescriptor::TYPE_STRING},
                   {"uuid", 4, FieldDescriptor::TYPE_STRING},
                   {"iso_date", 5, FieldDescriptor::TYPE_STRING},
                   {"offset", 6, FieldDescriptor::TYPE_INT64},
                   {"partition", 7, FieldDescriptor::TYPE_INT64},
                   {"trace_id", 8, FieldDescriptor::TYPE_STRING}});
  // messagecorps additions, after the original's numbers (old readers skip them).
  ExpectFields(d, {{"span_id", 9, FieldDescriptor::TYPE_STRING},
                   {"parent_span_id", 10, FieldDescriptor::TYPE_STRING},
                   {"type", 11, FieldDescriptor::TYPE_STRING}});
}

TEST(SeedSchema, EnvironmentEnumValues) {
  const auto* e = protobuf::common::Environment_descriptor();
  EXPECT_EQ(e->full_name(), "protobuf.common.Environment");
  EXPECT_EQ(e->FindValueByName("UNKNOWN_ENVIRONMENT")->number(), 0);
  EXPECT_EQ(e->FindValueByName("PRODUCTION")->number(), 1);
  EXPECT_EQ(e->FindValueByName("DEVELOPMENT")->number(), 2);
  EXPECT_EQ(e->FindValueByName("STAGING")->number(), 3);
}

TEST(SeedSchema, BooleanLivesInProtobufsCommon) {
  const Descriptor* d = protobufs::common::Boolean::descriptor();
  EXPECT_EQ(d->full_name(), "protobufs.common.Boolean");
  ExpectFields(d, {{"value", 1, FieldDescriptor::TYPE_BOOL}});
}

TEST(SeedSchema, ImageHasTheOriginalFieldNumbers) {
  const Descriptor* d = protobuf::data::Image::descriptor();
  EXPECT_EQ(d->full_name(), "protobuf.data.Image");
  ExpectFields(d, {{"image_data", 1, FieldDescriptor::TYPE_BYTES},
                   {"height", 2, FieldDescriptor::TYPE_INT32},
                   {"width", 3, FieldDescriptor::TYPE_INT32},
                   {"frame", 4, FieldDescriptor::TYPE_INT64},
                   {"_message_data", 5, FieldDescriptor::TYPE_MESSAGE, false,
                    "protobuf.common.messageData"}});
}

TEST(SeedSchema, PredictionHasTheOriginalFieldNumbers) {
  const Descriptor* d = protobuf::predictions::Prediction::descriptor();
  EXPECT_EQ(d->full_name(), "protobuf.predictions.Prediction");
  ExpectFields(d, {{"object", 1, FieldDescriptor::TYPE_STRING, true},
                   {"frame", 2, FieldDescriptor::TYPE_INT64},
                   {"_message_data", 3, FieldDescriptor::TYPE_MESSAGE, false,
                    "protobuf.common.messageData"}});
}

// Our additions take new numbers only: no field number below the original's highest is reused.
TEST(SeedSchema, AdditionsOnlyUseNewNumbers) {
  auto check = [](const Descriptor* d, int highest_original,
                  std::initializer_list<const char*> originals) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      bool original = false;
      for (const char* n : originals) original |= (f->name() == n);
      if (!original) {
        EXPECT_GT(f->number(), highest_original) << d->full_name() << "." << f->name();
      }
    }
  };
  check(protobuf::common::messageData::descriptor(), 8,
        {"timestamp", "environment", "sending_service", "uuid", "iso_date", "offset", "partition",
         "trace_id"});
  check(protobuf::data::Image::descriptor(), 5,
        {"image_data", "height", "width", "frame", "_message_data"});
  check(protobuf::predictions::Prediction::descriptor(), 3, {"object", "frame", "_message_data"});
}

// Old readers parse new messages: bytes of an extended Image parse as the seed's fields, the unknown
// additions are kept and survive re-serialization.
TEST(SeedSchema, ExtendedImageStaysReadableByFieldsOneToFive) {
  protobuf::data::Image image;
  image.set_image_data("abc");
  image.set_height(480);
  image.set_width(640);
  image.set_frame(7);
  image.set_encoding(protobuf::data::Image::JPEG);
  image.mutable__message_data()->set_trace_id("0123456789abcdef0123456789abcdef");
  std::string bytes = image.SerializeAsString();

  // A reader that only knows the original fields: a descriptor-free parse via UnknownFieldSet.
  google::protobuf::UnknownFieldSet fields;
  ASSERT_TRUE(fields.ParseFromString(bytes));
  bool saw_width = false, saw_encoding = false;
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 3) saw_width = fields.field(i).varint() == 640;
    if (fields.field(i).number() == 6) saw_encoding = fields.field(i).varint() == 2;
  }
  EXPECT_TRUE(saw_width);
  EXPECT_TRUE(saw_encoding);
}

}  // namespace
