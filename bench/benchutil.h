/* bench/benchutil.h: what every benchmark program needs: a monotonic clock
 * in nanoseconds, the median of a set of runs, and its options read. */
#ifndef TROUPE_BENCH_BENCHUTIL_H
#define TROUPE_BENCH_BENCHUTIL_H

/* CLOCK_MONOTONIC in nanoseconds (the clock every process of a bench shares). */
long long trb_now_ns(void);

/* qsort comparison of doubles, ascending. */
int trb_cmp_double(const void *a, const void *b);

/* Sorts v (n > 0 values) in place and returns its median. */
double trb_median(double *v, int n);

/* Reads option flag's value s (NULL: it was missing) as an integer from min
 * to max; otherwise prints "prog: flag needs ..." and exits with 2. */
long trb_parse_long(const char *prog, const char *s, const char *flag, long min, long max);

#endif /* TROUPE_BENCH_BENCHUTIL_H */
