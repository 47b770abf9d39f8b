#define _GNU_SOURCE
#include <poll.h>
#include <time.h>
#include "bench_poll.h"

int armada_bench_ppoll(struct pollfd *descriptors, unsigned long count, long long nanoseconds) {
    struct timespec timeout = { (time_t)(nanoseconds / 1000000000LL), (long)(nanoseconds % 1000000000LL) };
    return ppoll(descriptors, (nfds_t)count, &timeout, NULL);
}
