/* providers/pbs_json.c — PBS Pro's `qstat -x -f -F json` (providers/pbs.h).
 * Apart from the other qstat readers so that parsl-worker, which links the whole
 * library but never asks a scheduler anything, does not load jansson
 * (providers/none/pbs_json_none.c stands in there). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/pbs.h"

static long which(const char *const *ids, size_t n, const char *printed)
{
    for (size_t i = 0; i < n; i++)
        if (cp__pbs_id_match(ids[i], printed, strlen(printed)))
            return (long)i;
    return -1;
}

static void copy_text(char *dst, size_t cap, const json_t *v)
{
    if (json_is_string(v))
        snprintf(dst, cap, "%s", json_string_value(v));
}

int cp__pbs_read_json(const char *out, const char *const *ids, size_t n,
                      struct cp__pbs_info *info)
{
    json_error_t jerr;
    json_t *root = out ? json_loads(out, 0, &jerr) : NULL;
    json_t *jobs = root && json_is_object(root) ? json_object_get(root, "Jobs") : NULL;
    if (!root || !json_is_object(root) || (jobs && !json_is_object(jobs))) {
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *job;
    json_object_foreach(jobs, key, job) {
        long i = which(ids, n, key);
        if (i < 0 || info[i].found || !json_is_object(job))
            continue;
        struct cp__pbs_info *in = &info[i];
        in->found = true;
        copy_text(in->state, sizeof in->state, json_object_get(job, "job_state"));
        json_t *v = json_object_get(job, "Exit_status");
        if (json_is_integer(v)) {
            in->has_exit = true;
            in->exit_status = (long)json_integer_value(v);
        } else if (json_is_string(v)) {
            char *end;
            errno = 0;
            long x = strtol(json_string_value(v), &end, 10);
            in->has_exit = end != json_string_value(v) && !*end && !errno;
            if (in->has_exit)
                in->exit_status = x;
        }
        copy_text(in->comment, sizeof in->comment, json_object_get(job, "comment"));
    }
    json_decref(root);
    return 0;
}
