// SPDX-License-Identifier: MIT
/*
 * pkv's machine-readable forms of the daemon's text reports (`pkv cluster`,
 * `pkv stats`): JSON (--json) and the OpenMetrics text format
 * (--openmetrics). README.md, "Machine-readable output", and pkv(1) say what
 * comes out.
 */
#ifndef PKV_TOOLS_REPORT_H
#define PKV_TOOLS_REPORT_H

#include <stdio.h>

#include "json.h"

/* The report's fields as members of the object j is in. */
void report_json(struct json *j, const char *text);
/* The metrics of both reports (either may be NULL), then # EOF. */
void report_openmetrics(FILE *f, const char *cluster_text, const char *stats_text);

#endif
