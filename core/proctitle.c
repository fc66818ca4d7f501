/* proctitle.c: make an actor recognisable in ps.
 *
 * comm (what `ps -e`, top and /proc/PID/comm show) is set with prctl and
 * holds 15 bytes. The command line (what `ps aux` shows) is the memory that
 * held the original argv strings; the kernel publishes its range in
 * /proc/self/stat (fields 48 and 49). We write the title there and
 * NUL-fill the rest. Unlike some setproctitle implementations we do not move
 * environ out of the way to gain room: a pointer that the program obtained
 * from getenv() before the fork would silently change under it. The price is
 * that a title longer than the original command line is cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/internal.h"

static int s_argv_range(unsigned long *start, unsigned long *end)
{
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL)
        return -1;
    char buf[2048];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 2 (comm) may hold spaces and parentheses: skip past the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    /* We are now before field 3; arg_start is field 48. */
    for (int field = 3; field < 48; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return -1;
    }
    if (sscanf(p, " %lu %lu", start, end) != 2 || *end <= *start)
        return -1;
    return 0;
}

void tr__proctitle_set(const char *title)
{
    prctl(PR_SET_NAME, (unsigned long)title, 0, 0, 0);
    unsigned long start, end;
    if (s_argv_range(&start, &end) != 0)
        return;
    char *area = (char *)start;
    size_t room = end - start;
    size_t len = strlen(title);
    if (len >= room)
        len = room - 1;
    memcpy(area, title, len);
    memset(area + len, 0, room - len);
}
