/* bench/benchutil.c: see benchutil.h. */
#include "bench/benchutil.h"

#include <stdlib.h>
#include <time.h>

long long trb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int trb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double trb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, trb_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}
