// jemalloc's options for mcorps-gateway, compiled in only when the gateway links jemalloc
// (CMakeLists.txt). jemalloc reads this string at start-up; $MALLOC_CONF still overrides it.
//
// background_thread: jemalloc's own threads give freed memory back to the system (after
// dirty_decay_ms, 10 s) while the gateway is idle. Without them jemalloc purges only when an
// allocation or a free happens, so memory freed by a burst stayed resident: in
// gateway_load_test, 1,000 streams took the gateway from 36 MB to 694 MB, and 60 s after they
// closed it still held 329 MB; with background threads 60-68 MB.
extern "C" {
// NOLINTNEXTLINE: the name and type jemalloc looks up.
const char* malloc_conf = "background_thread:true";
}
