/* godi's hand-written BPF side (compiled by BCC together with the generated
 * probes.bpf.c, which includes this header after defining the GODI_* sizes).
 *
 * A probe hit runs in three steps:
 *   1. the probe's generated entry function assembles the captured variables
 *      into the event's root area (registers and stack slots, as DWARF says) and
 *      calls godi_start(), which fills the header and walks the frame pointers;
 *   2. the walker follows pointers, strings and slices breadth-first, driven by
 *      the capture type table godi_types that capture fills from layout.json:
 *      bpf_loop (Linux 5.17+) runs godi_walk_step, one step of the walk per
 *      call, until the walk is done or GODI_MAX_STEPS. The uprobe_multi
 *      dispatcher is loaded sleepable (GODI_SLEEPABLE) and walks in place, so
 *      that a read may fault a page in (godi_read_mem); per-probe programs
 *      (kernels without uprobe_multi) tail-call the program godi_walk instead;
 *   3. godi_submit() copies the event to the ring buffer and counts it.
 * The per-CPU scratch area holds the event being built, the work queue and the
 * set of (address, type) pairs already copied, so each pointee is copied once.
 */
#ifndef GODI_H
#define GODI_H

#include <uapi/linux/ptrace.h>

#include "godi_event.h"

#ifndef GODI_MAX_EVENT
#define GODI_MAX_EVENT 131072 /* bytes of one event; a power of two */
#endif
#ifndef GODI_MAX_ITEMS
#define GODI_MAX_ITEMS 4096 /* work queue entries per event; a power of two */
#endif
#ifndef GODI_SEEN_SLOTS
#define GODI_SEEN_SLOTS 4096 /* dedup table entries; a power of two */
#endif
#ifndef GODI_MAX_SLOTS
#define GODI_MAX_SLOTS 128 /* references followed per capture type element; a power of two */
#endif
#ifndef GODI_MAX_TYPES
#define GODI_MAX_TYPES 1024
#endif
#ifndef GODI_MAX_PROBES
#define GODI_MAX_PROBES 64
#endif
#ifndef GODI_MAX_ROOT
#define GODI_MAX_ROOT 16384 /* bytes of captured variables per hit; a power of two */
#endif
#ifndef GODI_MAX_RTYPES
#define GODI_MAX_RTYPES 4096
#endif
#ifndef GODI_MAX_STACK
#define GODI_MAX_STACK 32
#endif
#ifndef GODI_RINGBUF_PAGES
#define GODI_RINGBUF_PAGES 1024
#endif
#ifndef GODI_NCPUS
#define GODI_NCPUS 64
#endif
#ifndef GODI_STACK_WINDOW
#define GODI_STACK_WINDOW 2048 /* bytes of goroutine stack copied for the walk; a power of two */
#endif
#ifndef GODI_MAX_REDACTED
#define GODI_MAX_REDACTED 8192 /* spellings of redacted identifiers (their hashes) */
#endif
#define GODI_KEY_READ 64 /* bytes of a map key read to check it against them */
#define GODI_GUARDS 8 /* key guards per element: a bucket's or group's slots */
#ifndef GODI_FRAME_SLOTS
#define GODI_FRAME_SLOTS 1024 /* goroutines remembered from entry to return; a power of two */
#endif
/* Scratch space after the event, for the copy of the stack. */
#define GODI_TMP GODI_MAX_EVENT
#ifndef GODI_MAX_STEPS
#define GODI_MAX_STEPS 65536 /* walker steps per event (bpf_loop iterations, at most 1 << 23) */
#endif
/* Stands for godi_walk_step where godi_walk passes it to bpf_loop: BCC 0.26 does
 * not relocate a reference to a function, so capture (stages/capture/walkload.py)
 * links the step function in after godi_walk's code and turns this constant's
 * 64-bit load into the load of a BPF_PSEUDO_FUNC that names it. */
#define GODI_STEP_MARKER 0x9d1c0a1b5ee9f00dULL
#define GODI_BUF_MASK (GODI_MAX_EVENT - 1)
#ifndef GODI_WAKEUP_BYTES
#define GODI_WAKEUP_BYTES (256 * 1024) /* bytes a CPU emits between reader wakeups */
#endif

#define GODI_PROG_WALK 0

/* bpf_probe_read_user under another name. BCC's frontend inspects every call it
 * sees by that name (against the kernel's symbols, for kernels without the
 * helper): about 0.15 s of compile time per call site, the bulk of the time to
 * compile this file. The helper is the same (Linux 5.5 and later). */
static long (*godi_read_user)(void *dst, __u32 size, const void *unsafe_ptr) =
	(void *)BPF_FUNC_probe_read_user;

#ifdef GODI_SLEEPABLE
/* bpf_copy_from_user (sleepable programs only): a read that may fault the page
 * in, as a debugger's read does. */
static long (*godi_fault_user)(void *dst, __u32 size, const void *user_ptr) =
	(void *)BPF_FUNC_copy_from_user;
#endif

/* A read of the program's memory by the walker. bpf_probe_read_user fails on a
 * page the process has not touched yet (the helper cannot fault it in): a fresh
 * heap span's first bytes, a literal in a page of .rodata nothing read. Compiled
 * sleepable (GODI_SLEEPABLE: the uprobe_multi dispatcher), the walker then reads
 * it again with bpf_copy_from_user, which faults it in as the program itself
 * would: a page never written is mapped to the zero page, never changed. */
static __always_inline long godi_read_mem(void *dst, __u32 size, const void *addr)
{
	long err = godi_read_user(dst, size, addr);
#ifdef GODI_SLEEPABLE
	if (err)
		err = godi_fault_user(dst, size, addr);
#endif
	return err;
}

struct godi_slot {
	__u32 offset;
	__u16 kind;   /* GODI_SLOT_* */
	__u16 shift;  /* GODI_SLOT_ARRAY_LOG2: log2 adjustment */
	__u32 target; /* capture type index */
	__u32 aux;    /* offset of the count that GODI_SLOT_ARRAY_* and _SWISS_* read */
};

struct godi_type {
	__u32 size; /* bytes of one element */
	__u32 n_slots;
	__u32 n_guards; /* the first slots are GODI_SLOT_KEY_GUARD (map buckets, groups) */
	__u32 n_zeros;  /* then GODI_SLOT_ZERO: redacted bytes of each element */
	struct godi_slot slots[GODI_MAX_SLOTS];
};

struct godi_config {
	__u32 target_tgid; /* 0: every process mapping the binary */
	__u32 goid_offset; /* offset of goid in runtime.g */
	__u32 stack_hi_offset; /* offset of stack.hi in runtime.g */
	__u32 read_g; /* 0: do not read runtime.g */
	__u32 floats; /* 1: signal captured hits for their vector registers */
	__u32 key_max; /* longest redacted identifier (normalised); 0: none */
	__u64 sig_wanted; /* address of runtime.sig.wanted[0]: SIGURG's bit set means the
			   * program asked for it (signal.Notify); 0: do not check */
	__u64 types_lo;   /* the binary's runtime type descriptors: [types_lo, types_hi) */
	__u64 types_hi;
	__u32 rtype_type; /* capture type of a heap descriptor (GODI_SLOT_RTYPE); 0: none */
};

struct godi_counter {
	__u64 hits;
	__u64 emitted;
	__u64 dropped;     /* ring buffer full, or scratch busy */
	__u64 truncated;   /* emitted without some referenced data (budget) */
	__u64 sampled_out; /* not captured: over the probe's rate limit */
	__u64 condition_false; /* not captured: its condition, decided here, was false */
};

struct godi_rate {
	__u64 interval_ns; /* 1e9 / rate; 0: unlimited */
	__u64 burst_ns;    /* how far ahead of time hits may run: one second's worth */
	__u64 tat;         /* theoretical arrival time of the next allowed hit */
	__u64 disarm;      /* capture disarms the probe while its budget is spent */
	__s64 inflight;    /* captured calls whose return has not been seen (disarm) */
};

