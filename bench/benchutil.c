/* bench/benchutil.c: see benchutil.h. */
#include "bench/benchutil.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

long trb_parse_long(const char *prog, const char *s, const char *flag, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = s != NULL ? strtol(s, &end, 10) : 0;
    if (s == NULL || errno != 0 || *end != '\0' || v < min || v > max) {
        if (max == LONG_MAX)
            fprintf(stderr, "%s: %s needs an integer of at least %ld\n", prog, flag, min);
        else
            fprintf(stderr, "%s: %s needs an integer from %ld to %ld\n", prog, flag, min, max);
        exit(2);
    }
    return v;
}

void trb_common_option(const char *arg, int *table, void (*usage)(FILE *))
{
    if (strcmp(arg, "--json") == 0) {
        if (table != NULL)
            *table = 0;
        return;
    }
    if (strcmp(arg, "--table") == 0 && table != NULL) {
        *table = 1;
        return;
    }
    bool help = strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
    usage(help ? stdout : stderr);
    exit(help ? 0 : 2);
}
