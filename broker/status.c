/* The status operation: what the broker holds, overall and per project. */
#include "config.h"

#include <unistd.h>

#include "broker.h"

/* status: what the broker holds, overall and in the caller's project. */
void
op_status(struct req *r)
{
	struct fbuf *fb = reply_begin(r->id);
	const char *err = store_last_error();
	size_t out, in;

	client_memory(&out, &in);
	pk_map_open(fb);
	pk_kstr(fb, "version", BATON_VERSION);
	pk_kint(fb, "protocol", PROTO_VERSION);
	pk_kint(fb, "pid", getpid());
	pk_kdouble(fb, "uptime_seconds", (double)(mono_ms() - start_ms) / 1000.0);
	pk_kuint(fb, "revision", revision);
	pk_kuint(fb, "sessions", session_count(NULL));
	pk_kuint(fb, "locks", lock_count(NULL));
	pk_kuint(fb, "waiters", lock_waiter_count());
	pk_kuint(fb, "blocked", wait_count());
	pk_kuint(fb, "output_bytes", out);
	pk_kuint(fb, "input_bytes", in);
	pk_kstr(fb, "project", r->s->project);
	pk_kuint(fb, "project_sessions", session_count(r->s->project));
	pk_kuint(fb, "project_locks", lock_count(r->s->project));
	pk_kstr(fb, "session", r->s->id);
	pk_kstr(fb, "agent", r->s->agent);
	pk_kstr(fb, "durability", durability_name());
	pk_kstr_opt(fb, "state_dir", cfg.state_dir);
	pk_kstr_opt(fb, "group", group_selected());
	pk_kstr_opt(fb, "store_error", err);
	pk_kstr_opt(fb, "fold_error", journal_error()); /* saved, not yet in state.db */
	if (shared_enabled()) {
		pk_str(fb, "shared");
		shared_status(fb);
	}
	pk_map_close(fb);
	if (err != NULL) /* read-only, and the one way to see why everything else waits */
		reply_end_now(r->c, fb);
	else
		reply_end(r->c, fb);
}
