// ThreadSanitizer builds only (preset `tsan`): C11 thread functions that go through pthreads.
//
// Debian's librdkafka uses C11 threads (thrd_create, mtx_lock, cnd_wait, ...), which glibc >= 2.34
// implements in libc without calling the pthread symbols. Neither GCC 12's nor Clang 14's
// ThreadSanitizer intercepts the C11 functions, so:
// - librdkafka's threads were unknown to it, and the first allocation on one crashed inside the
//   sanitizer's allocator (SIGSEGV in SizeClassAllocator64LocalCache, thread "rdk:broker-1");
// - its mutexes and condition variables were invisible, so every record handed from a librdkafka
//   thread to ours through its queues was reported as a data race.
// Defined in the test executable, these override libc's for librdkafka (the dynamic linker
// resolves librdkafka's references to the executable's definitions first) and call the pthread
// functions TSan intercepts. glibc's mtx_t and cnd_t have the size and alignment of
// pthread_mutex_t and pthread_cond_t (static_asserts below).
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <threads.h>

#include <new>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* RunC11Thread(void* p) {
  Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(start.func(start.arg)));
}

int FromPthread(int rc) {
  if (rc == 0) return thrd_success;
  return rc == ENOMEM || rc == EAGAIN ? thrd_nomem : thrd_error;
}

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* start = new (std::nothrow) Start{func, arg};
  if (start == nullptr) return thrd_nomem;
  pthread_t id;
  int rc = pthread_create(&id, nullptr, &RunC11Thread, start);
  if (rc != 0) {
    delete start;
    return FromPthread(rc);
  }
  *thr = static_cast<thrd_t>(id);
  return thrd_success;
}

int thrd_join(thrd_t thr, int* res) {
  void* value = nullptr;
  int rc = pthread_join(static_cast<pthread_t>(thr), &value);
  if (rc == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return FromPthread(rc);
}

int thrd_detach(thrd_t thr) { return FromPthread(pthread_detach(static_cast<pthread_t>(thr))); }

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t) &&
              alignof(mtx_t) == alignof(pthread_mutex_t));
static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t) && alignof(cnd_t) == alignof(pthread_cond_t));

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(
      &attr, (type & mtx_recursive) ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL);
  int rc = pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return FromPthread(rc);
}
int mtx_lock(mtx_t* m) {
  return FromPthread(pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(m)));
}
int mtx_trylock(mtx_t* m) {
  int rc = pthread_mutex_trylock(reinterpret_cast<pthread_mutex_t*>(m));
  return rc == EBUSY ? thrd_busy : FromPthread(rc);
}
int mtx_unlock(mtx_t* m) {
  return FromPthread(pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(m)));
}
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(reinterpret_cast<pthread_mutex_t*>(m)); }

int cnd_init(cnd_t* c) {
  return FromPthread(pthread_cond_init(reinterpret_cast<pthread_cond_t*>(c), nullptr));
}
int cnd_signal(cnd_t* c) {
  return FromPthread(pthread_cond_signal(reinterpret_cast<pthread_cond_t*>(c)));
}
int cnd_broadcast(cnd_t* c) {
  return FromPthread(pthread_cond_broadcast(reinterpret_cast<pthread_cond_t*>(c)));
}
int cnd_wait(cnd_t* c, mtx_t* m) {
  return FromPthread(pthread_cond_wait(reinterpret_cast<pthread_cond_t*>(c),
                                       reinterpret_cast<pthread_mutex_t*>(m)));
}
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* deadline) {
  int rc = pthread_cond_timedwait(reinterpret_cast<pthread_cond_t*>(c),
                                  reinterpret_cast<pthread_mutex_t*>(m), deadline);
  return rc == ETIMEDOUT ? thrd_timedout : FromPthread(rc);
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(reinterpret_cast<pthread_cond_t*>(c)); }

void call_once(once_flag* flag, void (*func)(void)) {
  static_assert(sizeof(once_flag) == sizeof(pthread_once_t));
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

}  // extern "C"
