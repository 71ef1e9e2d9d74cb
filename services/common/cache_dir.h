// Where the services keep downloaded-from-packages models and decompressed media.
#pragma once

#include <string>

namespace messagecorps::services {

// ${MCORPS_CACHE_DIR:-$HOME/.cache/messagecorps}
std::string DefaultCacheDir();

}  // namespace messagecorps::services
