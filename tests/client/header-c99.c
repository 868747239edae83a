/* The public header alone, as strict C99: it must compile with nothing else. */
#include "paxoskv.h"

static struct pkv_value value = PKV_VALUE_INIT;

int header_ctl_check(void); /* header-ctl.c */

int main(void)
{
	struct pkv_put_opts po = {0};
	struct pkv_get_opts go = {0};
	(void)po;
	(void)go;
	return (int)value.len + (PKV_VERSION_NUMBER >= 0x000100 ? 0 : 1) + header_ctl_check();
}
