/* tests/testutil.h — small helpers shared by the unit tests. */
#ifndef CP_TESTS_TESTUTIL_H
#define CP_TESTS_TESTUTIL_H

#include <stdio.h>

/* The first 8 KiB of a file as a string in a static buffer (overwritten by the
 * next call), or NULL when the file cannot be opened. */
static inline char *slurp(const char *path)
{
    static char buf[8192];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

#endif
