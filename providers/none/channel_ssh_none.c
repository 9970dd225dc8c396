/* providers/none/channel_ssh_none.c — the ssh channel's constructor for
 * programs linked without libssh: parsl-worker (a pool never runs a provider's
 * commands, and libssh with its crypto libraries would add to every pool's
 * memory). The Makefile links this instead of channel_ssh.c and ssh_conn.c. */
#include <errno.h>

#include "providers/channel.h"

struct cp__channel *cp__channel_ssh_open(const struct cp__channel_config *cfg, cp_err *err)
{
    (void)cfg;
    cp__errf(err, ENOSYS, "this program is built without the ssh channel (libssh)");
    return NULL;
}
