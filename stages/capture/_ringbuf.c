/* The capture reader: a BPF ring buffer drained straight into dump records.
 *
 * BCC's reader calls back into Python once per event (a ctypes callback, then
 * ct.string_at, then the dump writer): microseconds of CPU per event, on the
 * other vCPU of a machine whose probed loop costs ~10 us per call. Here the ring
 * is mapped and drained in C, each event framed as a dump EVENT record (u32 kind,
 * u32 length, payload; see stages/dump.py) into one bytes object per drain, so
 * Python runs once per poll, not once per event.
 *
 * Ring buffer protocol (kernel/bpf/ringbuf.c, the uapi BPF_RINGBUF_* bits): the
 * consumer position is at offset 0 of the map (one writable page), the producer
 * position at the next page, followed by the data area mapped twice so a record
 * that wraps reads contiguously. Each record starts with an 8-byte header: u32
 * length with BUSY (still being written) and DISCARD bits, u32 page offset; the
 * payload follows; records are 8-byte aligned. The consumer position is published
 * with a release store once records are copied.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../_crc32.h"

#define RECORD_EVENT 1
/* mirrors stages/dump.py: sync marker, u32 kind, u32 length, u32 CRC-32 (zlib's
 * polynomial, of kind, length and payload) */
#define FRAME 16
static const uint8_t SYNC[4] = {0xd7, 'G', 'D', 'R'};
#define PUBLISH_EVERY (64 * 1024)

typedef struct {
	PyObject_HEAD
	int map_fd;
	int epoll_fd;
	size_t page;
	size_t size; /* data area bytes (max_entries): a power of 2 */
	unsigned long *consumer;
	unsigned long *producer;
	const uint8_t *data;
	long long limit; /* events to keep (-1: all); later ones are consumed unkept */
	long long kept;
	long long discarded;
	long long over_limit;
} RingReader;

static int map_info(int fd, struct bpf_map_info *info)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	memset(info, 0, sizeof(*info));
	attr.info.bpf_fd = fd;
	attr.info.info_len = sizeof(*info);
	attr.info.info = (uint64_t)(uintptr_t)info;
	return (int)syscall(__NR_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof(attr));
}

static void unmap(RingReader *self)
{
	if (self->consumer) {
		munmap(self->consumer, self->page);
		self->consumer = NULL;
	}
	if (self->producer) {
		munmap(self->producer, self->page + 2 * self->size);
		self->producer = NULL;
		self->data = NULL;
	}
	if (self->epoll_fd >= 0) {
		close(self->epoll_fd);
		self->epoll_fd = -1;
	}
}

static int RingReader_init(RingReader *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"map_fd", "limit", NULL};
	int fd;
	long long limit = -1;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|L", kwlist, &fd, &limit))
		return -1;
	unmap(self);
	self->map_fd = fd;
	self->limit = limit;
	self->kept = self->discarded = self->over_limit = 0;

	struct bpf_map_info info;
	if (map_info(fd, &info) < 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	if (info.type != BPF_MAP_TYPE_RINGBUF) {
		PyErr_Format(PyExc_ValueError, "map fd %d is not a ring buffer (type %u)", fd,
			     info.type);
		return -1;
	}
	self->page = (size_t)sysconf(_SC_PAGESIZE);
	self->size = info.max_entries;
	void *c = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED) {
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	self->consumer = c;
	void *p = mmap(NULL, self->page + 2 * self->size, PROT_READ, MAP_SHARED, fd,
		       (off_t)self->page);
	if (p == MAP_FAILED) {
		PyErr_SetFromErrno(PyExc_OSError);
		unmap(self);
		return -1;
	}
	self->producer = p;
	self->data = (const uint8_t *)p + self->page;

	self->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	if (self->epoll_fd < 0 || epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		unmap(self);
		return -1;
	}
	return 0;
}

static PyObject *RingReader_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	(void)args;
	(void)kwds;
	RingReader *self = (RingReader *)type->tp_alloc(type, 0);
	if (self)
		self->epoll_fd = self->map_fd = -1;
	return (PyObject *)self;
}

