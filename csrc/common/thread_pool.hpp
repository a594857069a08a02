// A small std::thread pool for batch work.
//
// Workers are started per call and joined before it returns: nothing survives a call, so the core holds no
// threads across fork() (DataLoader workers stay safe) and needs no OpenMP (whose libgomp torch shares).
// Starting a thread costs tens of microseconds, far below one image's codec or metric work.
#pragma once

#include <cstddef>
#include <functional>

namespace codeclens {

// CPUs this process may run on (sched_getaffinity), at least 1. The environment variable
// CODECLENS_NUM_THREADS, when set to a positive integer, overrides it.
int default_thread_count();

// Resolves a user request: `requested` <= 0 means default_thread_count(); never more than `items`.
int resolve_thread_count(int requested, std::size_t items);

// Runs fn(i) for i in [0, n) on `threads` workers (the calling thread is one of them). Items are handed out
// one at a time from an atomic counter, so uneven items balance. fn must not throw: batch callers record
// per-item errors themselves.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace codeclens
