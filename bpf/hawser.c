/* Compilation unit the loader hands to bcc: all attach points in one object so
 * they share maps without extra pin lookups (one clang run, ~1 s). */
#include "from_uplink.c"
#include "from_container.c"
#include "to_uplink.c"
#include "from_tunnel.c"
#include "sock.c"
