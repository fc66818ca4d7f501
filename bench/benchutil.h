/* bench/benchutil.h: what every benchmark program needs: a monotonic clock
 * in nanoseconds, the median of a set of runs, and its options read. */
#ifndef TROUPE_BENCH_BENCHUTIL_H
#define TROUPE_BENCH_BENCHUTIL_H

#include <stdio.h>

/* CLOCK_MONOTONIC in nanoseconds (the clock every process of a bench shares). */
long long trb_now_ns(void);

/* qsort comparison of doubles, ascending. */
int trb_cmp_double(const void *a, const void *b);

/* Sorts v (n > 0 values) in place and returns its median. */
double trb_median(double *v, int n);

/* Reads option flag's value s (NULL: it was missing) as an integer from min
 * to max; otherwise prints "prog: flag needs ..." and exits with 2. */
long trb_parse_long(const char *prog, const char *s, const char *flag, long min, long max);

/* The options every bench takes, for the last branch of its option loop:
 * --json (*table = 0) and --table (*table = 1; refused when table is NULL,
 * for a bench that prints JSON only); --help or -h prints usage to stdout
 * and exits with 0; anything else prints it to stderr and exits with 2. */
void trb_common_option(const char *arg, int *table, void (*usage)(FILE *));

#endif /* TROUPE_BENCH_BENCHUTIL_H */
