/* The floor of a snapshot probe's BPF work, for scripts/bench_capture.py only.
 *
 * Attached where godi attaches a probe on a function (cookie 0: the entry,
 * cookie 1: a return), it does what any capture of that call must do and nothing
 * else: at the entry, read the goroutine (runtime.g at R14: its id and the top of
 * its stack) and the goroutine stack above the frame (for the stack trace); at
 * every hit, take the time and put an event of godi's size in a ring buffer. It
 * keeps no state and checks nothing: the benchmark compares godi with it to tell
 * godi's own cost from the cost of the kernel operations it cannot avoid.
 *
 * Event: u64 time, u64 pid_tgid; at an entry also u64 stack.hi, u64 bytes of
 * stack read, s64 result of that read, u64 the return address (from the copy).
 */
#include <uapi/linux/ptrace.h>

#define FLOOR_G_SPAN 160     /* runtime.g from stack.hi to goid, in one read (godi: two) */
#define FLOOR_WINDOW 2048    /* bytes of goroutine stack godi copies at most */
#define FLOOR_ENTRY_BYTES 120 /* a 3-scalar entry event with a 4-frame stack */
#define FLOOR_RETURN_BYTES 72 /* its return event: one result */

struct floor_scratch {
	__u8 event[256];
	__u8 window[2 * FLOOR_WINDOW];
};

BPF_RINGBUF_OUTPUT(floor_events, 1024);
BPF_ARRAY(floor_scratch, struct floor_scratch, 64);

static long (*floor_read_user)(void *dst, __u32 size, const void *unsafe_ptr) =
	(void *)BPF_FUNC_probe_read_user;

int floor_hit(struct pt_regs *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct floor_scratch *s = floor_scratch.lookup(&cpu);
	if (!s)
		return 0;
	struct pt_regs regs;
	__builtin_memcpy(&regs, ctx, sizeof(regs));
	__u64 id = bpf_get_current_pid_tgid();
	__u32 size = FLOOR_RETURN_BYTES;
	if (bpf_get_attach_cookie(ctx) == 0) {
		__u8 g[FLOOR_G_SPAN];
		__u64 stack_hi = 0;
		if (!floor_read_user(g, sizeof(g), (void *)regs.r14))
			__builtin_memcpy(&stack_hi, &g[8], 8);
		__u64 base = regs.sp - 8;
		__u64 len = stack_hi > base ? stack_hi - base : FLOOR_WINDOW;
		if (len > FLOOR_WINDOW)
			len = FLOOR_WINDOW;
		__s64 err = floor_read_user(s->window, len & (2 * FLOOR_WINDOW - 1), (void *)base);
		/* What was read, so that a test can see the floor does its work. */
		__builtin_memcpy(&s->event[16], &stack_hi, 8);
		__builtin_memcpy(&s->event[24], &len, 8);
		__builtin_memcpy(&s->event[32], &err, 8);
		__builtin_memcpy(&s->event[40], &s->window[8], 8); /* the return address */
		size = FLOOR_ENTRY_BYTES;
	}
	__u64 now = bpf_ktime_get_ns();
	__builtin_memcpy(&s->event[0], &now, 8);
	__builtin_memcpy(&s->event[8], &id, 8);
	floor_events.ringbuf_output(&s->event[0], size, BPF_RB_NO_WAKEUP);
	return 0;
}