/* A message to capture's disarmer (stages/capture/disarm.py) on godi_ctl. */
struct godi_ctl_msg {
	__u32 slot;
	__u32 kind;     /* GODI_CTL_* */
	__u64 next_ns;  /* SPENT: when the next hit may be allowed (ktime) */
};

#define GODI_CTL_SPENT 1    /* the probe's budget is spent: disarm its entries */
#define GODI_CTL_RETURNED 2 /* a captured call returned: its returns may go */

struct godi_call_key {
	__u64 goid;
	__u64 depth; /* stack.hi - CFA */
	__u32 rate_slot;
	__u32 tgid; /* binary-wide, processes have the same goids */
};

#define GODI_KIND_ENTRY 0
#define GODI_KIND_RETURN 1
#define GODI_KIND_LINE 2

struct godi_item {
	__u64 addr;    /* in_event: offset in buf of elements already copied */
	__u32 type;
	__u32 count;
	__u32 depth;
	__u32 in_event; /* not 0: scan the elements at buf[addr] in place (SLOT_INLINE,
			 * _MORE); the offset in buf where the bytes read of their
			 * block end (cur_end: a PARTIAL block's head is not all read) */
};

struct godi_seen {
	__u64 addr;
	__u32 type;
	__u32 generation;
};

struct godi_scratch {
	__u64 busy; /* 64-bit: BPF has no 32-bit atomic exchange on older CPUs */
	__u32 len; /* bytes of buf in use */
	__u32 generation;
	__u32 unwoken; /* bytes emitted from this CPU since the reader was last woken */
	__u32 probe;
	__u32 max_depth;
	__u32 max_len;
	__u32 max_coll;
	__u32 q_head;
	__u32 q_tail;
	__u32 scanning; /* 1 while the slots of the current block are being followed */
	__u32 cur_data; /* offset in buf of the current block's first element */
	__u32 cur_type;
	__u32 cur_count;
	__u32 cur_elem;
	__u32 cur_slot;
	__u32 cur_depth;
	__u32 guarding;    /* 1: the last block copied has key guards not yet applied */
	__u32 guard_block; /* offset in buf of its godi_block */
	__u32 guard_elem;  /* its next element to guard */
	__u32 zeroing;     /* 1: the block being scanned has redacted bytes not all zeroed */
	__u32 zero_block;  /* offset in buf of its godi_block */
	__u32 cur_end;     /* offset in buf past the current block's bytes (PARTIAL) */
	/* The work queue (struct godi_item) and the set of (address, type) pairs
	 * already copied (struct godi_seen), as bytes: BCC makes a reader and a
	 * writer for each element of an array of structs in a map's value, a second
	 * of compile time per 8,000 of them; bytes are one string to it. */
	__u8 queue[GODI_MAX_ITEMS * sizeof(struct godi_item)] __attribute__((aligned(8)));
	__u8 seen[GODI_SEEN_SLOTS * sizeof(struct godi_seen)] __attribute__((aligned(8)));
	/* Twice the event size, so that a masked offset plus a masked length always
	 * stays inside the array: the verifier can then check every access. */
	__u8 buf[2 * GODI_MAX_EVENT];
};

BPF_RINGBUF_OUTPUT(godi_events, GODI_RINGBUF_PAGES);
BPF_ARRAY(godi_types, struct godi_type, GODI_MAX_TYPES);
BPF_ARRAY(godi_config, struct godi_config, 1);
BPF_PERCPU_ARRAY(godi_counters, struct godi_counter, GODI_MAX_PROBES);
BPF_ARRAY(godi_scratch, struct godi_scratch, GODI_NCPUS);
BPF_PROG_ARRAY(godi_progs, 4);
BPF_ARRAY(godi_rates, struct godi_rate, GODI_MAX_PROBES);
/* Messages to the disarmer: small, rare (one per budget spent, one per disarmed
 * probe whose last captured call in flight returned), each waking the reader at
 * once. */
BPF_RINGBUF_OUTPUT(godi_ctl, 4);
/* Per rate slot, non-zero (n) while the disarmer waits for the slot's calls in
 * flight to fall to n - 1 (its entries are out, its returns kept for them; n - 1
 * calls it has given up): written by capture alone, apart from godi_rates, which
 * BPF updates. */
BPF_ARRAY(godi_waiting, __u64, GODI_MAX_PROBES);
/* Runtime type descriptor address -> capture type of what an interface's data
 * word points at (see stages/codegen/captypes.py, runtime_type). */
BPF_HASH(godi_rtypes, __u64, __u32, GODI_MAX_RTYPES);
/* FNV-1a 64 of each spelling of each redacted identifier that this guard's
 * ASCII folding can see (stages/redaction.py, guard_hashes: "apikey" and, with
 * U+212A KELVIN SIGN, "api\u212aey"): the map keys whose values are never copied. */
BPF_HASH(godi_redacted, __u64, __u8, GODI_MAX_REDACTED);
/* Zeros, copied over the value of a redacted map entry and over redacted bytes
 * (GODI_SLOT_ZERO). */
struct godi_zeros {
	__u8 z[256];
};
BPF_ARRAY(godi_zero, struct godi_zeros, 1);
/* What an entry hit read of its goroutine, for the return of the same call: a
 * return whose g (R14), CFA, process and entry probe match its goroutine's slot
 * takes goid and stack.hi from there instead of reading runtime.g again (a read
 * of user memory costs about as much as the rest of the hit). Every entry hit
 * writes or clears its g's slot before anything can end it, and the first return
 * hit of the g after it clears it. Calls nest, so that return is the entry's own
 * unless the entry's call ended without one (a panic unwound it): only then can
 * a later return of the same probe, process and g find the slot, and it matches
 * only at the same CFA, which an outer frame of the same stack never has (after
 * stack moves, only if the stack lands exactly there). A return at its entry's
 * CFA also has its entry's stack.hi: the depth stack.hi - CFA survives stack
 * moves. `check` covers the whole slot, so one torn by two CPUs writing it at
 * once is not believed. A nested probed call costs its caller's return the read. */
struct godi_frame {
	__u64 g;
	__u64 cfa;
	__u64 goid;
	__u64 stack_hi;
	__u64 check; /* godi_frame_check of the above, the process and the entry probe */
};

BPF_ARRAY(godi_frames, struct godi_frame, GODI_FRAME_SLOTS);
/* Calls whose entry was captured, waiting for their return; LRU so that calls
 * that never return (panics) cannot fill it. */
BPF_TABLE("lru_hash", struct godi_call_key, __u8, godi_calls, 65536);

static __always_inline struct godi_event *godi_header(struct godi_scratch *s)
{
	return (struct godi_event *)s->buf;
}

static __always_inline struct godi_counter *godi_counter_of(__u32 probe)
{
	return godi_counters.lookup(&probe);
}

/* Rate limit of one Datadog probe (GCRA): a hit at `now` is allowed when
 * now >= tat - burst_ns; then tat = max(tat, now) + interval_ns. interval_ns 0:
 * no limit. A race on tat lost to another CPU is run again, a few times: a hit
 * within the rate is not left out for coming at the same time as another, and
 * never more than the rate gets through. */
#define GODI_RATE_TRIES 4
static __always_inline void godi_tell(__u32 slot, __u32 kind, __u64 next_ns)
{
	struct godi_ctl_msg m = {slot, kind, next_ns};
	godi_ctl.ringbuf_output(&m, sizeof(m), BPF_RB_FORCE_WAKEUP);
}

