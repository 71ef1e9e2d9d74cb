// mcorps types: which topic carries which type, and what a type's fields are.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "messagecorps/codec.h"
#include "options.h"
#include "schemas.h"

namespace mcorps {

namespace pb = google::protobuf;

namespace {

struct TypesOptions {
  SchemaOptions schemas;
  std::string name;
  bool all = false;
};

std::string TypeOf(const pb::FieldDescriptor* field) {
  if (field->is_map()) {
    return absl::StrCat("map<", TypeOf(field->message_type()->map_key()), ", ",
                        TypeOf(field->message_type()->map_value()), ">");
  }
  std::string type;
  if (field->message_type() != nullptr) {
    type = field->message_type()->full_name();
  } else if (field->enum_type() != nullptr) {
    type = field->enum_type()->full_name();
  } else {
    type = field->type_name();
  }
  return field->is_repeated() ? absl::StrCat("repeated ", type) : type;
}

void PrintEnum(const pb::EnumDescriptor* e, const std::string& indent) {
  std::printf("%senum %s\n", indent.c_str(), e->full_name().c_str());
  for (int i = 0; i < e->value_count(); ++i) {
    std::printf("%s  %4d  %s\n", indent.c_str(), e->value(i)->number(),
                e->value(i)->name().c_str());
  }
}

void PrintMessage(const pb::Descriptor* type) {
  std::printf("message %s  (%s)\n", type->full_name().c_str(), type->file()->name().c_str());
  size_t width = 4;
  for (int i = 0; i < type->field_count(); ++i) {
    width = std::max(width, type->field(i)->name().size());
  }
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    std::string note;
    if (field->real_containing_oneof() != nullptr) {
      note = absl::StrCat("  (oneof ", field->real_containing_oneof()->name(), ")");
    }
    std::printf("  %4d  %-*s  %s%s\n", field->number(), static_cast<int>(width),
                field->name().c_str(), TypeOf(field).c_str(), note.c_str());
  }
  for (int i = 0; i < type->enum_type_count(); ++i) PrintEnum(type->enum_type(i), "  ");
  for (int i = 0; i < type->nested_type_count(); ++i) {
    const pb::Descriptor* nested = type->nested_type(i);
    if (nested->options().map_entry()) continue;
    std::printf("  nested %s\n", nested->full_name().c_str());
  }
}

int RunTypes(const TypesOptions& options) {
  auto registry = LoadRegistry(options.schemas);
  if (!registry.ok()) return Fail(kExitRuntime, registry.status());
  if (!options.name.empty()) {
    auto type = FindType(*registry, options.name);
    if (!type.ok()) return Fail(kExitRuntime, type.status());
    PrintMessage(*type);
    return kExitOk;
  }
  if (options.all) {
    for (const std::string& name : registry->TypeNames()) std::printf("%s\n", name.c_str());
    return kExitOk;
  }
  for (const messagecorps::TopicBinding* binding : registry->Bindings()) {
    std::printf("%s\t%s\tencoding=%s\n", binding->topic.c_str(), binding->type->full_name().c_str(),
                std::string(messagecorps::EncodingName(binding->options.encoding)).c_str());
  }
  return kExitOk;
}

}  // namespace

Command AddTypesCommand(CLI::App& parent) {
  auto options = std::make_shared<TypesOptions>();
  CLI::App* app = parent.add_subcommand(
      "types", "Topic -> type bindings, known types, or the fields of one type");
  AddSchemaOptions(*app, options->schemas);
  app->add_option("name", options->name, "A full message type name: print its fields");
  app->add_flag("--all", options->all, "List every known message type instead of the bindings");
  app->footer(R"(Examples:
  mcorps types                                   # VideoStream  protobuf.data.Image  encoding=seed ...
  mcorps types protobuf.data.Image               # field numbers, names and types
  mcorps types --all --descriptors acme.desc     # every type mcorps can build
  mcorps types acme.SensorReading --proto-path protos --proto acme/sensor.proto
Bindings print as TOPIC<TAB>TYPE<TAB>encoding=ENCODING.)");
  return {app, [options] { return RunTypes(*options); }};
}

}  // namespace mcorps
