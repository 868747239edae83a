// The control protocol header alone, from C++: nothing but include/ on the
// path, and the same layouts as in C.
#include "pkv-ctl.h"

int header_ctl_check();

int header_ctl_check()
{
	ctl_req rq = {};
	rq.magic = CTL_MAGIC;
	rq.op = CTL_OP_ATTACH;
	ctl_rep rep = {};
	rep.magic = CTL_MAGIC;
	rep.status = PKV_S_OK;
	rep.flags = CTL_RF_MORE;
	static const char sock[] = CTL_SOCKET_NAME;
	static const char reached[] = CTL_EVENT_QUORUM_REACHED;
	static const char lost[] = CTL_EVENT_QUORUM_LOST;
	static_assert(sizeof(ctl_req) == 20 && sizeof(ctl_rep) == 24, "layouts");
	static_assert(sizeof(reached) == CTL_EVENT_QUORUM_REACHED_LEN + 1, "event length");
	static_assert(sizeof(lost) == CTL_EVENT_QUORUM_LOST_LEN + 1, "event length");
	static_assert(CTL_EVENT_QUORUM_REACHED_LEN <= CTL_EVENT_NAME_MAX &&
			      CTL_EVENT_QUORUM_LOST_LEN <= CTL_EVENT_NAME_MAX,
		      "event names fit");
	static_assert(CTL_MAX_PACKET ==
			      sizeof(ctl_req) + PKV_MAX_BUCKET + PKV_MAX_KEY + PKV_MAX_VALUE,
		      "largest packet");
	return sizeof(sock) < 2 || rq.op != 6 || rep.status != 0 || PKV_S_NO_MEMORY != 1008;
}
