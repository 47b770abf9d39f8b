#ifndef ARMADA_BENCH_POLL_H
#define ARMADA_BENCH_POLL_H
#include <poll.h>

/// ppoll(2) with a timeout in nanoseconds: the load generator waits for the next request's due
/// time without spinning (poll's millisecond timeout cannot express a 0.3 ms wait). Glibc's
/// Swift module leaves ppoll out (it is _GNU_SOURCE).
int armada_bench_ppoll(struct pollfd *descriptors, unsigned long count, long long nanoseconds);
#endif
