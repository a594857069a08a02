#include "common/thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace codeclens {

int default_thread_count() {
  if (const char* env = std::getenv("CODECLENS_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return static_cast<int>(std::min(v, 1024L));
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

int resolve_thread_count(int requested, std::size_t items) {
  int n = requested > 0 ? requested : default_thread_count();
  if (items < static_cast<std::size_t>(n)) n = static_cast<int>(std::max<std::size_t>(items, 1));
  return n;
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::min<std::size_t>(n, 1024))));
  if (threads == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  auto worker = [&]() {
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      fn(i);
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

}  // namespace codeclens