static __always_inline int godi_allow(__u32 slot, __u64 now, __u64 *spent_until)
{
	struct godi_rate *r = godi_rates.lookup(&slot);
	if (!r || !r->interval_ns)
		return 1;
#pragma unroll
	for (int i = 0; i < GODI_RATE_TRIES; i++) {
		__u64 tat = r->tat;
		if (tat > r->burst_ns && now < tat - r->burst_ns)
			return 0;
		__u64 next = (tat > now ? tat : now) + r->interval_ns;
		if (__sync_val_compare_and_swap(&r->tat, tat, next) == tat) {
			if (r->disarm && next > r->burst_ns && now < next - r->burst_ns)
				*spent_until = next - r->burst_ns;
			return 1;
		}
	}
	return 0;
}

/* A captured call of a disarmable probe's slot begins (+1) or has returned (-1).
 * The disarmer hears of a return only when it waits for the last call in flight:
 * a message per captured call (a forced wakeup each) would cost the target more
 * than the capture itself at thousands a second. It polls `inflight` as well, so
 * a return that comes as it starts waiting is not missed for long. */
static __always_inline void godi_inflight(__u32 slot, __s64 delta)
{
	struct godi_rate *r = godi_rates.lookup(&slot);
	if (!r || !r->disarm)
		return;
	__s64 before = __sync_fetch_and_add(&r->inflight, delta);
	if (delta > 0)
		return;
	__u64 *waiting = godi_waiting.lookup(&slot);
	if (waiting && *waiting && before <= (__s64)*waiting)
		godi_tell(slot, GODI_CTL_RETURNED, 0);
}

/* Begin an event for `probe`: filter by process, sample (entries) or follow the
 * entry's decision (returns), then claim this CPU's scratch area. Returns NULL
 * (counting why) when the hit is not captured. */
static __always_inline void godi_release(struct godi_scratch *s);

/* Read goid and stack.hi from the current g, two reads into the BPF stack (the
 * kernel's user-copy hardening, check_object_size, makes a read into a map value
 * cost 50-80 ns more). Not one read of the span that holds both: the walker's
 * step, which the dispatcher calls through bpf_loop, needs most of the 512 bytes
 * of stack the two share. */
static __always_inline int godi_goroutine(struct godi_config *cfg, __u64 g, __u64 *goid,
					  __u64 *stack_hi)
{
	if (!g || !cfg->read_g || godi_read_user(goid, 8, (void *)(g + cfg->goid_offset)) ||
	    godi_read_user(stack_hi, 8, (void *)(g + cfg->stack_hi_offset)))
		return -1;
	return 0;
}

static __always_inline __u64 godi_frame_check(__u64 g, __u64 cfa, __u64 goid, __u64 stack_hi,
					      __u32 tgid, __u32 call_probe)
{
	return g ^ (cfa * 0x9e3779b97f4a7c15ULL) ^ (goid * 0xc2b2ae3d27d4eb4fULL) ^
	       (stack_hi * 0x165667b19e3779f9ULL) ^
	       ((((__u64)tgid << 32) | call_probe) * 0x27d4eb2f165667c5ULL);
}

/* The slot of goroutine g in godi_frames. */
static __always_inline struct godi_frame *godi_frame_of(__u64 g)
{
	__u32 i = (__u32)((g * 0x9e3779b97f4a7c15ULL) >> 40) & (GODI_FRAME_SLOTS - 1);
	return godi_frames.lookup(&i);
}

/* An entry hit that cannot leave its goroutine in its slot clears the slot. */
static __always_inline void godi_frame_forget(struct godi_frame *f, __u32 kind)
{
	if (f && kind == GODI_KIND_ENTRY)
		f->g = 0;
}

/* A return: goid and stack.hi as the call's entry left them, if the slot vouches
 * for them. Each field is loaded once: `check` vouches for exactly those values. */
static __always_inline int godi_frame_recall(struct godi_frame *f, __u64 g, __u64 cfa, __u32 tgid,
					     __u32 call_probe, __u64 *goid, __u64 *stack_hi)
{
	if (!f || *(volatile __u64 *)&f->g != g || *(volatile __u64 *)&f->cfa != cfa)
		return 0;
	__u64 id = *(volatile __u64 *)&f->goid;
	__u64 hi = *(volatile __u64 *)&f->stack_hi;
	if (*(volatile __u64 *)&f->check != godi_frame_check(g, cfa, id, hi, tgid, call_probe))
		return 0;
	*goid = id;
	*stack_hi = hi;
	return 1;
}

/* An entry that is not captured begins a call at `key`: a captured call still
 * waiting there for its return cannot be running (a running call's frame is
 * there, and its own calls are deeper), so a panic unwound it. Forgotten, it is
 * no longer counted in flight, and the return of this call, which is not
 * captured, is not taken for its return (a captured entry at the same key keeps
 * the waiting one: its return pairs with this entry, and decode reports the
 * older call as never returned). */
static __always_inline void godi_forget_call(__u32 kind, __u32 rate_slot, __u32 gated,
					     struct godi_call_key *key)
{
	if (gated && kind == GODI_KIND_ENTRY && godi_calls.delete(key) == 0)
		godi_inflight(rate_slot, -1);
}

/* Whether the hit whose call is `key` is captured: a return follows its entry's
 * decision, an entry or line hit is sampled. `gated`: some entries of the probe
 * are left out (rate limit, condition) and it has returns, so a return is
 * captured only when its entry was (other probes keep every entry: no map). */
static __always_inline int godi_admit(struct godi_counter *c, __u32 kind, __u32 rate_slot,
				      __u32 gated, struct godi_call_key *key, __u64 now)
{
	if (kind == GODI_KIND_RETURN) {
		if (gated) {
			if (!godi_calls.lookup(key))
				return 0;
			if (godi_calls.delete(key) == 0)
				godi_inflight(rate_slot, -1);
		}
		return 1;
	}
	__u64 spent_until = 0;
	if (!godi_allow(rate_slot, now, &spent_until)) {
		if (c)
			c->sampled_out++;
		godi_forget_call(kind, rate_slot, gated, key);
		return 0;
	}
	if (gated) {
		__u8 one = 1;
		/* Only the call's own goroutine can return it, after this. A key
		 * already there (a call that ended without its return) stays. */
		if (godi_calls.insert(key, &one) == 0)
			godi_inflight(rate_slot, 1);
	}
	/* Told after the call is counted in flight: the disarmer, reading
	 * `inflight` on this message, keeps the returns armed for it. */
	if (spent_until)
		godi_tell(rate_slot, GODI_CTL_SPENT, spent_until);
	return 1;
}

/* The key of the call an event's hit belongs to: its process, its goroutine and
 * its frame's distance from the top of the goroutine stack, which stays the same
 * when the runtime moves the stack. */
static __always_inline struct godi_call_key godi_call_of(__u64 goid, __u64 stack_hi, __u64 cfa,
							 __u32 rate_slot, __u32 tgid)
{
	struct godi_call_key key = {goid, stack_hi - cfa, rate_slot, tgid};
	return key;
}

/* goid and stack.hi of the goroutine g of a hit at `cfa`: a return takes its
 * entry's reading from godi_frames when the slot vouches for it, an entry reads
 * runtime.g and leaves the reading there; either way the slot ends up as that
 * table says. */
static __always_inline void godi_identify(struct godi_config *cfg, struct godi_frame *f,
					  __u32 kind, __u64 g, __u64 cfa, __u32 tgid,
					  __u32 call_probe, __u64 *goid, __u64 *stack_hi)
{
	if (kind == GODI_KIND_RETURN) {
		if (!godi_frame_recall(f, g, cfa, tgid, call_probe, goid, stack_hi))
			godi_goroutine(cfg, g, goid, stack_hi);
		if (f && f->g == g)
			f->g = 0; /* it has served the first return after its entry */
		return;
	}
	if (godi_goroutine(cfg, g, goid, stack_hi)) {
		godi_frame_forget(f, kind);
		return;
	}
	if (f && kind == GODI_KIND_ENTRY) {
		f->g = g;
		f->cfa = cfa;
		f->goid = *goid;
		f->stack_hi = *stack_hi;
		f->check = godi_frame_check(g, cfa, *goid, *stack_hi, tgid, call_probe);
	}
}

