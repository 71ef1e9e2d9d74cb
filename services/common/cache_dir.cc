#include "common/cache_dir.h"

#include <cstdlib>

namespace messagecorps::services {

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("MCORPS_CACHE_DIR"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/messagecorps";
}

}  // namespace messagecorps::services
