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
#define BLOCK_FLAG_PARTIAL 4 /* the head of one more element follows the count */
#define BYTES_TYPE 0
#define KEY_REDACTED (1ULL << 63) /* a guarded map key's mark in its length word */

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
	K_ADDRESS, /* values._compile_unsafe_pointer (_runtime.c) */
	K_FUNC,    /* runtime_values.compile_func (_runtime.c) */
	K_IFACE,   /* runtime_values.compile_interface (_runtime.c) */
	K_MAP,     /* runtime_values.compile_map, swiss tables (_runtime.c) */
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
	Py_ssize_t elem;   /* K_ARRAY, K_SLICE: elements; K_POINTER: pointee; K_MAP: keys */
	Py_ssize_t value;  /* K_MAP: values */
	Py_ssize_t count;  /* K_ARRAY */
	Py_ssize_t stride; /* K_ARRAY, K_SLICE */
	uint32_t *capture; /* capture types whose blocks hold the elements or pointee */
	Py_ssize_t ncapture;
	long long elem_id; /* K_POINTER: the resolved pointee type, on the path;
			      K_SLICE: its data's path key type, 0: none; K_MAP: its
			      data's path key type (values.path_key) */
	long long levels;  /* K_POINTER, K_SLICE, K_MAP: JSON levels its hop adds
			      (values.levels) */
	int nested, zero_size;
	Py_ssize_t skip;   /* K_POINTER: bytes of the pointee's head */
	/* _runtime.c's kinds */
	long long ix;      /* K_FUNC: the code capture type; K_IFACE: itab; K_MAP: header;
			      -1: none */
	int empty;         /* K_IFACE: interface {} (no itab) */
	PyObject *cache;   /* K_FUNC: pc -> text; K_MAP: key text -> redacted */
	PyObject *call;    /* K_FUNC: pc -> text; K_MAP: key text -> redacted */
	struct MapSpec *map; /* K_MAP */
} Node;

/* The dynamic type of an interface, by its runtime type descriptor (_runtime.c). */
typedef struct {
	Py_ssize_t node;
	int direct;        /* abi.direct_iface: the data word is the value */
	uint32_t *capture; /* capture types holding its values */
	Py_ssize_t ncapture;
	Text unavailable;
	long long type;    /* its resolved IR type: the path key of its value */
	long long levels;  /* JSON levels the interface's hop to it adds */
	int pointer;       /* direct, its abi.direct_leaf a pointer or unsafe.Pointer:
			    * the interface's hop reaches its pointee, no level more */
	int zero;          /* zero-size: rendered from no bytes (its data word points
			    * at runtime.zerobase, which the walker does not copy) */
} Dyn;

/* Nodes live in chunks that never move: a walk holds node pointers while Python
 * may add nodes (an interface's dynamic type met for the first time). */
#define NODE_CHUNK 256

typedef struct {
	PyObject_HEAD
	Node **chunks;
	Py_ssize_t n, nchunks;
	PyObject *keep;    /* the bytes objects the nodes' texts point into */
	PyObject *dynamic; /* descriptor -> None or (node, direct, capture types, text) */
	PyObject *dyn_index; /* dict: descriptor -> index in dyns, or None */
	PyObject *heap;    /* (descriptor, head, payload, blocks, deep) -> text or None:
			    * heaptypes.HeapTypes.interface, for a type reflect made */
	Dyn *dyns;
	Py_ssize_t ndyns, capdyns;
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

static inline Node *node_at(const Renderer *r, Py_ssize_t i)
{
	return &r->chunks[i / NODE_CHUNK][i % NODE_CHUNK];
}

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
GODI_INTERNAL const Entry *bi_find(const BlockIndex *bi, uint64_t addr, uint32_t type);
GODI_INTERNAL int overrun(Py_ssize_t off, Py_ssize_t size, const Buf *b);
GODI_INTERNAL int render(Walk *w, Py_ssize_t node, const Buf *b, Py_ssize_t off,
			 long long depth);
GODI_INTERNAL Py_ssize_t address_text(char *buf, uint64_t addr);
GODI_INTERNAL int take_capture(Node *nd, PyObject *seq);
/* The JSON levels the hops of one path may reach: values.MAX_LEVELS. */
#define GODI_MAX_LEVELS 256
/* ctx.path: whether (addr, type) is on it; put on it, with the levels its hop
 * adds to ctx.levels, while what it reaches renders (path_pop after). */
GODI_INTERNAL int path_has(const Walk *w, uint64_t addr, long long type);
GODI_INTERNAL int path_push(Walk *w, uint64_t addr, long long type, long long levels);
GODI_INTERNAL void path_pop(Walk *w, long long levels);

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

/* _runtime.c */
GODI_INTERNAL int take_runtime_node(Renderer *r, Node *nd, PyObject *rest);
GODI_INTERNAL void runtime_node_clear(Node *nd);
GODI_INTERNAL int render_runtime(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off,
				 long long depth);
GODI_INTERNAL void dyns_clear(Renderer *r);

/* _snapshots.c */
GODI_INTERNAL extern PyTypeObject SnapshotsType;
/* crc32(data, crc=0): the CRC-32 the dump records carry, as zlib.crc32 (tests). */
GODI_INTERNAL PyObject *crc32_function(PyObject *self, PyObject *args);

/* _summary.c */
GODI_INTERNAL extern PyTypeObject SummariesType;
/* The message summary of a value text appended to o, escaped for a JSON string:
 * 0, 1 declined (o unchanged but for what it may have appended: the caller cuts
 * it), -1 error. */
GODI_INTERNAL int summary_into(PyObject *summaries, Py_ssize_t node, const char *text,
			       Py_ssize_t n, Walk *o);

#endif /* GODI_RENDER_H */