/* Begin an event for `probe`: filter by process, claim this CPU's scratch area,
 * identify the goroutine, then admit it (godi_admit) unless `decided`: a probe
 * whose condition BPF decides is admitted after the condition (godi_decide), so
 * that its rate limit is spent on hits that meet it. Returns NULL (counting why)
 * when the hit is not captured. */
static __always_inline struct godi_scratch *godi_begin(__u32 probe, __u32 kind, __u32 rate_slot,
						      __u32 gated, __u32 decided, __u32 call_probe,
						      __u64 cfa, __u64 g)
{
	__u32 zero = 0;
	struct godi_config *cfg = godi_config.lookup(&zero);
	if (!cfg)
		return NULL;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (cfg->target_tgid && tgid != cfg->target_tgid)
		return NULL;
	struct godi_counter *c = godi_counter_of(probe);
	if (c)
		c->hits++;
	struct godi_frame *f = g ? godi_frame_of(g) : NULL;
	__u32 cpu = bpf_get_smp_processor_id();
	struct godi_scratch *s = godi_scratch.lookup(&cpu);
	if (!s) {
		godi_frame_forget(f, kind);
		return NULL;
	}
	/* A uprobe handler can be preempted by another on the same CPU: never let
	 * two events share the scratch area. */
	if (__sync_lock_test_and_set(&s->busy, 1)) {
		godi_frame_forget(f, kind);
		if (c)
			c->dropped++;
		return NULL;
	}
	__u64 goid = 0, stack_hi = 0;
	godi_identify(cfg, f, kind, g, cfa, tgid, call_probe, &goid, &stack_hi);
	struct godi_call_key key = godi_call_of(goid, stack_hi, cfa, rate_slot, tgid);
	__u64 now = bpf_ktime_get_ns();
	if (!(decided && kind != GODI_KIND_RETURN) &&
	    !godi_admit(c, kind, rate_slot, gated, &key, now)) {
		godi_release(s);
		return NULL;
	}
	s->generation++;
	s->probe = probe;
	s->q_head = 0;
	s->q_tail = 0;
	s->scanning = 0;
	s->guarding = 0;
	s->zeroing = 0;
	struct godi_event *e = godi_header(s);
	e->probe = probe;
	e->flags = 0;
	e->fail_mask = 0;
	e->stack_len = 0;
	e->goid = goid;
	e->stack_hi = stack_hi;
	e->cfa = cfa;
	e->ktime_ns = now;
	e->tgid = tgid;
	e->tid = (__u32)pid_tgid;
	return s;
}

static __always_inline void godi_release(struct godi_scratch *s)
{
	/* A plain store: the BPF backend has no release-store instruction. */
	*(volatile __u64 *)&s->busy = 0;
}

/* Copy `size` bytes of a register value into the root at constant `off`. */
#define GODI_ROOT_REG(s, off, value, size)                                      \
	do {                                                                    \
		__u64 __v = (value);                                            \
		__builtin_memcpy(&(s)->buf[sizeof(struct godi_event) + (off)], \
				 &__v, (size));                                 \
	} while (0)

/* Copy `size` bytes of user memory at `addr` into the root at constant `off`;
 * on failure set fail bit `bit` (the helper zeroes the bytes then: no memset,
 * which clang cannot inline for a large argument passed on the stack). */
#define GODI_ROOT_MEM(s, off, addr, size, bit)                                  \
	do {                                                                    \
		void *__dst = &(s)->buf[sizeof(struct godi_event) + (off)];     \
		if (godi_read_user(__dst, (size), (void *)(addr)))         \
			godi_header(s)->fail_mask |= (1ULL << (bit));           \
	} while (0)

/* The value of C type `type` at constant offset `off` of the root (conditions). */
#define GODI_ROOT_LOAD(s, off, type)                                             \
	({                                                                       \
		type __v;                                                        \
		__builtin_memcpy(&__v, &(s)->buf[sizeof(struct godi_event) + (off)], \
				 sizeof(__v));                                   \
		__v;                                                             \
	})

/* Zero `size` bytes of the root at constant `off` (a piece that is unavailable). */
#define GODI_ROOT_ZERO(s, off, size) \
	__builtin_memset(&(s)->buf[sizeof(struct godi_event) + (off)], 0, (size))

/* The saved RBP and return address of the frame at `bp`: from the copy of the
 * stack at `win` (covering [base, base + len)) when it holds them, else read. */
static __always_inline int godi_frame(__u8 *win, __u64 base, __u64 len, __u64 bp, __u64 *pair)
{
	__u64 off = bp - base;
	if (bp >= base && off + 16 <= len) {
		__builtin_memcpy(pair, &win[off & (GODI_STACK_WINDOW - 1)], 16);
		return 0;
	}
	return godi_read_user(pair, 16, (void *)bp) ? -1 : 0;
}

/* Frame-pointer walk: pc[0] is the probe PC, pc[1] the return address (at
 * CFA-8), then the callers' return addresses along the RBP chain. The goroutine
 * stack from CFA-16 up (to stack.hi, at most GODI_STACK_WINDOW bytes) is copied
 * in one read, and the chain is followed in the copy: one read instead of one
 * per frame. Frames beyond the copy are read one by one. */
static __always_inline __u32 godi_stack(struct pt_regs *ctx, struct godi_scratch *s, __u32 at,
					__u64 cfa, __u64 stack_hi, int pushed_bp)
{
	__u64 pair[2];
	__u64 *out = (__u64 *)&s->buf[at & GODI_BUF_MASK];
	__u8 *win = &s->buf[GODI_TMP];
	__u64 base = cfa - 16;
	__u64 len = stack_hi > base ? stack_hi - base : GODI_STACK_WINDOW;
	if (len > GODI_STACK_WINDOW)
		len = GODI_STACK_WINDOW;
	if (godi_read_user(win, len & (GODI_STACK_WINDOW * 2 - 1), (void *)base))
		len = 0;
	__u64 bp = ctx->bp;
	__u32 n = 0;
	out[0] = ctx->ip;
	n = 1;
	/* [CFA-16]: the saved RBP if the function pushed it; [CFA-8]: the return. */
	if (godi_frame(win, base, len, base, pair))
		return n;
	out[1] = pair[1];
	n = 2;
	if (pushed_bp)
		bp = pair[0];
#pragma unroll
	for (int i = 2; i < GODI_MAX_STACK; i++) {
		if (!bp)
			return n;
		if (godi_frame(win, base, len, bp, pair))
			return n;
		if (!pair[1])
			return n;
		out[i] = pair[1];
		n = i + 1;
		bp = pair[0];
	}
	godi_header(s)->flags |= GODI_EVENT_FLAG_STACK_TRUNCATED;
	return n;
}

static __always_inline void godi_submit(struct pt_regs *ctx, struct godi_scratch *s);
static __always_inline void godi_walk_here(struct pt_regs *ctx, struct godi_scratch *s);

/* What the walker needs to know about a probe: data, filled by capture from
 * layout.json (per-probe code only places the variables in the root). */
struct godi_probe_info {
	__u32 kind;       /* GODI_KIND_* */
	__u32 rate_slot;  /* rate limit shared by the probe's uprobes */
	__u32 gated;      /* returns follow their entry's sampling decision */
	__u32 cfa_offset; /* CFA = RSP + cfa_offset at the probe address */
	__u32 root_type;  /* capture type of the root */
	__u32 root_size;
	__u32 pushed_bp;  /* RBP was pushed by the probed function: caller's RBP at CFA-16 */
	__u32 want_stack; /* walk the frame pointers (snapshots only) */
	__u32 root_refs;  /* references in the root: 0 means nothing to walk */
	__u32 max_depth;
	__u32 max_len;
	__u32 max_coll;
	__u32 decided;    /* its condition is decided here (godi_decide) */
	__u32 call_probe; /* the entry probe of its calls (itself for an entry): godi_frames */
	__u32 fp_mask;    /* XMM registers wanted (bit n: XMMn); 0: no floats */
	__u32 fp_next;    /* length of the probed instruction; 0: a RET (next PC at [RSP]) */
	__s32 fp_sp_delta; /* what the probed instruction adds to RSP... */
	__u32 fp_sp_known; /* ...when known: the frame's RSP is checked too */
};

