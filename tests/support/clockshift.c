/* A test harness preload (LD_PRELOAD): the wall clock of the process, and only the wall
 * clock, runs CLOCK_SHIFT_SECONDS (a whole number, may be negative) ahead of the real one.
 *
 * Why not libfaketime: Debian's libfaketime 0.9.10 cannot start redis-server (jemalloc
 * reads the clock while libfaketime is still looking up the real functions, and it gives
 * up). This shim looks up nothing it needs to read the clock: until the real
 * clock_gettime is known it asks the kernel (a raw system call), so nothing can recurse.
 * Monotonic and CPU clocks are passed through untouched, so sleeps, timeouts and timers
 * keep their length; only readings of the time of day move.
 *
 * Built by tests/support/clockshift.py with the system's C compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime;
static long long shift_seconds;

__attribute__((constructor)) static void clockshift_init(void) {
    const char *value = getenv("CLOCK_SHIFT_SECONDS");
    if (value != NULL) {
        shift_seconds = strtoll(value, NULL, 10);
    }
    real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
}

static int read_clock(clockid_t id, struct timespec *ts) {
    if (real_clock_gettime != NULL) {
        return real_clock_gettime(id, ts);
    }
    return (int)syscall(SYS_clock_gettime, id, ts);
}

static int is_wall_clock(clockid_t id) {
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int rc = read_clock(id, ts);
    if (rc == 0 && is_wall_clock(id)) {
        ts->tv_sec += (time_t)shift_seconds;
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    if (tz != NULL) { /* obsolete; glibc answers zeros too */
        ((struct timezone *)tz)->tz_minuteswest = 0;
        ((struct timezone *)tz)->tz_dsttime = 0;
    }
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return (time_t)-1;
    }
    if (out != NULL) {
        *out = ts.tv_sec;
    }
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base) {
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0) {
        return 0;
    }
    return base;
}
