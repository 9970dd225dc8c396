/* common/log.c — see log.h. */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

atomic_int cp__log_level = CP_LOG_OFF;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;

static const struct { const char *name; int level; } levels[] = {
    {"debug", CP_LOG_DEBUG}, {"info", CP_LOG_INFO}, {"warning", CP_LOG_WARNING},
    {"warn", CP_LOG_WARNING}, {"error", CP_LOG_ERROR}, {"off", CP_LOG_OFF},
};

int cp__log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcasecmp(name, levels[i].name) == 0)
            return levels[i].level;
    return -1;
}

static const char *level_name(int level)
{
    switch (level) {
    case CP_LOG_DEBUG: return "DEBUG";
    case CP_LOG_INFO: return "INFO";
    case CP_LOG_WARNING: return "WARNING";
    default: return "ERROR";
    }
}

int cp__log_open(const char *path, const char *level, cp_err *err)
{
    int lv = level ? cp__log_level_parse(level) : CP_LOG_INFO;
    if (lv < 0)
        return cp__errf(err, EINVAL,
                        "log level '%s' is not one of debug, info, warning, error, off", level);
    FILE *fp = fopen(path, "ae");
    if (!fp)
        return cp__errf(err, errno, "cannot open log file %s: %s", path, strerror(errno));
    setvbuf(fp, NULL, _IOLBF, 0);
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    atomic_store(&cp__log_level, lv);
    pthread_mutex_unlock(&log_mu);
    return 0;
}

void cp__log_close(void)
{
    pthread_mutex_lock(&log_mu);
    atomic_store(&cp__log_level, CP_LOG_OFF);
    if (log_fp)
        fclose(log_fp);
    log_fp = NULL;
    pthread_mutex_unlock(&log_mu);
}

void cp__log_write(int level, const char *subsys, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);

    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_mu);
    if (log_fp) {
        /* Parsl's layout: time, level, subsystem, process and thread, message. */
        fprintf(log_fp, "%s.%03ld %s %s %d: ", stamp, (long)(tv.tv_usec / 1000),
                level_name(level), subsys, (int)getpid());
        vfprintf(log_fp, fmt, ap);
        fputc('\n', log_fp);
    }
    pthread_mutex_unlock(&log_mu);
    va_end(ap);
}
