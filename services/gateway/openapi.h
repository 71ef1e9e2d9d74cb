// The OpenAPI 3.0 description of the gateway's HTTP API (services/gateway/openapi.json, compiled
// in), served as /openapi.json.
#pragma once

#include <string_view>

namespace messagecorps::gateway {

std::string_view OpenApiJson();

}  // namespace messagecorps::gateway
