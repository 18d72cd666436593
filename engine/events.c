// SPDX-License-Identifier: MIT
/*
 * events.c -- the segment-lifecycle listeners of a handle (events.h).
 *
 * A fixed table of pointers: publishing reads it without a lock (an
 * event is published under seg_lock or view_lock, by writers rolling
 * over or by a compaction, and must not wait for a registration), and a
 * registration, rare and possibly concurrent with others, fills a free
 * entry under listen_lock and publishes it with a release store.  Entries
 * are cleared only at close, when no event is published.
 */
#include "errors.h"
#include "events.h"
#include "internal.h"

int dk_listener_add(struct daxkv *db, struct dk_listener *l)
{
	uint32_t i;

	pthread_mutex_lock(&db->listen_lock);
	for (i = 0; i < DK_MAX_LISTENERS && db->listeners[i]; i++)
		;
	if (i < DK_MAX_LISTENERS)
		__atomic_store_n(&db->listeners[i], l, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&db->listen_lock);
	if (i == DK_MAX_LISTENERS)
		return dk_err(DAXKV_ENOMEM, "no room for another segment "
			      "listener (at most %u)", DK_MAX_LISTENERS);
	return 0;
}

void dk_seg_publish(struct daxkv *db, struct dk_segment *seg,
		    enum dk_seg_event ev)
{
	for (uint32_t i = 0; i < DK_MAX_LISTENERS; i++) {
		struct dk_listener *l =
			__atomic_load_n(&db->listeners[i], __ATOMIC_ACQUIRE);

		if (l && l->segment)
			l->segment(l, db, seg, ev);
	}
}

void dk_listeners_close(struct daxkv *db)
{
	for (uint32_t i = 0; i < DK_MAX_LISTENERS; i++) {
		struct dk_listener *l = db->listeners[i];

		db->listeners[i] = NULL;
		if (l && l->close)
			l->close(l, db);
	}
}