static void RingReader_dealloc(RingReader *self)
{
	unmap(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Grow *buf (a bytearray-like growing buffer) to hold at least need bytes. */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 65536;
	while (n < need)
		n *= 2;
	uint8_t *b = PyMem_Realloc(*buf, n);
	if (!b) {
		PyErr_NoMemory();
		return -1;
	}
	*buf = b;
	*cap = n;
	return 0;
}

/* Copy every committed record into framed dump records; advance the consumer.
 * At most one ring's worth per call, so a producer faster than this cannot keep
 * it (and the GIL) forever. The consumer position is published every
 * PUBLISH_EVERY bytes, not per record: producers read it on every reserve, and
 * each store costs them a cache miss. */
static PyObject *drain(RingReader *self)
{
	if (!self->data) {
		PyErr_SetString(PyExc_ValueError, "ring reader is closed");
		return NULL;
	}
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0;
	size_t mask = self->size - 1;
	unsigned long cons = __atomic_load_n(self->consumer, __ATOMIC_ACQUIRE);
	unsigned long published = cons;
	unsigned long end = cons + self->size;
	while (cons < end) {
		unsigned long prod = __atomic_load_n(self->producer, __ATOMIC_ACQUIRE);
		if (prod > end)
			prod = end;
		if (cons >= prod)
			break;
		while (cons < prod) {
			const uint32_t *hdr = (const uint32_t *)(self->data + (cons & mask));
			uint32_t word = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
			if (word & BPF_RINGBUF_BUSY_BIT)
				goto done; /* still being written: the next drain takes it */
			uint32_t n = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			if (word & BPF_RINGBUF_DISCARD_BIT) {
				self->discarded++;
			} else if (self->limit >= 0 && self->kept >= self->limit) {
				self->over_limit++;
			} else {
				if (reserve(&buf, &cap, len + FRAME + n) < 0)
					goto fail;
				uint32_t kl[2] = {RECORD_EVENT, n};
				uint8_t *rec = buf + len;
				memcpy(rec, SYNC, 4);
				memcpy(rec + 4, kl, 8);
				memcpy(rec + FRAME, (const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ, n);
				uint32_t crc = godi_crc32(godi_crc32(0, rec + 4, 8), rec + FRAME, n);
				memcpy(rec + 12, &crc, 4);
				len += FRAME + n;
				self->kept++;
			}
			cons += (n + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
			if (cons - published >= PUBLISH_EVERY) {
				__atomic_store_n(self->consumer, cons, __ATOMIC_RELEASE);
				published = cons;
			}
		}
	}
done:
	if (cons != published)
		__atomic_store_n(self->consumer, cons, __ATOMIC_RELEASE);
	PyObject *out = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
	PyMem_Free(buf);
	return out;
fail:
	PyMem_Free(buf);
	return NULL;
}

static PyObject *RingReader_drain(RingReader *self, PyObject *Py_UNUSED(ignored))
{
	return drain(self);
}

static PyObject *RingReader_poll(RingReader *self, PyObject *args)
{
	int timeout_ms;
	if (!PyArg_ParseTuple(args, "i", &timeout_ms))
		return NULL;
	if (self->epoll_fd < 0) {
		PyErr_SetString(PyExc_ValueError, "ring reader is closed");
		return NULL;
	}
	struct epoll_event ev;
	int r;
	Py_BEGIN_ALLOW_THREADS
	r = epoll_wait(self->epoll_fd, &ev, 1, timeout_ms);
	Py_END_ALLOW_THREADS
	if (r < 0 && errno != EINTR)
		return PyErr_SetFromErrno(PyExc_OSError);
	if (r < 0 && PyErr_CheckSignals() < 0)
		return NULL;
	return drain(self);
}

static PyObject *RingReader_close(RingReader *self, PyObject *Py_UNUSED(ignored))
{
	unmap(self);
	Py_RETURN_NONE;
}

static PyMethodDef RingReader_methods[] = {
	{"poll", (PyCFunction)RingReader_poll, METH_VARARGS,
	 "poll(timeout_ms) -> bytes: wait up to timeout_ms for a wakeup, then drain."},
	{"drain", (PyCFunction)RingReader_drain, METH_NOARGS,
	 "drain() -> bytes: every committed event, as framed dump EVENT records."},
	{"close", (PyCFunction)RingReader_close, METH_NOARGS, "Unmap the ring buffer."},
	{NULL, NULL, 0, NULL},
};

static PyMemberDef RingReader_members[] = {
	{"kept", T_LONGLONG, offsetof(RingReader, kept), READONLY,
	 "Events returned so far."},
	{"over_limit", T_LONGLONG, offsetof(RingReader, over_limit), READONLY,
	 "Events consumed but not returned: the limit was reached."},
	{"discarded", T_LONGLONG, offsetof(RingReader, discarded), READONLY,
	 "Records the BPF side discarded."},
	{"size", T_PYSSIZET, offsetof(RingReader, size), READONLY,
	 "Bytes of the ring's data area."},
	{NULL, 0, 0, 0, NULL},
};

static PyTypeObject RingReaderType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages.capture._ringbuf.RingReader",
	.tp_doc = PyDoc_STR("RingReader(map_fd, limit=-1): drains a BPF ring buffer into "
			    "dump EVENT records, keeping at most limit events (-1: all)."),
	.tp_basicsize = sizeof(RingReader),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = RingReader_new,
	.tp_init = (initproc)RingReader_init,
	.tp_dealloc = (destructor)RingReader_dealloc,
	.tp_methods = RingReader_methods,
	.tp_members = RingReader_members,
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "stages.capture._ringbuf",
	.m_doc = PyDoc_STR("A BPF ring buffer drained into dump records, in C."),
	.m_size = -1,
};

PyMODINIT_FUNC PyInit__ringbuf(void)
{
	if (PyType_Ready(&RingReaderType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	Py_INCREF(&RingReaderType);
	if (PyModule_AddObject(m, "RingReader", (PyObject *)&RingReaderType) < 0) {
		Py_DECREF(&RingReaderType);
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
