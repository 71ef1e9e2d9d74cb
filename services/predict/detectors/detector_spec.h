// Builds detectors from command-line specs: KIND[:key=value,...]
//
//   hog                      HOG people detector        (min_weight=0.5, max_width=800,
//                                                         scale=1.05)
//   blazeface                BlazeFace, back 256 model  (variant=back|front, threshold=0.75,
//                                                         model=PATH; default: the models cache)
//   lbp-face, haar-face, haar-upperbody, haar-fullbody, haar-profile, lbp-cat
//                            opencv-data cascades        (min_neighbors=4)
//   cascade                  any cascade                 (label=NAME, file=PATH, min_neighbors)
//   onnx                     a user ONNX model           (model=PATH, labels=PATH, layout=yolo|ssd,
//                                                         size=640, threshold=0.5, label_offset=0)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "predict/detectors/detector.h"

namespace messagecorps::services {

struct DetectorContext {
  std::string models_dir;  // ${MCORPS_CACHE_DIR:-~/.cache/messagecorps}/models
  std::string cascades_dir = "/usr/share/opencv4";
};

// kInvalidArgument for an unknown kind or key, kNotFound for a missing file.
absl::StatusOr<std::unique_ptr<Detector>> MakeDetector(const std::string& spec,
                                                       const DetectorContext& context);

}  // namespace messagecorps::services
