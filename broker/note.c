/* Notes, counters and events (DESIGN §5.2): being written. */
#include "config.h"

#include "broker.h"

#define NOTE_STUB(n) void op_##n(struct req *r) { reply_error(r->c, r->id, ERR_INTERNAL, NULL, "not yet"); }
NOTE_STUB(note_set)
NOTE_STUB(note_get)
NOTE_STUB(note_delete)
NOTE_STUB(note_list)
NOTE_STUB(note_wait)
NOTE_STUB(counter_incr)
NOTE_STUB(event_signal)
NOTE_STUB(event_wait)
