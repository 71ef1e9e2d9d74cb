// The display page's files, compiled into the binary (generated from services/display/web).
#pragma once

#include <string_view>
#include <vector>

namespace messagecorps::services {

struct WebAsset {
  std::string_view path;          // "/", "/app.js", "/style.css"
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

const std::vector<WebAsset>& WebAssets();

}  // namespace messagecorps::services