BPF_ARRAY(godi_probes, struct godi_probe_info, GODI_MAX_PROBES);

/* A probe whose condition BPF decides, once its root is built: `met` is the
 * condition's value on it. Not met: counted and left; met: admitted as
 * godi_begin admits the others. Returns whether the hit goes on. */
static __always_inline int godi_decide(struct godi_scratch *s, struct godi_probe_info *h,
				       int met)
{
	struct godi_counter *c = godi_counter_of(s->probe);
	struct godi_event *e = godi_header(s);
	struct godi_call_key key = godi_call_of(e->goid, e->stack_hi, e->cfa, h->rate_slot, e->tgid);
	if (!met) {
		if (c)
			c->condition_false++;
		godi_forget_call(h->kind, h->rate_slot, h->gated, &key);
		godi_release(s);
		return 0;
	}
	if (!godi_admit(c, h->kind, h->rate_slot, h->gated, &key, e->ktime_ns)) {
		godi_release(s);
		return 0;
	}
	return 1;
}

/* Floats (stages/floats.py): a captured hit whose variables have bytes in XMM
 * registers leaves a token for its thread and sends it SIGURG, which the kernel
 * delivers once the probed instruction has been stepped, saving the FPU state in
 * the signal frame; godi_sigtramp, on the runtime's signal entry, reads it. */
struct godi_fpwant {
	__u64 token;    /* the hit's ktime_ns */
	__u64 expected; /* the PC after the probed instruction */
	__u64 sp;       /* RSP after it (sp_known) */
	__u32 sp_known;
	__u32 _pad2;
	__u32 probe;
	__u32 tgid;
	__u32 mask;
	__u32 _pad;
};

BPF_TABLE("lru_hash", __u32, struct godi_fpwant, godi_fpwant, 16384);

#define GODI_SIGURG 23

#ifndef GODI_FLOATS_SKEW
#define GODI_FLOATS_SKEW 0 /* fault injection (tests): expect a wrong PC */
#endif

static __always_inline void godi_floats_ask(struct pt_regs *ctx, struct godi_scratch *s,
					    struct godi_probe_info *h)
{
	__u32 zero = 0;
	struct godi_config *cfg = godi_config.lookup(&zero);
	if (!cfg || !cfg->floats)
		return;
	struct godi_event *e = godi_header(s);
	struct godi_fpwant w = {};
	w.token = e->ktime_ns;
	w.probe = s->probe;
	w.tgid = e->tgid;
	w.mask = h->fp_mask;
	if (h->fp_next) {
		w.expected = ctx->ip + h->fp_next;
	} else if (godi_read_user(&w.expected, 8, (void *)ctx->sp)) {
		return;
	}
	w.expected += GODI_FLOATS_SKEW;
	w.sp = ctx->sp + (__s64)h->fp_sp_delta;
	w.sp_known = h->fp_sp_known;
	if (cfg->sig_wanted) {
		/* A program that asked for SIGURG would receive ours: not signalled. */
		__u32 wanted = 0;
		if (godi_read_user(&wanted, 4, (void *)cfg->sig_wanted) ||
		    (wanted >> GODI_SIGURG) & 1) {
			e->flags |= GODI_EVENT_FLAG_FLOATS_REFUSED;
			return;
		}
	}
	__u32 tid = e->tid;
	if (godi_fpwant.update(&tid, &w))
		return;
	if (bpf_send_signal_thread(GODI_SIGURG)) {
		godi_fpwant.delete(&tid);
		return;
	}
	e->flags |= GODI_EVENT_FLAG_FLOATS_ASKED;
}

/* On the runtime's signal entry (sigtrampgo(sig, info, ctx), register ABI: the
 * ucontext in RCX): the thread's pending token, if any, is taken, and the frame
 * checked and read. Offsets are the x86-64 ucontext's: uc_mcontext.gregs[REG_RSP]
 * at 160, [REG_RIP] at 168, uc_mcontext.fpregs at 224; XMM0 at 160 of the FXSAVE
 * area. */
