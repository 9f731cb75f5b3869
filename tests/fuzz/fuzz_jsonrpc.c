/*
 * libFuzzer target for the MCP shim's input path: one line of JSON-RPC
 * through cJSON, the tools/call arguments through json_args_to_msgpack
 * and op_validate, as mcp_tools_call does, and the whole message through
 * json_pack, the frame decoder and back to JSON with json_from_msgpack.
 *
 * Invariants checked beyond the sanitizers: a refusal names its field,
 * and a message that json_pack turned into a frame the decoder accepts
 * converts back to JSON.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "shim.h"
#include "../json_tree.h"

/* Validate args against op, as the shim does before sending a request. */
static void
fuzz_validate(const struct op *op, const msgpack_object *args)
{
	const msgpack_object *out[OP_MAX_ARGS];
	struct op_error err;

	memset(&err, 0, sizeof err);
	if (op_validate(op, args, out, &err) != 0 &&
	    (err.code == NULL || memchr(err.field, '\0', sizeof err.field) == NULL ||
		memchr(err.message, '\0', sizeof err.message) == NULL))
		abort();
}

/* The tools/call path: params.name picks the op, params.arguments the args. */
static void
fuzz_arguments(const cJSON *msg)
{
	const cJSON *params, *name, *arguments;
	const msgpack_object *args;
	const struct op *op = NULL;
	struct op_error err;
	msgpack_sbuffer sb;
	msgpack_unpacked u;
	size_t i;

	params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	name = cJSON_GetObjectItemCaseSensitive(params, "name");
	arguments = cJSON_GetObjectItemCaseSensitive(params, "arguments");
	if (arguments == NULL)
		arguments = msg; /* let bare objects reach the validator too */
	if (cJSON_IsNull(arguments))
		arguments = NULL;
	if (cJSON_IsString(name))
		op = op_find(name->valuestring, strlen(name->valuestring));

	memset(&err, 0, sizeof err);
	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&u);
	if (json_args_to_msgpack(arguments, &sb, &u, &args, &err) == 0) {
		if (args == NULL || args->type != MSGPACK_OBJECT_MAP)
			abort();
		if (op != NULL)
			fuzz_validate(op, args);
		for (i = 0; i < OP_COUNT; i++)
			fuzz_validate(&ops[i], args);
	} else if (err.code == NULL)
		abort();
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* The whole message to a frame and back to JSON. */
static void
fuzz_roundtrip(const cJSON *msg)
{
	struct fbuf fb;
	msgpack_unpacked u;
	const char *cause;
	cJSON *back;
	char *text;

	fbuf_init(&fb);
	if (json_pack(&fb, msg) == 0 && fbuf_finish(&fb) == 0) {
		msgpack_unpacked_init(&u);
		if (frame_decode(fb.sb.data + FRAME_HDR, fb.sb.size - FRAME_HDR, &u, &cause) ==
		    0) {
			if ((back = json_from_msgpack(&u.data)) == NULL)
				abort();
			if ((text = cJSON_PrintUnformatted(back)) != NULL)
				free(text);
			cJSON_Delete(back);
		}
		msgpack_unpacked_destroy(&u);
	}
	fbuf_free(&fb);
}

/* json_parse_scoped parses the usual lines itself: the tree must be cJSON's. */
static void
same_as_cjson(const cJSON *msg, const char *line, size_t size)
{
	cJSON *theirs = cJSON_ParseWithLength(line, size);
	char *a, *b;

	if ((msg == NULL) != (theirs == NULL))
		abort();
	if (msg != NULL) {
		a = cJSON_PrintUnformatted(msg);
		b = cJSON_PrintUnformatted(theirs);
		if (a == NULL || b == NULL || strcmp(a, b) != 0 || !same_tree(msg, theirs))
			abort();
		free(a);
		free(b);
	}
	cJSON_Delete(theirs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *msg;
	char *line, field[64];
	struct json_scope scope;

	/* mcp_line hands cJSON a length-counted line; copy it so ASan sees overreads */
	if ((line = malloc(size == 0 ? 1 : size)) == NULL)
		abort();
	if (size != 0)
		memcpy(line, data, size);
	msg = json_parse_scoped(line, size, &scope); /* as mcp_line parses */
	same_as_cjson(msg, line, size);
	if (msg != NULL) {
		/* as mcp_line: a string cut at \u0000 is refused, naming its field */
		if (json_find_nul(line, size, field, sizeof field) &&
		    memchr(field, '\0', sizeof field) == NULL)
			abort();
		fuzz_arguments(msg);
		fuzz_roundtrip(msg);
	}
	json_scope_end(&scope); /* frees msg */
	free(line);
	return (0);
}

/* With FUZZ_SEED_DIR set, write a starting corpus: MCP messages as clients send them. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const seeds[][2] = {
		{ "call",
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"lock_acquire\",\"arguments\":{\"name\":\"db\",\"mode\":"
		    "\"shared\",\"wait_seconds\":1.5}}}" },
		{ "names",
		    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"lock_acquire\",\"arguments\":{\"names\":[\"a\","
		    "\"file:src/x.c\"],\"ttl_seconds\":60,\"reason\":\"r\"}}}" },
		{ "release",
		    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"lock_release\",\"arguments\":{\"name\":"
		    "\"db\",\"token\":\"0123456789abcdef\"}}}" },
		{ "init",
		    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":"
		    "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
		    "\"clientInfo\":{\"name\":\"c\",\"version\":\"1\"}}}" },
		{ "values",
		    "{\"a\":[1,-2,3.5,1e300,-9007199254740993,18446744073709551615,true,"
		    "false,null,{\"k\":\"\\u00e9\\ud83d\\ude00\"}]}" },
		{ "nul",
		    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"note_set\",\"arguments\":{\"key\":\"a\\u0000b\","
		    "\"value\":\"x\\\\u0000\"}}}" },
		{ "control",
		    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"note_set\",\"arguments\":{\"key\":"
		    "\"\\u001b[2J\",\"value\":\"\\u001b[2J\"}}}" },
		/* a key twice, a fraction, a brace too many (found by CI's fuzzing) */
		{ "twice",
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"x\":\"2.0\",\"id\":2,\"method\":"
		    "\"tools/call\",\"params\":{\"name\":\"lock_acquire\",\"ttl_seconds\":60,"
		    "\"r\":1.5}}}" },
	};
	const char *dir = getenv("FUZZ_SEED_DIR");
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; dir != NULL && i < nitems(seeds); i++)
		fuzz_seed_write(dir, seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
	return (0);
}
