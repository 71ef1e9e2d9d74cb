// A main() for fuzz targets built without libFuzzer (g++, and the default, asan and tsan presets):
// runs LLVMFuzzerTestOneInput once over every file given, or found under a directory given, as
// libFuzzer does for files. ctest runs each target over its checked-in corpus this way, so every
// seed — and every input that once crashed, kept in the corpus — is replayed in every build.
// Fails when no input was found (a wrong path must not pass) or an input took longer than
// --max-ms (default 1000: it catches a pathological input, seconds long, in a Debug sanitizer
// build on a loaded machine; the 100 ms budget per input is checked by scripts/fuzz).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  namespace fs = std::filesystem;
  double max_ms = 1000;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--max-ms=", 0) == 0) {
      max_ms = std::atof(arg.c_str() + 9);
    } else if (fs::is_directory(arg)) {
      for (const auto& entry : fs::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.emplace_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", arg.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs found\n");
    return 2;
  }
  double slowest_ms = 0;
  fs::path slowest;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (ms > slowest_ms) {
      slowest_ms = ms;
      slowest = file;
    }
  }
  std::printf("replayed %zu inputs; slowest %.1f ms (%s)\n", files.size(), slowest_ms,
              slowest.filename().c_str());
  if (slowest_ms > max_ms) {
    std::fprintf(stderr, "%s took %.1f ms, more than %.0f ms\n", slowest.c_str(), slowest_ms,
                 max_ms);
    return 1;
  }
  return 0;
}
