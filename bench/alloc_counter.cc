#include "alloc_counter.h"

#include <execinfo.h>
#include <link.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* p);
}

namespace mcbench::alloc {
namespace {

struct Range {
  uintptr_t begin;
  uintptr_t end;
  int owner;  // -1: allocator plumbing (skipped while walking the stack)
};
constexpr int kMaxRanges = 256;
Range g_ranges[kMaxRanges];
int g_range_count = 0;

std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_total{0};
std::atomic<uint64_t> g_by_owner[kOwnerCount];

thread_local bool t_is_caller = false;
thread_local bool t_in_hook = false;
thread_local uint64_t t_total = 0;
thread_local uint64_t t_by_owner[kOwnerCount];

int OwnerOf(const char* name) {
  if (name == nullptr || *name == '\0') return kOurs;  // the main executable
  auto has = [name](const char* part) { return std::strstr(name, part) != nullptr; };
  if (has("libc.so") || has("libstdc++") || has("libgcc_s") || has("ld-linux") || has("libm.so")) {
    return -1;
  }
  if (has("libprotobuf")) return kProtobuf;
  if (has("librdkafka")) return kRdkafka;
  if (has("libz.so") || has("liblz4") || has("libzstd")) return kCompression;
  if (has("libabsl")) return kAbseil;
  return kOther;
}

int AddObject(dl_phdr_info* info, size_t, void*) {
  const int owner = OwnerOf(info->dlpi_name);
  for (int i = 0; i < info->dlpi_phnum && g_range_count < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    g_ranges[g_range_count++] = Range{begin, begin + ph.p_memsz, owner};
  }
  return 0;
}

int Classify(void* const* frames, int n) {
  // frames[0] is Record, frames[1] the interposed allocation function.
  for (int i = 2; i < n; ++i) {
    const auto pc = reinterpret_cast<uintptr_t>(frames[i]);
    int owner = kOther;
    for (int r = 0; r < g_range_count; ++r) {
      if (pc >= g_ranges[r].begin && pc < g_ranges[r].end) {
        owner = g_ranges[r].owner;
        break;
      }
    }
    if (owner >= 0) return owner;
  }
  return kOther;
}

__attribute__((noinline)) void Record() {
  if (!g_counting.load(std::memory_order_relaxed) || t_in_hook) return;
  t_in_hook = true;
  void* frames[48];
  const int n = backtrace(frames, 48);
  const int owner = Classify(frames, n);
  g_total.fetch_add(1, std::memory_order_relaxed);
  g_by_owner[owner].fetch_add(1, std::memory_order_relaxed);
  if (t_is_caller) {
    ++t_total;
    ++t_by_owner[owner];
  }
  t_in_hook = false;
}

}  // namespace

const char* OwnerName(int owner) {
  static const char* const kNames[] = {"ours",        "protobuf", "rdkafka",
                                       "compression", "abseil",   "other"};
  return owner >= 0 && owner < kOwnerCount ? kNames[owner] : "?";
}

void Init() {
  g_range_count = 0;
  dl_iterate_phdr(AddObject, nullptr);
  // The first backtrace() loads libgcc_s (allocating): do it now, not inside the hook.
  void* frames[4];
  backtrace(frames, 4);
}

void SetCallerThread() { t_is_caller = true; }

void Start() {
  g_total = 0;
  for (auto& c : g_by_owner) c = 0;
  t_total = 0;
  for (auto& c : t_by_owner) c = 0;
  g_counting = true;
}

void Stop() { g_counting = false; }

Counts AllThreads() {
  Counts c;
  c.total = g_total.load();
  for (int i = 0; i < kOwnerCount; ++i) c.by_owner[i] = g_by_owner[i].load();
  return c;
}

Counts CallerThread() {
  Counts c;
  c.total = t_total;
  for (int i = 0; i < kOwnerCount; ++i) c.by_owner[i] = t_by_owner[i];
  return c;
}

}  // namespace mcbench::alloc

// ---- the interposed allocation functions --------------------------------------------------------
extern "C" {

void* malloc(size_t size) {
  mcbench::alloc::Record();
  return __libc_malloc(size);
}

void* calloc(size_t n, size_t size) {
  mcbench::alloc::Record();
  return __libc_calloc(n, size);
}

void* realloc(void* p, size_t size) {
  mcbench::alloc::Record();
  return __libc_realloc(p, size);
}

void* memalign(size_t alignment, size_t size) {
  mcbench::alloc::Record();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(size_t alignment, size_t size) {
  mcbench::alloc::Record();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  mcbench::alloc::Record();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void free(void* p) { __libc_free(p); }

}  // extern "C"
