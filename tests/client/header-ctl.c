/*
 * The control protocol header alone, as strict C99: it must compile with
 * nothing but include/ on the path (no daemon/ header), and its layouts are
 * the ones the daemon and the library exchange.
 */
#include "pkv-ctl.h"

int header_ctl_check(void);

int header_ctl_check(void)
{
	struct ctl_req rq = {.magic = CTL_MAGIC, .op = CTL_OP_ATTACH};
	struct ctl_rep rep = {.magic = CTL_MAGIC, .status = PKV_S_OK, .flags = CTL_RF_MORE};
	static const char sock[] = CTL_SOCKET_NAME;
	static const char reached[] = CTL_EVENT_QUORUM_REACHED;
	static const char lost[] = CTL_EVENT_QUORUM_LOST;
	int bad = 0;
	bad |= sizeof(rq) != 20 || sizeof(rep) != 24;
	bad |= CTL_MAX_PACKET != sizeof(rq) + PKV_MAX_BUCKET + PKV_MAX_KEY + PKV_MAX_VALUE;
	bad |= sizeof(sock) < 2 || rq.op != 6 || rep.status != 0 || PKV_S_NO_MEMORY != 1008;
	bad |= sizeof(reached) != CTL_EVENT_QUORUM_REACHED_LEN + 1 ||
	       sizeof(lost) != CTL_EVENT_QUORUM_LOST_LEN + 1;
	bad |= CTL_EVENT_QUORUM_REACHED_LEN > CTL_EVENT_NAME_MAX ||
	       CTL_EVENT_QUORUM_LOST_LEN > CTL_EVENT_NAME_MAX;
	return bad;
}
