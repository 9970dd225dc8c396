/* providers/channel_local.c — PLACEHOLDER until the local channel lands (a helper is
 * writing it); it only lets the library link. */
#include <errno.h>

#include "providers/channel.h"

struct cp__channel *cp__channel_local_open(const struct cp__channel_config *cfg, cp_err *err)
{
    (void)cfg;
    cp__errf(err, ENOSYS, "the local channel is not built yet");
    return NULL;
}
