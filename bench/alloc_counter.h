// A malloc interposer for the allocation benchmarks (bench/micro_alloc.cc).
//
// The benchmark executable defines malloc/calloc/realloc/memalign/posix_memalign/aligned_alloc/free
// itself (forwarding to glibc's __libc_* entry points), so every heap allocation of the process is
// seen: C++ operator new (libstdc++ calls malloc), protobuf, librdkafka's C mallocs, zlib.
// While counting is on, each allocation is attributed to the first frame of its call stack that is
// not allocator plumbing (libc, libstdc++, libgcc): the main executable (messagecorps is linked in
// statically, so "ours" = messagecorps + its generated schema code + the benchmark), libprotobuf,
// librdkafka, compression libraries (zlib/lz4/zstd), abseil, or other.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace mcbench::alloc {

enum Owner : int { kOurs, kProtobuf, kRdkafka, kCompression, kAbseil, kOther, kOwnerCount };
const char* OwnerName(int owner);

struct Counts {
  uint64_t total = 0;
  std::array<uint64_t, kOwnerCount> by_owner{};
};

// Must be called once before counting (maps loaded objects, warms up the unwinder).
void Init();

// Marks the calling thread as the one whose allocations are also counted separately ("in the
// caller's hot path"), as opposed to every thread of the process (librdkafka's own threads).
void SetCallerThread();

// Starts counting (resets the counters) / stops.
void Start();
void Stop();

Counts AllThreads();
Counts CallerThread();

}  // namespace mcbench::alloc
