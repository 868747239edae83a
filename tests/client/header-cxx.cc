// The public header from C++: extern "C", no C-only constructs.
#include "paxoskv.h"

int header_ctl_check(); // header-ctl.cc

int main()
{
	pkv_value value = PKV_VALUE_INIT;
	pkv_put_opts po = {};
	po.no_quorum = PKV_NO_QUORUM_RETRY;
	pkv_fail_handler h = nullptr;
	(void)h;
	return static_cast<int>(value.len) + (po.no_quorum == PKV_NO_QUORUM_RETRY ? 0 : 1) +
	       header_ctl_check();
}
