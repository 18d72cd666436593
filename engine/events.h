/* SPDX-License-Identifier: MIT */
/*
 * events.h -- segment-lifecycle events (events.c): how the storage core
 * tells what is built on it (the compactor's thread, the KMOD backend)
 * that a segment changed state, without calling it by name.
 *
 * A listener registers a struct of callbacks with a handle; the core
 * publishes each event to every listener, in the thread that caused it.
 * Dependencies then point one way: query/kmod.c knows the core, the core
 * knows only this interface.  Listeners stay registered until
 * daxkv_close, which calls each one's close() and forgets it.
 *
 * Plain C with forward declarations only, so that query/cuda.cu can
 * include it.
 */
#ifndef DK_EVENTS_H
#define DK_EVENTS_H

#ifdef __cplusplus
extern "C" {
#endif

struct daxkv;
struct dk_segment;

/* What happened to a segment; the lock named is held while listeners
 * run, so a listener takes no engine lock and returns soon. */
enum dk_seg_event {
	DK_SEG_EV_NONE = 0,	/* reserved */
	/* created, mapped and LIVE in the meta table (hidden from
	 * snapshots when a compaction made it); under seg_lock */
	DK_SEG_EV_CREATED = 1,
	/* its sealed tail is durable: no lane appends to it, unless one
	 * takes it up again later (dk_segment_prepare_append); under
	 * seg_lock when a lane rolls over to another segment */
	DK_SEG_EV_SEALED = 2,
	/* swapped out by a compaction: snapshots taken from now on do not
	 * list it, older ones still read it; under view_lock (write) */
	DK_SEG_EV_RETIRING = 3,
	/* about to be removed: no snapshot or reader can reach it any
	 * more, and right after the listeners return its slot becomes FREE
	 * and its file is unmapped and unlinked, so a listener drops every
	 * reference to it now; no engine lock held */
	DK_SEG_EV_RETIRED = 4,
};

struct dk_listener {
	/* A segment of @p db changed state (may be NULL). */
	void (*segment)(struct dk_listener *l, struct daxkv *db,
			struct dk_segment *seg, enum dk_seg_event ev);
	/* daxkv_close: after the last event and before any segment is
	 * unmapped.  The listener is forgotten and may free itself (may be
	 * NULL). */
	void (*close)(struct dk_listener *l, struct daxkv *db);
};

/* Register @p l with @p db (at most DK_MAX_LISTENERS per handle): 0 or
 * DAXKV_ENOMEM with daxkv_errmsg() set.  Any thread, at any time. */
int dk_listener_add(struct daxkv *db, struct dk_listener *l);

/* Tell every listener of @p db that @p seg had event @p ev. */
void dk_seg_publish(struct daxkv *db, struct dk_segment *seg,
		    enum dk_seg_event ev);

/* daxkv_close: call each listener's close() and forget it.  No event
 * may be published concurrently. */
void dk_listeners_close(struct daxkv *db);

#ifdef __cplusplus
}
#endif

#endif