static __always_inline int godi_sigtramp_run(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct godi_fpwant *found = godi_fpwant.lookup(&tid);
	if (!found)
		return 0;
	struct godi_fpwant w = *found;
	godi_fpwant.delete(&tid);
	if (w.tgid != (__u32)(pid_tgid >> 32))
		return 0;
	struct godi_floats *f = godi_events.ringbuf_reserve(sizeof(struct godi_floats));
	if (!f)
		return 0;
	__builtin_memset(f, 0, sizeof(*f));
	f->head.probe = w.probe | GODI_FLOATS_PROBE_BIT;
	f->head.data_len = sizeof(*f) - sizeof(struct godi_event);
	f->head.ktime_ns = w.token;
	f->head.tgid = w.tgid;
	f->head.tid = tid;
	f->mask = w.mask;
	f->expected = w.expected;
	__u64 uc = ctx->cx;
	__u64 fpregs = 0, sp = 0;
	if (godi_read_user(&f->rip, 8, (void *)(uc + 168)) ||
	    godi_read_user(&sp, 8, (void *)(uc + 160)) ||
	    godi_read_user(&fpregs, 8, (void *)(uc + 224)) || !fpregs) {
		f->status = GODI_FLOATS_READ_FAILED;
	} else if (f->rip != w.expected) {
		f->status = GODI_FLOATS_PC_MISMATCH;
	} else if (w.sp_known && sp != w.sp) {
		f->status = GODI_FLOATS_SP_MISMATCH;
	} else {
		__u64 x[32];
		if (godi_read_user(x, sizeof(x), (void *)(fpregs + 160))) {
			f->status = GODI_FLOATS_READ_FAILED;
		} else {
#pragma unroll
			for (int i = 0; i < 16; i++)
				f->xmm[i] = (w.mask >> i) & 1 ? x[2 * i] : 0;
		}
	}
	godi_events.ringbuf_submit(f, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Fill the header, walk the stack, set up the walk of the root, and hand over
 * to godi_walk. Called once the probe's generated code has built the root. */
static __always_inline int godi_start(struct pt_regs *ctx, struct godi_scratch *s,
				      struct godi_probe_info *h, __u64 cfa)
{
	struct godi_event *e = godi_header(s);
	__u32 root_size = h->root_size;
	e->root_len = root_size;
	if (h->fp_mask)
		godi_floats_ask(ctx, s, h);
	__u32 at = (sizeof(struct godi_event) + ((root_size + 7) & ~7U)) & (GODI_MAX_ROOT * 2 - 1);
	__u32 n = h->want_stack ? godi_stack(ctx, s, at, cfa, e->stack_hi, h->pushed_bp) : 0;
	e->stack_len = n;
	s->len = at + n * 8;
	s->max_depth = h->max_depth;
	s->max_len = h->max_len;
	s->max_coll = h->max_coll;
	s->cur_data = sizeof(struct godi_event);
	s->cur_type = h->root_type;
	s->cur_count = 1;
	s->cur_end = ~0U;
	s->cur_elem = 0;
	s->cur_slot = 0;
	s->cur_depth = 0;
	s->scanning = 1;
	if (!h->root_refs) {
		/* Scalars only: no need for the walker's tail call. */
		s->scanning = 0;
		godi_submit(ctx, s);
		return 0;
	}
#ifdef GODI_SLEEPABLE
	godi_walk_here(ctx, s);
#else
	godi_progs.call(ctx, GODI_PROG_WALK);
	/* The tail call failed (not loaded): drop the event rather than emit half. */
	struct godi_counter *c = godi_counter_of(s->probe);
	if (c)
		c->dropped++;
	godi_release(s);
#endif
	return 0;
}

/* Entry `i` (masked) of the work queue. */
static __always_inline struct godi_item *godi_item_at(struct godi_scratch *s, __u32 i)
{
	return (struct godi_item *)&s->queue[(i & (GODI_MAX_ITEMS - 1)) * sizeof(struct godi_item)];
}

static __always_inline void godi_enqueue(struct godi_scratch *s, __u64 addr, __u32 type,
					 __u32 count, __u32 depth)
{
	if (!addr || !count)
		return;
	if (s->q_tail - s->q_head >= GODI_MAX_ITEMS) {
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
		return;
	}
	struct godi_item *it = godi_item_at(s, s->q_tail);
	it->addr = addr;
	it->type = type;
	it->count = count;
	it->depth = depth;
	it->in_event = 0;
	s->q_tail++;
}

/* `count` elements of capture type `type` at offset `at` of the event, part of the
 * element being scanned: their references are followed later, at the same depth. */
static __always_inline void godi_enqueue_in_event(struct godi_scratch *s, __u32 at, __u32 type,
						  __u32 count)
{
	if (!count)
		return;
	if (s->q_tail - s->q_head >= GODI_MAX_ITEMS) {
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
		return;
	}
	struct godi_item *it = godi_item_at(s, s->q_tail);
	it->addr = at;
	it->type = type;
	it->count = count;
	it->depth = s->cur_depth;
	it->in_event = s->cur_end ? s->cur_end : 1;
	s->q_tail++;
}

/* Claim the dedup entry for (addr, type); returns 1 if it was already copied. */
static __always_inline int godi_seen_before(struct godi_scratch *s, __u64 addr, __u32 type)
{
	__u64 h = (addr >> 3) ^ ((__u64)type * 0x9e3779b97f4a7c15ULL);
	h ^= h >> 29;
	struct godi_seen *e =
		(struct godi_seen *)&s->seen[(h & (GODI_SEEN_SLOTS - 1)) * sizeof(struct godi_seen)];
	if (e->generation == s->generation && e->addr == addr && e->type == type)
		return 1;
	e->generation = s->generation;
	e->addr = addr;
	e->type = type;
	return 0;
}

/* Copy the next queued block into the event. */
static __always_inline void godi_copy_next(struct godi_scratch *s)
{
	struct godi_item *it = godi_item_at(s, s->q_head);
	s->q_head++;
	__u64 addr = it->addr;
	__u32 type = it->type;
	__u32 count = it->count;
	__u32 depth = it->depth;
	if (it->in_event) {
		/* Already in the event: only its references are to follow. */
		struct godi_type *t = godi_types.lookup(&type);
		if (t && t->n_slots) {
			s->scanning = 1;
			s->cur_data = (__u32)addr;
			s->cur_type = type;
			s->cur_count = count;
			s->cur_end = it->in_event;
			s->cur_elem = 0;
			s->cur_slot = 0;
			s->cur_depth = depth;
		}
		return;
	}
	if (godi_seen_before(s, addr, type))
		return;
	struct godi_type *t = godi_types.lookup(&type);
	if (!t || !t->size)
		return;
	__u32 size = t->size;
	__u32 off = s->len;
	if (off + sizeof(struct godi_block) + 8 > GODI_MAX_EVENT) {
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
		return;
	}
	__u32 room = GODI_MAX_EVENT - off - sizeof(struct godi_block) - 8;
	__u32 flags = 0;
	__u64 want = (__u64)count * size;
	if (want > room) {
		count = room / size;
		want = (__u64)count * size;
		flags |= GODI_BLOCK_FLAG_SHORT;
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
		if (!count)
			return;
	}
	__u32 len = (__u32)want & GODI_BUF_MASK;
	__u32 data = (off + sizeof(struct godi_block)) & GODI_BUF_MASK;
	if (godi_read_mem(&s->buf[data], len, (void *)addr)) {
		/* A page that cannot be read (unmapped, PROT_NONE; or, not sleepable,
		 * one the program never touched: a map's last empty buckets can lie
		 * there). Keep what lies before the first page boundary: the whole
		 * elements, then the head of the one across it (PARTIAL). */
		__u32 head = 4096 - (__u32)(addr & 4095);
		__u32 n = head / size;
		if (head < len &&
		    !godi_read_mem(&s->buf[data], head & GODI_BUF_MASK, (void *)addr)) {
			count = n;
			len = head & GODI_BUF_MASK;
			if (head > n * size)
				flags |= GODI_BLOCK_FLAG_PARTIAL;
		} else {
			flags |= GODI_BLOCK_FLAG_READ_FAILED;
			count = 0;
			len = 0;
		}
	}
	struct godi_block *b = (struct godi_block *)&s->buf[off & GODI_BUF_MASK];
	b->addr = addr;
	b->type = type;
	b->count = count;
	b->len = len;
	b->flags = flags;
	s->len = off + sizeof(struct godi_block) + ((len + 7) & ~7U);
	/* The head of a PARTIAL element is scanned (and guarded) too, as far as
	 * its slots were read. */
	__u32 scan = count + (flags & GODI_BLOCK_FLAG_PARTIAL ? 1 : 0);
	if (scan && t->n_slots) {
		s->scanning = 1;
		s->cur_data = data;
		s->cur_type = type;
		s->cur_count = scan;
		s->cur_end = data + len;
		s->cur_elem = 0;
		s->cur_slot = 0;
		s->cur_depth = depth;
		if (t->n_guards) {
			/* Nothing of it is followed before godi_guard_block has run. */
			s->guarding = 1;
			s->guard_block = off;
			s->guard_elem = 0;
		}
		if (t->n_zeros) {
			/* Scanned before anything else is copied; left out unless all
			 * its elements' redacted bytes were zeroed (godi_scan_end). */
			s->zeroing = 1;
			s->zero_block = off;
		}
	}
}

/* The block being scanned is done with (`complete`: every element's slots were
 * followed) or given up: one whose redacted bytes were not all zeroed is left out
 * of the event. It is the last block in the event: nothing is copied while a
 * block is scanned. */
static __always_inline void godi_scan_end(struct godi_scratch *s, int complete)
{
	s->scanning = 0;
	if (s->zeroing && !complete) {
		s->len = s->zero_block;
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
	}
	s->zeroing = 0;
}

/* How many buckets/groups/tables to copy for a map: enough for maxCollectionSize
 * entries in half-full buckets of 8, never the whole of a huge map. */
static __always_inline __u32 godi_buckets(struct godi_scratch *s, __u64 n)
{
	__u64 cap = s->max_coll / 4 + 1;
	return (__u32)(n < cap ? n : cap);
}

/* Whether `addr` is outside the binary's runtime type descriptors: a descriptor
 * reflect made at run time (SliceOf, StructOf, ...), on the heap, which is copied
 * for the decoder to build the type from (godi_iface, GODI_SLOT_RTYPE). */
static __always_inline int godi_heap_rtype(__u64 addr)
{
	__u32 zero = 0;
	struct godi_config *cfg = godi_config.lookup(&zero);
	return cfg && addr && cfg->rtype_type && cfg->types_lo < cfg->types_hi &&
	       (addr < cfg->types_lo || addr >= cfg->types_hi);
}

/* An interface's value: what its data word points at, by its dynamic type; a
 * dynamic type the binary does not have is a descriptor on the heap: that is
 * copied instead (one enqueue either way: the verifier walks each copy of it). */
static __always_inline void godi_iface(struct godi_scratch *s, __u64 typ, __u64 data)
{
	if (!typ || s->cur_depth + 1 > s->max_depth)
		return;
	__u32 *target = godi_rtypes.lookup(&typ);
	__u64 addr = data;
	__u32 type = 0, n = 0;
	if (target) {
		type = *target;
		n = 1;
	} else if (godi_heap_rtype(typ)) {
		__u32 zero = 0;
		struct godi_config *cfg = godi_config.lookup(&zero);
		addr = typ;
		type = cfg ? cfg->rtype_type : 0;
		n = 1;
	}
	godi_enqueue(s, addr, type, n, s->cur_depth + 1);
}

/* How a byte of a map key counts, filled by capture (stages/redaction.py,
 * fold_table): `c` is the byte ASCII-lower-cased, `keep` 0 for the separators
 * `_ - $ @` and NUL, else 1. Table lookups instead of comparisons keep the
 * hashing loop free of branches, each of which the verifier would follow. */
struct godi_fold {
	__u8 c[256];
	__u8 keep[256];
};
BPF_ARRAY(godi_fold, struct godi_fold, 1);

/* Whether the map key `ptr[0:len]` names a redacted identifier: its first
 * GODI_KEY_READ bytes folded (ASCII lower-cased, `_ - $ @` dropped), hashed
 * (FNV-1a 64) and looked up in godi_redacted, which holds every folded spelling
 * of a key that decode's Unicode normalisation makes a redacted identifier. A key
 * that cannot be read, or longer than what is read while what was read is short
 * enough to still become a redacted name, counts as redacted: the value is never
 * copied when in doubt. */
static __always_inline int godi_key_redacted(struct godi_scratch *s, __u64 ptr, __u64 len)
{
	__u32 zero = 0;
	struct godi_config *cfg = godi_config.lookup(&zero);
	struct godi_fold *f = godi_fold.lookup(&zero);
	if (!cfg || !cfg->key_max || !len)
		return 0;
	if (!f)
		return 1;
	__u32 n = len < GODI_KEY_READ ? (__u32)len : GODI_KEY_READ;
	__u8 *key = &s->buf[GODI_TMP];
	/* Bytes past the key are NUL, which does not count. */
	__builtin_memset(key, 0, GODI_KEY_READ);
	if (godi_read_mem(key, n & (GODI_KEY_READ * 2 - 1), (void *)ptr))
		return 1;
	__u64 h = 0xcbf29ce484222325ULL;
	__u64 kept = 0;
#pragma nounroll
	for (__u32 i = 0; i < GODI_KEY_READ; i++) {
		__u8 b = key[i & (GODI_KEY_READ - 1)];
		__u64 keep = f->keep[b];
		/* FNV-1a on a kept byte; h ^ 0 times 1 on the others */
		h = (h ^ f->c[b]) * (1 + (0x100000001b3ULL - 1) * keep);
		kept += keep;
	}
	if (kept > cfg->key_max)
		return 0;
	if (len > GODI_KEY_READ)
		return 1;
	return godi_redacted.lookup(&h) != NULL;
}

/* A map entry's key guard: a redacted key's value is zeroed in the copy (so none
 * of its references is followed either) and its key marked for the decoder. */
static __always_inline void godi_guard_key(struct godi_scratch *s, struct godi_slot *slot,
					   __u32 elem, __u32 at, __u64 *words)
{
	if (!godi_key_redacted(s, words[0], words[1]))
		return;
	__u32 zero = 0;
	struct godi_zeros *z = godi_zero.lookup(&zero);
	__u32 size = slot->shift;
	__u8 *dst = &s->buf[(elem + slot->aux) & GODI_BUF_MASK];
	if (z && size && size < sizeof(z->z))
		bpf_probe_read_kernel(dst, size & (sizeof(z->z) - 1), z->z);
	else /* codegen keeps values under 256 bytes; a failed read zeroes them too */
		godi_read_user(dst, size & (sizeof(z->z) - 1), (void *)0);
	__u64 marked = words[1] | GODI_KEY_REDACTED;
	__builtin_memcpy(&s->buf[(at + 8) & GODI_BUF_MASK], &marked, 8);
}

/* Apply the key guards of one element of the block copied last (the walker's
 * step while `guarding`): nothing of the block is followed before every element
 * is guarded. */
static __always_inline void godi_guard_block(struct godi_scratch *s)
{
	__u32 type = s->cur_type;
	struct godi_type *t = godi_types.lookup(&type);
	if (!t || s->guard_elem >= s->cur_count) {
		s->guarding = 0;
		return;
	}
	__u32 elem = s->cur_data + s->guard_elem * t->size;
#pragma nounroll
	for (int g = 0; g < GODI_GUARDS; g++) {
		if (g >= t->n_guards)
			break;
		struct godi_slot *slot = &t->slots[g];
		if (elem + slot->offset + 16 > s->cur_end)
			continue; /* a key not read (nor its value, after it) */
		__u32 at = (elem + slot->offset) & GODI_BUF_MASK;
		__u64 words[2];
		__builtin_memcpy(words, &s->buf[at], 16);
		godi_guard_key(s, slot, elem, at, words);
	}
	s->guard_elem++;
	if (s->guard_elem >= s->cur_count)
		s->guarding = 0;
}

/* Follow one reference of the block being scanned. */
static __always_inline void godi_follow_slot(struct godi_scratch *s)
{
	__u32 type = s->cur_type;
	struct godi_type *t = godi_types.lookup(&type);
	if (!t || s->cur_slot >= t->n_slots || s->cur_slot >= GODI_MAX_SLOTS) {
		godi_scan_end(s, 0);
		return;
	}
	struct godi_slot *slot = &t->slots[s->cur_slot & (GODI_MAX_SLOTS - 1)];
	__u32 elem = s->cur_data + s->cur_elem * t->size;
	__u32 at = (elem + slot->offset) & GODI_BUF_MASK;
	__u64 words[2];
	__builtin_memcpy(words, &s->buf[at], 16);
	/* Past what a PARTIAL block holds: nothing to follow. A string, slice or
	 * interface is two words; the other kinds one (and a count at aux). Redacted
	 * bytes are zeroed whatever was read of them; an element's further slots
	 * and an array in it are scanned with the same end (in_event). */
	__u32 kind = slot->kind;
	__u32 width = kind == GODI_SLOT_STRING || kind == GODI_SLOT_SLICE ||
				      kind == GODI_SLOT_EFACE || kind == GODI_SLOT_IFACE ||
				      kind == GODI_SLOT_RTYPE
			      ? 16
			      : 8;
	if (kind == GODI_SLOT_ZERO || kind == GODI_SLOT_MORE || kind == GODI_SLOT_KEY_GUARD) {
		/* not bounded by the end */
	} else if (kind == GODI_SLOT_INLINE) {
		if (elem + slot->offset >= s->cur_end)
			kind = 0;
	} else if (elem + slot->offset + width > s->cur_end || elem + slot->aux + 8 > s->cur_end) {
		kind = 0;
	}
	switch (kind) {
	case GODI_SLOT_POINTER:
		if (s->cur_depth + 1 <= s->max_depth)
			godi_enqueue(s, words[0], slot->target, 1, s->cur_depth + 1);
		break;
	case GODI_SLOT_STRING: {
		__u64 len = words[1] & ~GODI_KEY_REDACTED; /* a guarded key's mark */
		__u64 n = len < s->max_len ? len : s->max_len;
		godi_enqueue(s, words[0], slot->target, (__u32)n, s->cur_depth);
		break;
	}
	case GODI_SLOT_SLICE: {
		__u64 n = words[1] < s->max_coll ? words[1] : s->max_coll;
		godi_enqueue(s, words[0], slot->target, (__u32)n, s->cur_depth);
		break;
	}
	case GODI_SLOT_REF:
		godi_enqueue(s, words[0], slot->target, 1, s->cur_depth);
		break;
	case GODI_SLOT_ARRAY_LOG2: {
		__u8 b = s->buf[(elem + slot->aux) & GODI_BUF_MASK];
		if (b >= slot->shift && b - slot->shift < 31) {
			__u64 n = 1ULL << (b - slot->shift);
			godi_enqueue(s, words[0], slot->target, godi_buckets(s, n), s->cur_depth);
		}
		break;
	}
	case GODI_SLOT_ARRAY_MASK: {
		__u64 mask = 0;
		__builtin_memcpy(&mask, &s->buf[(elem + slot->aux) & GODI_BUF_MASK], 8);
		godi_enqueue(s, words[0], slot->target, godi_buckets(s, mask + 1), s->cur_depth);
		break;
	}
	case GODI_SLOT_SWISS_SMALL:
	case GODI_SLOT_SWISS_DIR: {
		__u64 dir_len = 0;
		__builtin_memcpy(&dir_len, &s->buf[(elem + slot->aux) & GODI_BUF_MASK], 8);
		if (slot->kind == GODI_SLOT_SWISS_SMALL && dir_len == 0)
			godi_enqueue(s, words[0], slot->target, 1, s->cur_depth);
		else if (slot->kind == GODI_SLOT_SWISS_DIR && dir_len)
			godi_enqueue(s, words[0], slot->target, godi_buckets(s, dir_len),
				     s->cur_depth);
		break;
	}
	case GODI_SLOT_EFACE:
		godi_iface(s, words[0], words[1]);
		break;
	case GODI_SLOT_KEY_GUARD: /* applied by godi_guard_block */
		break;
	case GODI_SLOT_RTYPE: {
		/* A word of a heap descriptor (or of one of its fields), followed if
		 * the descriptor's kind (abi.Type.Kind_) has it there (`shift`). */
		__u8 rkind = s->buf[(elem + 23) & GODI_BUF_MASK] & 31;
		__u32 shift = slot->shift;
		__u32 n = 1;
		if (shift == GODI_RTYPE_FIELDS)
			n = rkind == 25 ? (words[1] < GODI_RFIELDS_MAX ? (__u32)words[1]
								   : GODI_RFIELDS_MAX)
					: 0;
		else if (!godi_heap_rtype(words[0]))
			n = 0;
		else if (shift == GODI_RTYPE_ELEM)
			n = rkind == 17 || rkind == 18 || rkind == 21 || rkind == 22 || rkind == 23;
		else if (shift == GODI_RTYPE_VALUE)
			n = rkind == 21;
		godi_enqueue(s, words[0], slot->target, n, s->cur_depth);
		break;
	}
	case GODI_SLOT_INLINE: /* an array in the element, at most maxCollectionSize of it */
		godi_enqueue_in_event(s, elem + slot->offset, slot->target,
				      slot->aux < s->max_coll ? slot->aux : s->max_coll);
		break;
	case GODI_SLOT_MORE: /* the element's further references */
		godi_enqueue_in_event(s, elem, slot->target, 1);
		break;
	case GODI_SLOT_ZERO: {
		__u32 zero = 0;
		struct godi_zeros *z = godi_zero.lookup(&zero);
		__u32 n = slot->shift;
		if (!z || !n || n > sizeof(z->z)) {
			godi_scan_end(s, 0); /* never: codegen cuts them to 256 bytes */
			return;
		}
		bpf_probe_read_kernel(&s->buf[at], n, z->z);
		break;
	}
	case GODI_SLOT_IFACE: {
		__u64 typ = 0;
		if (words[0]) {
			/* The itab is copied for the decoder, and read now for its type. */
			godi_enqueue(s, words[0], slot->target, 1, s->cur_depth);
			godi_read_mem(&typ, 8, (void *)(words[0] + 8));
		}
		godi_iface(s, typ, words[1]);
		break;
	}
	}
	s->cur_slot++;
	if (s->cur_slot >= t->n_slots) {
		s->cur_slot = 0;
		s->cur_elem++;
		if (s->cur_elem >= s->cur_count)
			godi_scan_end(s, 1);
	}
}

static __always_inline void godi_submit(struct pt_regs *ctx, struct godi_scratch *s)
{
	struct godi_event *e = godi_header(s);
	if (s->scanning || s->q_head != s->q_tail)
		e->flags |= GODI_EVENT_FLAG_TRUNCATED;
	__u32 len = s->len;
	if (len > GODI_MAX_EVENT - 1)
		len = GODI_MAX_EVENT - 1;
	e->data_len = len - sizeof(struct godi_event);
	struct godi_counter *c = godi_counter_of(s->probe);
	/* Wake the reader only every GODI_WAKEUP_BYTES of this CPU's events (the
	 * reader also polls on a timer). A wakeup per event costs more than the
	 * capture itself, and a reader that keeps up event by event costs the
	 * producer cache misses on every record and on the consumer position.
	 * (BCC 0.26 cannot pass the ring to bpf_ringbuf_query.) */
	__u64 flags = BPF_RB_NO_WAKEUP;
	s->unwoken += len;
	if (s->unwoken >= GODI_WAKEUP_BYTES) {
		s->unwoken = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	int err = godi_events.ringbuf_output(&s->buf[0], len & GODI_BUF_MASK, flags);
	if (err) {
		if (c)
			c->dropped++;
	} else if (c) {
		c->emitted++;
		if (e->flags & GODI_EVENT_FLAG_TRUNCATED)
			c->truncated++;
	}
	godi_release(s);
}

/* Out of steps before the keys of the last block copied were checked, or its
 * redacted bytes zeroed: that block is left out, never sent unguarded. */
static __always_inline void godi_drop_unguarded(struct godi_scratch *s)
{
	if (s->zeroing)
		godi_scan_end(s, 0);
	if (s->guarding) {
		s->guarding = 0;
		s->scanning = 0;
		s->len = s->guard_block;
		godi_header(s)->flags |= GODI_EVENT_FLAG_TRUNCATED;
	}
}

/* One step of the walk: guard one element of the block copied last, else follow
 * one reference of the block being scanned, else copy the next queued block.
 * Returns 1 when there is nothing left to do (bpf_loop stops). */
static __always_inline long godi_step(struct godi_scratch *s)
{
	if (s->guarding)
		godi_guard_block(s); /* before anything of the block is followed */
	else if (s->scanning)
		godi_follow_slot(s);
	else if (s->q_head != s->q_tail)
		godi_copy_next(s);
	else
		return 1;
	return 0;
}

/* The body of godi_walk_step, bpf_loop's callback: one step on this CPU's
 * scratch area (which godi_walk has claimed). BCC only loads programs defined in
 * the main file, so the generated file defines godi_walk_step() and godi_walk()
 * as calls to these. */
static __always_inline long godi_walk_step_run(void)
{
#ifdef GODI_STEP_STACK_PAD
	/* Fault injection (tests): a step that takes this many bytes more stack. */
	__u8 pad[GODI_STEP_STACK_PAD];
	bpf_get_current_comm(pad, sizeof(pad)); /* writes all of it: it stays on the stack */
	if (pad[GODI_STEP_STACK_PAD - 1] == 0x7f)
		return 1;
#endif
	__u32 cpu = bpf_get_smp_processor_id();
	struct godi_scratch *s = godi_scratch.lookup(&cpu);
	if (!s)
		return 1;
	return godi_step(s);
}

/* The walker: up to GODI_MAX_STEPS steps in one bpf_loop, each a call of
 * godi_walk_step, whose code the verifier checks once; the loop ends at the first
 * step that finds nothing to do, so a small value costs a few steps. Whatever is
 * left then (steps, queue or event size exhausted) makes the event truncated. */
static __always_inline void godi_walk_here(struct pt_regs *ctx, struct godi_scratch *s)
{
	bpf_loop(GODI_MAX_STEPS, (void *)GODI_STEP_MARKER, NULL, 0);
	godi_drop_unguarded(s);
	godi_submit(ctx, s);
}

/* The tail-called walker (kernels without uprobe_multi links, whose per-probe
 * programs are not sleepable). */
static __always_inline int godi_walk_run(struct pt_regs *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct godi_scratch *s = godi_scratch.lookup(&cpu);
	if (!s)
		return 0;
	godi_walk_here(ctx, s);
	return 0;
}

#endif /* GODI_H */
