// Built with `pkg-config --cflags --libs messagecorps` only.
#include <cstdio>

#include "messagecorps/trace_context.h"

int main() {
  auto trace = messagecorps::TraceContext::NewTrace();
  std::printf("pkg-config OK: %s\n", trace.ToTraceparent().c_str());
  return trace.trace_id().size() == 32 ? 0 : 1;
}
