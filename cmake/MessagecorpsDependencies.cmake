# Every third-party dependency, found once, from Debian's packages (scripts/install-deps).
find_package(Protobuf REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(Threads REQUIRED)
# Prometheus text exposition (metrics.cc): prometheus-cpp's core (registry, histograms, serializer).
find_package(prometheus-cpp CONFIG REQUIRED COMPONENTS core)

# Tracing (tracing.cc): spans exported over OTLP with opentelemetry-cpp (Debian: bookworm-backports,
# scripts/install-deps). AUTO uses it when found; OFF builds the library without it (tracing then
# reports itself unavailable and costs nothing); ON fails when it is missing.
set(MCORPS_OPENTELEMETRY "AUTO" CACHE STRING "Build OpenTelemetry tracing: AUTO, ON or OFF")
set_property(CACHE MCORPS_OPENTELEMETRY PROPERTY STRINGS AUTO ON OFF)
set(MCORPS_HAVE_OPENTELEMETRY OFF)
if(NOT MCORPS_OPENTELEMETRY STREQUAL "OFF")
  if(MCORPS_OPENTELEMETRY STREQUAL "ON")
    find_package(opentelemetry-cpp CONFIG REQUIRED COMPONENTS api sdk otlp_grpc_exporter otlp_http_exporter)
  else()
    find_package(opentelemetry-cpp CONFIG QUIET COMPONENTS api sdk otlp_grpc_exporter otlp_http_exporter)
  endif()
  if(opentelemetry-cpp_FOUND)
    set(MCORPS_HAVE_OPENTELEMETRY ON)
  endif()
endif()
message(STATUS "OpenTelemetry tracing: ${MCORPS_HAVE_OPENTELEMETRY} (MCORPS_OPENTELEMETRY=${MCORPS_OPENTELEMETRY})")
find_package(PkgConfig REQUIRED)
# librdkafka ships pkg-config files only; the C API is what the library uses (fewer allocations
# than the C++ wrapper on the hot path).
#
# Which librdkafka: "system" (Debian 12's 2.0.2, the floor), "current" (Debian unstable's source
# package, built and cached by scripts/librdkafka; preset `current`) or an install prefix. Programs
# built against another one get an RPATH to it. The library chooses version-dependent behaviour
# from the librdkafka loaded at run time (version.h), so a build against 2.0.2 also runs on a newer
# librdkafka.so.1 through LD_LIBRARY_PATH (same soname and ABI).
set(MCORPS_LIBRDKAFKA "system" CACHE STRING
    "librdkafka to build against: system, current (scripts/librdkafka) or an install prefix")
set(mcorps_rdkafka_prefix "")
if(MCORPS_LIBRDKAFKA STREQUAL "current")
  execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/librdkafka
                  OUTPUT_VARIABLE mcorps_rdkafka_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE mcorps_rdkafka_rc)
  if(NOT mcorps_rdkafka_rc EQUAL 0)
    message(FATAL_ERROR "scripts/librdkafka failed (exit ${mcorps_rdkafka_rc}); see its output above")
  endif()
elseif(NOT MCORPS_LIBRDKAFKA STREQUAL "system")
  set(mcorps_rdkafka_prefix ${MCORPS_LIBRDKAFKA})
endif()
if(mcorps_rdkafka_prefix)
  list(PREPEND CMAKE_PREFIX_PATH ${mcorps_rdkafka_prefix})
  set(CMAKE_INSTALL_RPATH_USE_LINK_PATH ON)
endif()
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
if(mcorps_rdkafka_prefix AND NOT RDKAFKA_LIBDIR STREQUAL "${mcorps_rdkafka_prefix}/lib")
  message(FATAL_ERROR "MCORPS_LIBRDKAFKA=${MCORPS_LIBRDKAFKA}: pkg-config found librdkafka in "
                      "${RDKAFKA_LIBDIR}, not in ${mcorps_rdkafka_prefix}/lib (use a fresh build dir)")
endif()
message(STATUS "librdkafka ${RDKAFKA_VERSION} (${RDKAFKA_LIBDIR})")
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
