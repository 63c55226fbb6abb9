/* The binary record of one probe hit, shared by the BPF side and the decoder
 * (stages/layout.py mirrors these sizes; tests/test_layout_abi.py checks them).
 *
 * An event is:   struct godi_event
 *                root bytes[root_len], zero-padded to a multiple of 8
 *                u64 pc[stack_len]            (innermost first)
 *                blocks until data_len:        struct godi_block + bytes[len],
 *                                              each padded to a multiple of 8
 * The root area holds the captured variables, assembled from their DWARF pieces;
 * a block is `count` elements of capture type `type` copied from address `addr`.
 */
#ifndef GODI_EVENT_H
#define GODI_EVENT_H

#ifdef GODI_USERSPACE /* compiled outside BCC, e.g. by the layout ABI test */
#include <stdint.h>
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
#endif

#define GODI_EVENT_FLAG_TRUNCATED 1
#define GODI_EVENT_FLAG_STACK_TRUNCATED 2
#define GODI_EVENT_FLAG_FLOATS_ASKED 4 /* a struct godi_floats should follow */
#define GODI_EVENT_FLAG_FLOATS_REFUSED 8 /* not signalled: the program wants SIGURG */

#define GODI_FLOATS_PROBE_BIT 0x80000000U /* in godi_event.probe of a godi_floats */
#define GODI_FLOATS_OK 0
#define GODI_FLOATS_PC_MISMATCH 1
#define GODI_FLOATS_READ_FAILED 2
#define GODI_FLOATS_SP_MISMATCH 3

#define GODI_BLOCK_FLAG_READ_FAILED 1
#define GODI_BLOCK_FLAG_SHORT 2
#define GODI_BLOCK_FLAG_PARTIAL 4 /* len = count * size + the head of one more element */

#define GODI_SLOT_POINTER 1
#define GODI_SLOT_STRING 2
#define GODI_SLOT_SLICE 3
#define GODI_SLOT_REF 4
#define GODI_SLOT_ARRAY_LOG2 5
#define GODI_SLOT_ARRAY_MASK 6
#define GODI_SLOT_SWISS_SMALL 7
#define GODI_SLOT_SWISS_DIR 8
#define GODI_SLOT_EFACE 9
#define GODI_SLOT_IFACE 10
/* A map entry's string key (at `offset`) checked against the redaction set before
 * anything of its value is followed: a redacted key's value (`shift` bytes at
 * `aux`) is zeroed in the copy and GODI_KEY_REDACTED is set in the key's length. */
#define GODI_SLOT_KEY_GUARD 11
/* [N]T inside the element at `offset`: its first `aux` elements (at most
 * maxCollectionSize) of capture type `target`, already in the event, scanned in place. */
#define GODI_SLOT_INLINE 13
/* The element's further references: capture type `target`'s slots over the same
 * element (an element with more than GODI_MAX_SLOTS references). */
#define GODI_SLOT_MORE 14
/* A word of a runtime type descriptor reflect made on the heap (GODI_RTYPE_COPY
 * bytes of it are copied), or of one of its struct fields, pointing at what the
 * decoder needs to build the type from: copied as capture type `target` if the
 * descriptor's kind has it there (`shift`: GODI_RTYPE_*), a descriptor only when
 * outside the binary's. */
#define GODI_SLOT_RTYPE 15
#define GODI_RTYPE_ELEM 0   /* at 48: a pointer's, slice's, array's, chan's element; a map's key */
#define GODI_RTYPE_VALUE 1  /* at 56: a map's value */
#define GODI_RTYPE_FIELDS 2 /* at 56: a struct's fields (pointer, length), at most GODI_RFIELDS_MAX */
#define GODI_RTYPE_ANY 3    /* a struct field's type (abi.StructField.Typ), whatever the kind */
#define GODI_RTYPE_COPY 80
#define GODI_RFIELDS_MAX 64
#define GODI_KEY_REDACTED (1ULL << 63)
/* Redacted bytes inline in an element (a field named like a secret, a value of a
 * redacted type): `shift` bytes (at most 256) at `offset`, zeroed in the copy
 * before anything of the element is followed or the record is sent. */
#define GODI_SLOT_ZERO 12

struct godi_event {
	__u32 probe;     /* index of the probe in layout.json */
	__u32 data_len;  /* bytes following this header */
	__u64 ktime_ns;  /* bpf_ktime_get_ns() at the hit */
	__u64 goid;      /* goroutine id, 0 if unknown */
	__u32 tgid;
	__u32 tid;
	__u32 root_len;  /* bytes of root data (before padding) */
	__u16 stack_len; /* number of program counters */
	__u16 flags;     /* GODI_EVENT_FLAG_* */
	__u64 fail_mask; /* bit i: reading root piece i from memory failed */
	__u64 cfa;       /* canonical frame address of the probed frame */
	__u64 stack_hi;  /* top of the goroutine's stack: stack_hi - cfa survives stack moves */
};

struct godi_block {
	__u64 addr;
	__u32 type;  /* capture type index */
	__u32 count; /* elements copied */
	__u32 len;   /* bytes of data following (before padding) */
	__u32 flags; /* GODI_BLOCK_FLAG_* */
};

/* The vector registers of one captured hit, read from the signal frame the
 * runtime's handler got (stages/floats.py). `head` repeats the hit's tid, tgid
 * and ktime_ns (the token) and has probe = hit's probe | GODI_FLOATS_PROBE_BIT;
 * data_len covers the fields after it. */
struct godi_floats {
	struct godi_event head;
	__u32 status;   /* GODI_FLOATS_* */
	__u32 mask;     /* bit n: xmm[n] was asked for */
	__u64 rip;      /* the interrupted PC in the signal frame */
	__u64 expected; /* the PC after the probed instruction */
	__u64 xmm[16];  /* low 8 bytes of XMM0..XMM15 (0 unless status is OK) */
};

#endif /* GODI_EVENT_H */
