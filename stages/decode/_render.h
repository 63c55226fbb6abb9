/* Declarations shared by the decode extension's C files: _render.c (block index,
 * value renderer) and _snapshots.c (whole snapshots of simple probes). */

#ifndef GODI_RENDER_H
#define GODI_RENDER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Functions one file of the extension calls in the other. */
#define GODI_INTERNAL __attribute__((visibility("hidden")))

/* mirrors stages/layout.py (bpf/godi_event.h) */
#define BLOCK_HEADER_SIZE 24
#define BLOCK_FLAG_READ_FAILED 1
#define BLOCK_FLAG_SHORT 2
#define BYTES_TYPE 0

/* Node kinds (exported to native.py). */
enum {
	K_CONST,   /* always the same text (redacted) */
	K_BOOL,    /* values.ValueRenderer._compile_base, bool */
	K_INT,     /* _compile_base, int kinds: decimal */
	K_CACHED,  /* _compile_base, other kinds with a raw format: Python's cache */
	K_STRING,  /* _compile_string */
	K_STRUCT,  /* _compile_struct */
	K_ARRAY,   /* _compile_array */
	K_SLICE,   /* _compile_slice */
	K_POINTER, /* _compile_pointer */
	K_PYTHON,  /* anything else: the Python renderer */
};

static inline const unsigned char *read_le(const unsigned char *p, int size, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = size - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	*out = v;
	return p + size;
}

typedef struct {
	uint64_t addr;
	Py_ssize_t start;
	Py_ssize_t end;
	uint32_t type;
	uint32_t count;
	uint32_t flags;
} Entry;

typedef struct {
	PyObject_HEAD
	Entry *entries; /* in the order first seen, as a dict keeps them */
	Py_ssize_t n, cap;
	int32_t *slots; /* open addressing: entry index + 1, 0 = empty */
	size_t mask;
} BlockIndex;

typedef struct {
	const char *s;
	Py_ssize_t n;
} Text;

typedef struct {
	Text key;         /* "name": */
	Py_ssize_t offset;
	Py_ssize_t node;  /* -1: the constant text */
	Text constant;
} FieldSpec;

typedef struct {
	int kind;
	Py_ssize_t size;
	Text head;       /* {"type":"T" */
	Text a, b;       /* K_CONST: text; K_BOOL: true, false; K_INT: {"type":"T","value":" */
	int is_signed;
	PyObject *seen;  /* K_CACHED: the Python renderer's cache, and its miss() */
	PyObject *miss;
	PyObject *compile; /* K_PYTHON: ValueRenderer.renderer, and its result */
	PyObject *type_id;
	PyObject *fn;
	FieldSpec *fields;
	Py_ssize_t nfields;
	Py_ssize_t elem;   /* K_ARRAY, K_SLICE: elements; K_POINTER: pointee */
	Py_ssize_t count;  /* K_ARRAY */
	Py_ssize_t stride; /* K_ARRAY, K_SLICE */
	uint32_t *capture; /* capture types whose blocks hold the elements or pointee */
	Py_ssize_t ncapture;
	long long elem_id; /* K_POINTER: the resolved pointee type, on the path;
			      K_SLICE: its data's path key type, 0: none */
	long long levels;  /* K_POINTER, K_SLICE: JSON levels its hop adds (values.levels) */
	int nested, zero_size;
	Py_ssize_t skip;   /* K_POINTER: bytes of the pointee's head */
} Node;

typedef struct {
	PyObject_HEAD
	Node *nodes;
	Py_ssize_t n, cap;
	PyObject *keep;    /* the bytes objects the nodes' texts point into */
	Text *reasons;     /* ,"notCapturedReason":"..." of every reason */
	Py_ssize_t nreasons;
} Renderer;

typedef struct {
	uint64_t addr;
	long long type;
} PathEntry;

typedef struct {
	PyObject *obj; /* bytes: the payload, or b"" for a zero-size pointee */
	const unsigned char *p;
	Py_ssize_t len;
} Buf;

typedef struct {
	Renderer *r;
	PyObject *ctx; /* the RenderContext, for Python renderers; NULL: made on demand */
	PyObject *(*make_ctx)(void *arg); /* makes it (a new reference) */
	void *ctx_arg;
	int own_ctx;  /* ctx was made here: released by walk_end */
	Buf payload;
	PyObject *blocks_obj;
	const BlockIndex *blocks; /* NULL: no blocks */
	long long max_depth, max_collection, max_length, max_fields;
	int missing;
	PathEntry *path;
	Py_ssize_t npath, cappath;
	long long levels; /* ctx.levels: the JSON levels of the hops on the path */
	char *out; /* stack, or on the heap once grown */
	Py_ssize_t len, cap;
	char stack[1024];
} Walk;

/* Capture type sizes, by index: a Python list of ints, or a C array. */
typedef struct {
	PyObject *list;
	const long long *array;
	Py_ssize_t n;
} Sizes;

/* _render.c */
GODI_INTERNAL extern PyTypeObject BlockIndexType;
GODI_INTERNAL extern PyTypeObject RendererType;
GODI_INTERNAL extern PyObject *empty_bytes;
GODI_INTERNAL BlockIndex *block_index_new(void);
GODI_INTERNAL int block_index_fill(BlockIndex *bi, const unsigned char *p, Py_ssize_t total,
				   Py_ssize_t pos, const Sizes *sizes, uint32_t *any_flags);
GODI_INTERNAL void walk_start(Walk *w, Renderer *r, PyObject *payload, PyObject *blocks,
			      const long long limits[4]);
GODI_INTERNAL int walk_render(Walk *w, Py_ssize_t node, Py_ssize_t offset);
GODI_INTERNAL void walk_end(Walk *w);
GODI_INTERNAL int grow(Walk *w, Py_ssize_t more);
GODI_INTERNAL int put_u64(Walk *w, uint64_t v);
GODI_INTERNAL int put_escaped(Walk *w, const unsigned char *s, Py_ssize_t n);
GODI_INTERNAL int put_str(Walk *w, PyObject *text);
GODI_INTERNAL int keep_text(PyObject *keep, PyObject *obj, Text *t);

/* Room for more bytes in a walk's output. */
static inline int ensure(Walk *w, Py_ssize_t more)
{
	return w->len + more > w->cap ? grow(w, more) : 0;
}

static inline int put(Walk *w, const char *s, Py_ssize_t n)
{
	if (ensure(w, n) < 0)
		return -1;
	memcpy(w->out + w->len, s, (size_t)n);
	w->len += n;
	return 0;
}

#define PUT_LIT(w, lit) put((w), (lit), (Py_ssize_t)(sizeof(lit) - 1))
#define PUT_TEXT(w, t) put((w), (t).s, (t).n)

/* _snapshots.c */
GODI_INTERNAL extern PyTypeObject SnapshotsType;

/* _summary.c */
GODI_INTERNAL extern PyTypeObject SummariesType;
/* The message summary of a value text appended to o, escaped for a JSON string:
 * 0, 1 declined (o unchanged but for what it may have appended: the caller cuts
 * it), -1 error. */
GODI_INTERNAL int summary_into(PyObject *summaries, Py_ssize_t node, const char *text,
			       Py_ssize_t n, Walk *o);

#endif /* GODI_RENDER_H */
