# Every third-party dependency, found once, from Debian's packages (scripts/install-deps).
find_package(Protobuf REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
# librdkafka ships pkg-config files only; the C API is what the library uses (fewer allocations
# than the C++ wrapper on the hot path).
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
