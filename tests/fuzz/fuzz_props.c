// SPDX-License-Identifier: MIT
/*
 * fuzz_props.c -- libFuzzer target for the YCSB property-file reader
 * (benchmarks/ycsb/props.c): the input is parsed as a workload file and,
 * line by line, as `-p name=value` arguments; then the typed lookups the
 * driver makes run on whatever came out.  Built only where props.c exists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *names[] = { "recordcount", "operationcount",
		"readproportion", "requestdistribution", "readallfields",
		"fieldlength", "insertorder", "zipfianconstant" };
	struct ycsb_props props, copy;
	char err[256];
	char *text = malloc(size + 1), *line, *save = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ycsb_props_init(&props);
	ycsb_props_parse(&props, text, "fuzz", err, sizeof(err));
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		ycsb_props_set_arg(&props, line, err, sizeof(err));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t u;
		double d;
		bool b;

		ycsb_props_get_u64(&props, names[i], 1, &u, err, sizeof(err));
		ycsb_props_get_double(&props, names[i], 0.5, &d, err,
				      sizeof(err));
		ycsb_props_get_bool(&props, names[i], false, &b, err,
				    sizeof(err));
		ycsb_props_origin(&props, names[i]);
	}
	if (ycsb_props_copy(&copy, &props) == 0)
		ycsb_props_free(&copy);
	ycsb_props_free(&props);
	free(text);
	return 0;
}
