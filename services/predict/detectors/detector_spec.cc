#include "predict/detectors/detector_spec.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "predict/detectors/blazeface.h"
#include "predict/detectors/cascade.h"
#include "predict/detectors/hog_person.h"
#include "predict/detectors/onnx_detector.h"

namespace messagecorps::services {
namespace {

struct Spec {
  std::string kind;
  std::map<std::string, std::string> args;
};

absl::StatusOr<Spec> ParseSpec(const std::string& text) {
  Spec spec;
  auto colon = text.find(':');
  spec.kind = text.substr(0, colon);
  if (colon == std::string::npos) return spec;
  std::string rest = text.substr(colon + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string item =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("detector '", text, "': expected key=value, got '", item, "'"));
      }
      spec.args[item.substr(0, eq)] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return spec;
}

class Args {
 public:
  Args(const std::string& text, std::map<std::string, std::string> args)
      : text_(text), args_(std::move(args)) {}
  std::string Str(const std::string& key, std::string fallback) {
    auto it = args_.find(key);
    if (it == args_.end()) return fallback;
    std::string v = it->second;
    args_.erase(it);
    return v;
  }
  absl::StatusOr<double> Num(const std::string& key, double fallback) {
    auto it = args_.find(key);
    if (it == args_.end()) return fallback;
    double v;
    if (!absl::SimpleAtod(it->second, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("detector '", text_, "': ", key, " must be a number"));
    }
    args_.erase(it);
    return v;
  }
  absl::Status Done() const {
    if (args_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("detector '", text_, "': unknown key '", args_.begin()->first, "'"));
  }

 private:
  std::string text_;
  std::map<std::string, std::string> args_;
};

#define MCORPS_ASSIGN_NUM(var, expr)            \
  auto var##_or = (expr);                       \
  if (!var##_or.ok()) return var##_or.status(); \
  const double var = *var##_or

}  // namespace

absl::StatusOr<std::unique_ptr<Detector>> MakeDetector(const std::string& text,
                                                       const DetectorContext& context) {
  auto spec = ParseSpec(text);
  if (!spec.ok()) return spec.status();
  Args args(text, spec->args);
  const std::string& kind = spec->kind;

  if (kind == "hog") {
    MCORPS_ASSIGN_NUM(min_weight, args.Num("min_weight", 0.5));
    MCORPS_ASSIGN_NUM(max_width, args.Num("max_width", 800));
    MCORPS_ASSIGN_NUM(scale, args.Num("scale", 1.05));
    if (auto s = args.Done(); !s.ok()) return s;
    if (scale <= 1.0 || scale > 2.0) return absl::InvalidArgumentError("hog: scale in (1, 2]");
    return std::unique_ptr<Detector>(new HogPersonDetector(
        {.min_weight = min_weight, .max_width = static_cast<int>(max_width), .scale = scale}));
  }
  if (kind == "blazeface") {
    const std::string variant = args.Str("variant", "back");
    if (variant != "back" && variant != "front") {
      return absl::InvalidArgumentError("blazeface: variant is back or front");
    }
    BlazeFaceDetector::Options o;
    o.variant = variant == "front" ? BlazeFaceDetector::Variant::kFront128
                                   : BlazeFaceDetector::Variant::kBack256;
    MCORPS_ASSIGN_NUM(threshold, args.Num("threshold", 0.75));
    o.threshold = static_cast<float>(threshold);
    const std::string model =
        args.Str("model", BlazeFaceDetector::ModelFile(context.models_dir, o.variant));
    if (auto s = args.Done(); !s.ok()) return s;
    auto d = BlazeFaceDetector::Load(model, o);
    if (!d.ok()) return d.status();
    return std::unique_ptr<Detector>(std::move(*d));
  }
  static const std::map<std::string, std::pair<std::string, std::string>> kCascades = {
      {"lbp-face", {"face", "lbpcascades/lbpcascade_frontalface_improved.xml"}},
      {"haar-face", {"face", "haarcascades/haarcascade_frontalface_default.xml"}},
      {"haar-profile", {"face", "haarcascades/haarcascade_profileface.xml"}},
      {"haar-upperbody", {"upper body", "haarcascades/haarcascade_upperbody.xml"}},
      {"haar-fullbody", {"person", "haarcascades/haarcascade_fullbody.xml"}},
      {"lbp-cat", {"cat face", "lbpcascades/lbpcascade_frontalcatface.xml"}},
  };
  if (kind == "cascade" || kCascades.count(kind)) {
    std::string label, file;
    if (kind == "cascade") {
      label = args.Str("label", "");
      file = args.Str("file", "");
      if (label.empty() || file.empty()) {
        return absl::InvalidArgumentError("cascade: needs label=NAME,file=PATH");
      }
    } else {
      label = kCascades.at(kind).first;
      file = absl::StrCat(context.cascades_dir, "/", kCascades.at(kind).second);
    }
    CascadeDetector::Options o;
    MCORPS_ASSIGN_NUM(min_neighbors, args.Num("min_neighbors", 4));
    o.min_neighbors = static_cast<int>(min_neighbors);
    if (auto s = args.Done(); !s.ok()) return s;
    auto d = CascadeDetector::Load(file, label, o);
    if (!d.ok()) return d.status();
    return std::unique_ptr<Detector>(std::move(*d));
  }
  if (kind == "onnx") {
    const std::string model = args.Str("model", "");
    const std::string labels_path = args.Str("labels", "");
    auto layout = ParseOnnxLayout(args.Str("layout", "yolo"));
    if (!layout.ok()) return layout.status();
    MCORPS_ASSIGN_NUM(size, args.Num("size", *layout == OnnxLayout::kYolo ? 640 : 300));
    MCORPS_ASSIGN_NUM(threshold, args.Num("threshold", 0.5));
    MCORPS_ASSIGN_NUM(label_offset, args.Num("label_offset", 0));
    if (auto s = args.Done(); !s.ok()) return s;
    if (model.empty()) return absl::InvalidArgumentError("onnx: needs model=PATH");
    std::vector<std::string> labels;
    if (!labels_path.empty()) {
      auto l = ReadLabels(labels_path);
      if (!l.ok()) return l.status();
      labels = std::move(*l);
    }
    auto d = OnnxDetector::Load(model, std::move(labels),
                                {.layout = *layout,
                                 .input_size = static_cast<int>(size),
                                 .threshold = static_cast<float>(threshold),
                                 .label_offset = static_cast<int>(label_offset)});
    if (!d.ok()) return d.status();
    return std::unique_ptr<Detector>(std::move(*d));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown detector '", kind,
      "' (hog, blazeface, lbp-face, haar-face, haar-profile, haar-upperbody, haar-fullbody, "
      "lbp-cat, cascade, onnx)"));
}

}  // namespace messagecorps::services
