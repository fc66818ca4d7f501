/* proctitle.c: make an actor recognisable in ps.
 *
 * comm (what `ps -e`, top, pgrep and /proc/PID/comm show) is set with prctl
 * and holds 15 bytes. The command line (what `ps aux` and `ps -ef` show) is
 * pointed at a copy of the title with PR_SET_MM when the process may do so
 * (CAP_SYS_RESOURCE, e.g. root); otherwise it stays the program's.
 *
 * We deliberately do not write the title over the memory of the original
 * argv strings, as many setproctitle implementations do: the child is a
 * fork, and the program may well have handed argv[i] (or an optarg) to the
 * actor as its argument, which would then read back as the title. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/internal.h"

void tr__proctitle_set(const char *title)
{
    prctl(PR_SET_NAME, (unsigned long)title, 0, 0, 0);
    /* Lives as long as the process; one per process, as the title is. */
    static char cmdline[128];
    size_t len = strlen(title);
    if (len >= sizeof cmdline)
        len = sizeof cmdline - 1;
    memcpy(cmdline, title, len);
    cmdline[len] = '\0';
    /* The kernel checks start <= end after each step, and our buffer may
     * lie below or above the original arguments: try both orders. */
    unsigned long start = (unsigned long)cmdline, end = start + len + 1;
    if (prctl(PR_SET_MM, PR_SET_MM_ARG_START, start, 0, 0) == 0)
        prctl(PR_SET_MM, PR_SET_MM_ARG_END, end, 0, 0);
    else if (prctl(PR_SET_MM, PR_SET_MM_ARG_END, end, 0, 0) == 0)
        prctl(PR_SET_MM, PR_SET_MM_ARG_START, start, 0, 0);
}
