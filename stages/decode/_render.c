/* The decode fast path: an event's blocks indexed, and whole value trees rendered
 * to JSON text, in C.
 *
 * The Python code is the reference; every part here mirrors a Python function and
 * says which. Python stays in charge of everything but the loops:
 *
 * - index_blocks() mirrors events._parse_blocks: it indexes the blocks into a
 *   BlockIndex (a read-only mapping (address, capture type index) -> Block tuple,
 *   the "keep the better block" rule applied), or returns None where
 *   _parse_blocks raises, so that Python raises the same DecodeError.
 * - Renderer holds a table of nodes, one per IR type, built by
 *   stages/decode/native.py from the ValueRenderer: the texts that do not depend
 *   on the event (heads, keys, constants) are worked out there. Renderer.value()
 *   and Renderer.scope() mirror VariablePlan.text and the scope's generated group:
 *   bools, ints, strings, structs, arrays, slices and pointers are rendered here;
 *   floats, uintptrs and complex64 take their text from the Python renderer's
 *   cache (a miss calls its formatter); funcs, interfaces, swiss-table maps and
 *   unsafe.Pointer are rendered in _runtime.c; every other kind ("python"
 *   nodes) calls the Python renderer of its type and splices its text in. They
 *   decline (return None, and Python renders) an event whose blocks were not
 *   indexed here, or a context with a negative limit. Holes the layout fixes are
 *   in a variable's nodes (native.py); holes from failed reads never come here.
 *
 * Nothing read from the event is trusted: every read is checked against the
 * buffer, every count is clamped by the limits and the block it indexes.
 */

#include "_render.h"

/* ------------------------------------------------------------------ BlockIndex */


static size_t hash_key(uint64_t addr, uint32_t type)
{
	uint64_t h = (addr ^ ((uint64_t)type << 48) ^ type) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 29));
}

const Entry *bi_find(const BlockIndex *bi, uint64_t addr, uint32_t type)
{
	if (!bi || !bi->slots)
		return NULL;
	for (size_t i = hash_key(addr, type) & bi->mask;; i = (i + 1) & bi->mask) {
		int32_t s = bi->slots[i];
		if (!s)
			return NULL;
		const Entry *e = &bi->entries[s - 1];
		if (e->addr == addr && e->type == type)
			return e;
	}
}

/* More slots: twice as many, or for at least hint entries at first. */
static int bi_grow(BlockIndex *bi, Py_ssize_t hint)
{
	size_t size = bi->slots ? (bi->mask + 1) * 2 : 64;
	while ((Py_ssize_t)size < 2 * hint && size <= INT32_MAX / 4)
		size *= 2;
	if (size > INT32_MAX / 2) {
		PyErr_NoMemory();
		return -1;
	}
	int32_t *slots = PyMem_Calloc(size, sizeof(int32_t));
	if (!slots) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t k = 0; k < bi->n; k++) {
		size_t i = hash_key(bi->entries[k].addr, bi->entries[k].type) & (size - 1);
		while (slots[i])
			i = (i + 1) & (size - 1);
		slots[i] = (int32_t)(k + 1);
	}
	PyMem_Free(bi->slots);
	bi->slots = slots;
	bi->mask = size - 1;
	return 0;
}

/* events._better: whether a block of (flags, count) serves more lookups than old. */
static int better(uint32_t flags, uint32_t count, const Entry *old)
{
	uint32_t old_failed = old->flags & BLOCK_FLAG_READ_FAILED;
	if (old_failed != (flags & BLOCK_FLAG_READ_FAILED))
		return old_failed != 0;
	return count > old->count;
}

static int bi_put(BlockIndex *bi, const Entry *e)
{
	if (!bi->slots || (size_t)(bi->n + 1) * 2 > bi->mask + 1)
		if (bi_grow(bi, 0) < 0)
			return -1;
	size_t i = hash_key(e->addr, e->type) & bi->mask;
	for (;; i = (i + 1) & bi->mask) {
		int32_t s = bi->slots[i];
		if (!s)
			break;
		Entry *old = &bi->entries[s - 1];
		if (old->addr == e->addr && old->type == e->type) {
			if (better(e->flags, e->count, old))
				*old = *e;
			return 0;
		}
	}
	if (bi->n == bi->cap) {
		Py_ssize_t cap = bi->cap ? bi->cap * 2 : 32;
		Entry *entries = PyMem_Realloc(bi->entries, (size_t)cap * sizeof(Entry));
		if (!entries) {
			PyErr_NoMemory();
			return -1;
		}
		bi->entries = entries;
		bi->cap = cap;
	}
	bi->entries[bi->n] = *e;
	bi->slots[i] = (int32_t)(++bi->n);
	return 0;
}

static void bi_dealloc(BlockIndex *bi)
{
	PyMem_Free(bi->entries);
	PyMem_Free(bi->slots);
	Py_TYPE(bi)->tp_free((PyObject *)bi);
}

static PyObject *entry_tuple(const Entry *e)
{
	return Py_BuildValue("(nnkk)", e->start, e->end, (unsigned long)e->count,
			     (unsigned long)e->flags);
}

/* The entry for a key object; NULL (no error) when it is not an index key. */
static const Entry *bi_lookup(const BlockIndex *bi, PyObject *key)
{
	if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 2)
		return NULL;
	PyObject *a = PyTuple_GET_ITEM(key, 0), *t = PyTuple_GET_ITEM(key, 1);
	if (!PyLong_Check(a) || !PyLong_Check(t))
		return NULL;
	unsigned long long addr = PyLong_AsUnsignedLongLong(a);
	unsigned long long type = addr == (unsigned long long)-1 && PyErr_Occurred()
					  ? 0
					  : PyLong_AsUnsignedLongLong(t);
	if (PyErr_Occurred()) { /* negative or too big: not a key of any block */
		PyErr_Clear();
		return NULL;
	}
	if (type > UINT32_MAX)
		return NULL;
	return bi_find(bi, addr, (uint32_t)type);
}

static PyObject *bi_subscript(BlockIndex *bi, PyObject *key)
{
	const Entry *e = bi_lookup(bi, key);
	if (!e) {
		PyErr_SetObject(PyExc_KeyError, key);
		return NULL;
	}
	return entry_tuple(e);
}

static PyObject *bi_get(BlockIndex *bi, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError, "get() takes a key and an optional default");
		return NULL;
	}
	const Entry *e = bi_lookup(bi, args[0]);
	if (e)
		return entry_tuple(e);
	PyObject *dflt = nargs == 2 ? args[1] : Py_None;
	Py_INCREF(dflt);
	return dflt;
}

static Py_ssize_t bi_length(BlockIndex *bi)
{
	return bi->n;
}

static int bi_contains(BlockIndex *bi, PyObject *key)
{
	return bi_lookup(bi, key) != NULL;
}

static PyObject *bi_iter(BlockIndex *bi)
{
	PyObject *keys = PyList_New(bi->n);
	if (!keys)
		return NULL;
	for (Py_ssize_t k = 0; k < bi->n; k++) {
		PyObject *key = Py_BuildValue("(Kk)", (unsigned long long)bi->entries[k].addr,
					      (unsigned long)bi->entries[k].type);
		if (!key) {
			Py_DECREF(keys);
			return NULL;
		}
		PyList_SET_ITEM(keys, k, key);
	}
	PyObject *it = PyObject_GetIter(keys);
	Py_DECREF(keys);
	return it;
}

static PyMethodDef bi_methods[] = {
	{"get", (PyCFunction)(void (*)(void))bi_get, METH_FASTCALL,
	 "get(key, default=None): the block (start, end, elements, flags) for key."},
	{NULL, NULL, 0, NULL},
};

static PyMappingMethods bi_mapping = {
	.mp_length = (lenfunc)bi_length,
	.mp_subscript = (binaryfunc)bi_subscript,
};

static PySequenceMethods bi_sequence = {
	.sq_contains = (objobjproc)bi_contains,
};

PyTypeObject BlockIndexType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages.decode._render.BlockIndex",
	.tp_doc = "An event's blocks by (address, capture type index), read-only.",
	.tp_basicsize = sizeof(BlockIndex),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)bi_dealloc,
	.tp_as_mapping = &bi_mapping,
	.tp_as_sequence = &bi_sequence,
	.tp_iter = (getiterfunc)bi_iter,
	.tp_methods = bi_methods,
};

/* An empty BlockIndex. */
BlockIndex *block_index_new(void)
{
	BlockIndex *bi = PyObject_New(BlockIndex, &BlockIndexType);
	if (!bi)
		return NULL;
	bi->entries = NULL;
	bi->slots = NULL;
	bi->n = bi->cap = 0;
	bi->mask = 0;
	return bi;
}

/* The size of capture type `type`: 1 found, 0 no such type, -1 error. */
static int size_of(const Sizes *sizes, uint64_t type, long long *size)
{
	if (type >= (uint64_t)sizes->n)
		return 0;
	if (sizes->array) {
		*size = sizes->array[type];
		return 1;
	}
	*size = PyLong_AsLongLong(PyList_GET_ITEM(sizes->list, (Py_ssize_t)type));
	return *size == -1 && PyErr_Occurred() ? -1 : 1;
}

/* events._parse_blocks: index the blocks of the total bytes at p, from pos, into
 * bi. Returns 1 (any_flags: the OR of their flags), 0 where _parse_blocks raises
 * (a header cut off, an unknown capture type, lengths that do not add up), or -1
 * on an error of Python's. */
int block_index_fill(BlockIndex *bi, const unsigned char *p, Py_ssize_t total, Py_ssize_t pos,
		     const Sizes *sizes, uint32_t *any_flags)
{
	uint32_t any = 0;
	if (pos < 0)
		return 0;
	/* at most one block per header's worth of bytes: sized for them (up to a
	 * point: big blocks are few), the index is not rehashed as it fills */
	Py_ssize_t most = (total - pos) / BLOCK_HEADER_SIZE;
	if (pos < total && bi_grow(bi, most < 4096 ? most : 4096) < 0)
		return -1;
	while (pos < total) {
		if (total - pos < BLOCK_HEADER_SIZE)
			return 0; /* header cut off */
		uint64_t addr, type, count, length, flags;
		const unsigned char *h = read_le(p + pos, 8, &addr);
		h = read_le(h, 4, &type);
		h = read_le(h, 4, &count);
		h = read_le(h, 4, &length);
		read_le(h, 4, &flags);
		long long size;
		int known = size_of(sizes, type, &size);
		if (known <= 0)
			return known; /* an unknown capture type, or an error */
		Py_ssize_t start = pos + BLOCK_HEADER_SIZE;
		long long want;
		if (flags & BLOCK_FLAG_READ_FAILED)
			want = 0;
		else if (__builtin_mul_overflow((long long)count, size, &want))
			want = -1; /* matches no u32 length */
		if ((Py_ssize_t)length > total - start)
			return 0;
		if (flags & BLOCK_FLAG_PARTIAL && !(flags & BLOCK_FLAG_READ_FAILED)) {
			/* the head of one more element: more than count's, less than one more */
			if (want < 0 || (long long)length <= want || (long long)length >= want + size)
				return 0;
		} else if (want != (long long)length) {
			return 0;
		}
		any |= (uint32_t)flags;
		Entry e = {addr, start, start + (Py_ssize_t)length, (uint32_t)type, (uint32_t)count,
			   (uint32_t)flags};
		if (bi_put(bi, &e) < 0)
			return -1;
		/* The padding after the last block may be left out. */
		pos = e.end + (Py_ssize_t)(-length & 7);
	}
	*any_flags = any;
	return 1;
}

/* index_blocks(payload, pos, type_sizes): (BlockIndex, the SHORT bit of the OR of
 * the blocks' flags), or None where _parse_blocks raises: the caller runs it
 * then, for its message. */
static PyObject *index_blocks(PyObject *self, PyObject *args)
{
	Py_buffer view;
	Py_ssize_t pos;
	PyObject *list;
	(void)self;
	if (!PyArg_ParseTuple(args, "y*nO!", &view, &pos, &PyList_Type, &list))
		return NULL;
	Sizes sizes = {list, NULL, PyList_GET_SIZE(list)};
	BlockIndex *bi = block_index_new();
	uint32_t any = 0;
	int rc = bi ? block_index_fill(bi, view.buf, view.len, pos, &sizes, &any) : -1;
	PyBuffer_Release(&view);
	if (rc <= 0) {
		Py_XDECREF(bi);
		if (rc < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	return Py_BuildValue("(Nk)", (PyObject *)bi, (unsigned long)(any & BLOCK_FLAG_SHORT));
}

/* -------------------------------------------------------------------- Renderer */

static void node_clear(Node *nd)
{
	Py_CLEAR(nd->seen);
	Py_CLEAR(nd->miss);
	Py_CLEAR(nd->compile);
	Py_CLEAR(nd->type_id);
	Py_CLEAR(nd->fn);
	PyMem_Free(nd->fields);
	nd->fields = NULL;
	PyMem_Free(nd->capture);
	nd->capture = NULL;
	runtime_node_clear(nd);
}

static void renderer_dealloc(Renderer *r)
{
	PyObject_GC_UnTrack(r);
	for (Py_ssize_t i = 0; i < r->n; i++)
		node_clear(node_at(r, i));
	for (Py_ssize_t i = 0; i < r->nchunks; i++)
		PyMem_Free(r->chunks[i]);
	PyMem_Free(r->chunks);
	PyMem_Free(r->reasons);
	dyns_clear(r);
	Py_CLEAR(r->keep);
	Py_TYPE(r)->tp_free((PyObject *)r);
}

static int renderer_traverse(Renderer *r, visitproc visit, void *arg)
{
	Py_VISIT(r->keep);
	Py_VISIT(r->dynamic);
	Py_VISIT(r->heap);
	Py_VISIT(r->dyn_index);
	for (Py_ssize_t i = 0; i < r->n; i++) {
		Node *nd = node_at(r, i);
		Py_VISIT(nd->seen);
		Py_VISIT(nd->miss);
		Py_VISIT(nd->compile);
		Py_VISIT(nd->fn);
		Py_VISIT(nd->cache);
		Py_VISIT(nd->call);
	}
	return 0;
}

static int renderer_clear(Renderer *r)
{
	for (Py_ssize_t i = 0; i < r->n; i++)
		node_clear(node_at(r, i));
	r->n = 0;
	dyns_clear(r);
	Py_CLEAR(r->keep);
	return 0;
}

/* A bytes object as a Text, kept alive by the list keep. */
int keep_text(PyObject *keep, PyObject *obj, Text *t)
{
	if (!PyBytes_Check(obj)) {
		PyErr_SetString(PyExc_TypeError, "texts are bytes");
		return -1;
	}
	if (PyList_Append(keep, obj) < 0)
		return -1;
	t->s = PyBytes_AS_STRING(obj);
	t->n = PyBytes_GET_SIZE(obj);
	return 0;
}

static int take_text(Renderer *r, PyObject *obj, Text *t)
{
	return keep_text(r->keep, obj, t);
}

int take_capture(Node *nd, PyObject *seq)
{
	PyObject *fast = PySequence_Fast(seq, "capture types are a sequence");
	if (!fast)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	nd->capture = PyMem_Calloc((size_t)n + 1, sizeof(uint32_t));
	if (!nd->capture) {
		Py_DECREF(fast);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
		if (PyErr_Occurred() || v > UINT32_MAX) {
			Py_DECREF(fast);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "capture type index out of range");
			return -1;
		}
		nd->capture[i] = (uint32_t)v;
	}
	nd->ncapture = n;
	Py_DECREF(fast);
	return 0;
}

static int take_fields(Renderer *r, Node *nd, PyObject *seq)
{
	PyObject *fast = PySequence_Fast(seq, "fields are a sequence");
	if (!fast)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	nd->fields = PyMem_Calloc((size_t)n + 1, sizeof(FieldSpec));
	if (!nd->fields) {
		Py_DECREF(fast);
		PyErr_NoMemory();
		return -1;
	}
	nd->nfields = n;
	for (Py_ssize_t i = 0; i < n; i++) {
		FieldSpec *f = &nd->fields[i];
		PyObject *key, *constant;
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "SnnO", &key, &f->offset,
				      &f->node, &constant) ||
		    take_text(r, key, &f->key) < 0 ||
		    (constant != Py_None && take_text(r, constant, &f->constant) < 0)) {
			Py_DECREF(fast);
			return -1;
		}
	}
	Py_DECREF(fast);
	return 0;
}

/* One node from its spec tuple (kind, size, head, ...): see native.py. */
static int take_node(Renderer *r, Node *nd, PyObject *spec)
{
	if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 3) {
		PyErr_SetString(PyExc_TypeError, "a node is a tuple (kind, size, head, ...)");
		return -1;
	}
	nd->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
	nd->size = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 1));
	if (PyErr_Occurred() || take_text(r, PyTuple_GET_ITEM(spec, 2), &nd->head) < 0)
		return -1;
	if (nd->size < 0) {
		PyErr_SetString(PyExc_ValueError, "negative size");
		return -1;
	}
	PyObject *rest = PyTuple_GetSlice(spec, 3, PyTuple_GET_SIZE(spec));
	if (!rest)
		return -1;
	PyObject *x, *y, *capture, *fields;
	int ok;
	switch (nd->kind) {
	case K_CONST:
		ok = PyArg_ParseTuple(rest, "S", &x) && take_text(r, x, &nd->a) == 0;
		break;
	case K_BOOL:
		ok = PyArg_ParseTuple(rest, "SS", &x, &y) && take_text(r, x, &nd->a) == 0 &&
		     take_text(r, y, &nd->b) == 0 && nd->size >= 1;
		break;
	case K_INT:
		ok = PyArg_ParseTuple(rest, "Sp", &x, &nd->is_signed) &&
		     take_text(r, x, &nd->a) == 0 &&
		     (nd->size == 1 || nd->size == 2 || nd->size == 4 || nd->size == 8);
		break;
	case K_CACHED:
		ok = PyArg_ParseTuple(rest, "O!O", &PyDict_Type, &x, &y) &&
		     (nd->size == 4 || nd->size == 8);
		if (ok) {
			nd->seen = Py_NewRef(x);
			nd->miss = Py_NewRef(y);
		}
		break;
	case K_STRING:
		ok = PyArg_ParseTuple(rest, "") && nd->size >= 16;
		break;
	case K_STRUCT:
		ok = PyArg_ParseTuple(rest, "O", &fields) && take_fields(r, nd, fields) == 0;
		break;
	case K_ARRAY:
		ok = PyArg_ParseTuple(rest, "nnn", &nd->elem, &nd->count, &nd->stride) &&
		     nd->count >= 0 && nd->stride >= 0 &&
		     (nd->count == 0 || nd->stride <= nd->size / nd->count);
		break;
	case K_SLICE:
		ok = PyArg_ParseTuple(rest, "nnOLL", &nd->elem, &nd->stride, &capture,
				      &nd->elem_id, &nd->levels) &&
		     nd->levels > 0 &&
		     nd->stride >= 0 && nd->stride <= INT32_MAX && nd->size >= 24 &&
		     take_capture(nd, capture) == 0;
		break;
	case K_POINTER:
		ok = PyArg_ParseTuple(rest, "nLppnOL", &nd->elem, &nd->elem_id, &nd->nested,
				      &nd->zero_size, &nd->skip, &capture, &nd->levels) &&
		     nd->levels > 0 && nd->size >= 8 && nd->skip >= 0 && take_capture(nd, capture) == 0;
		break;
	case K_PYTHON:
		ok = PyArg_ParseTuple(rest, "OO", &x, &y);
		if (ok) {
			nd->compile = Py_NewRef(x);
			nd->type_id = Py_NewRef(y);
		}
		break;
	default:
		ok = take_runtime_node(r, nd, rest) == 0;
	}
	Py_DECREF(rest);
	if (!ok && !PyErr_Occurred())
		PyErr_Format(PyExc_ValueError, "bad node of kind %d", nd->kind);
	return ok ? 0 : -1;
}

/* The node references of nd are all below n. */
static int node_refs_ok(const Node *nd, Py_ssize_t n)
{
	switch (nd->kind) {
	case K_STRUCT:
		for (Py_ssize_t i = 0; i < nd->nfields; i++) {
			Py_ssize_t k = nd->fields[i].node;
			if (k >= n || (k < 0 && !nd->fields[i].constant.s))
				return 0;
			if (k >= 0 && nd->fields[i].offset < 0)
				return 0;
		}
		return 1;
	case K_ARRAY:
	case K_SLICE:
	case K_POINTER:
		return nd->elem >= 0 && nd->elem < n;
	case K_MAP:
		return nd->elem >= 0 && nd->elem < n && nd->value >= 0 && nd->value < n;
	default:
		return 1;
	}
}

/* Renderer.extend(specs): append nodes; a node may refer to any node up to the
 * last one of specs. */
static PyObject *renderer_extend(Renderer *r, PyObject *specs)
{
	if (!r->keep) {
		PyErr_SetString(PyExc_RuntimeError, "Renderer not initialised");
		return NULL;
	}
	PyObject *fast = PySequence_Fast(specs, "specs are a sequence");
	if (!fast)
		return NULL;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	Py_ssize_t chunks = (r->n + n + NODE_CHUNK - 1) / NODE_CHUNK;
	if (chunks > r->nchunks) {
		Node **all = PyMem_Realloc(r->chunks, (size_t)chunks * sizeof(Node *));
		if (!all) {
			Py_DECREF(fast);
			return PyErr_NoMemory();
		}
		r->chunks = all;
		while (r->nchunks < chunks) {
			Node *chunk = PyMem_Calloc(NODE_CHUNK, sizeof(Node));
			if (!chunk) {
				Py_DECREF(fast);
				return PyErr_NoMemory();
			}
			r->chunks[r->nchunks++] = chunk;
		}
	}
	Py_ssize_t first = r->n;
	for (Py_ssize_t i = 0; i < n; i++) {
		Node *nd = node_at(r, first + i);
		memset(nd, 0, sizeof(*nd));
		if (take_node(r, nd, PySequence_Fast_GET_ITEM(fast, i)) < 0) {
			for (Py_ssize_t k = 0; k <= i; k++)
				node_clear(node_at(r, first + k));
			Py_DECREF(fast);
			return NULL;
		}
	}
	Py_DECREF(fast);
	for (Py_ssize_t i = 0; i < n; i++) {
		if (!node_refs_ok(node_at(r, first + i), first + n)) {
			for (Py_ssize_t k = 0; k < n; k++)
				node_clear(node_at(r, first + k));
			PyErr_Format(PyExc_ValueError, "node %zd refers to an unknown node", first + i);
			return NULL;
		}
	}
	r->n = first + n;
	Py_RETURN_NONE;
}

static int renderer_init(Renderer *r, PyObject *args, PyObject *kwds)
{
	PyObject *reasons, *dynamic = Py_None, *heap = Py_None;
	static char *kwlist[] = {"reasons", "dynamic", "heap", NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO", kwlist, &reasons, &dynamic, &heap))
		return -1;
	if (r->keep) {
		PyErr_SetString(PyExc_RuntimeError, "Renderer initialised twice");
		return -1;
	}
	r->keep = PyList_New(0);
	r->dyn_index = PyDict_New();
	if (!r->keep || !r->dyn_index)
		return -1;
	r->dynamic = Py_NewRef(dynamic);
	r->heap = Py_NewRef(heap);
	PyObject *fast = PySequence_Fast(reasons, "reasons are a sequence");
	if (!fast)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	r->reasons = PyMem_Calloc((size_t)n + 1, sizeof(Text));
	if (!r->reasons) {
		Py_DECREF(fast);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		if (take_text(r, PySequence_Fast_GET_ITEM(fast, i), &r->reasons[i]) < 0) {
			Py_DECREF(fast);
			return -1;
		}
	}
	r->nreasons = n;
	Py_DECREF(fast);
	return 0;
}

/* ---------------------------------------------------------- one value's walk */

PyObject *empty_bytes; /* b"" */
static PyObject *empty_tuple; /* (): no holes */

/* The RenderContext attributes read, interned once. */
static PyObject *attr_payload, *attr_blocks, *attr_path, *attr_missing, *attr_levels;
static PyObject *attr_limits[4];
static const char *const limit_names[4] = {"max_reference_depth", "max_collection_size",
					   "max_length", "max_field_count"};

/* The output grown to hold more bytes: off the stack, then doubled. */
int grow(Walk *w, Py_ssize_t more)
{
	if (more > PY_SSIZE_T_MAX / 2 - w->len) {
		PyErr_NoMemory();
		return -1;
	}
	Py_ssize_t cap = w->cap;
	while (cap < w->len + more)
		cap *= 2;
	char *out;
	if (w->out == w->stack) {
		out = PyMem_Malloc((size_t)cap);
		if (out)
			memcpy(out, w->stack, (size_t)w->len);
	} else {
		out = PyMem_Realloc(w->out, (size_t)cap);
	}
	if (!out) {
		PyErr_NoMemory();
		return -1;
	}
	w->out = out;
	w->cap = cap;
	return 0;
}


int put_u64(Walk *w, uint64_t v)
{
	char digits[24];
	int n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put(w, digits + sizeof(digits) - n, n);
}

static int put_i64(Walk *w, int64_t v)
{
	if (v < 0) {
		if (PUT_LIT(w, "-") < 0)
			return -1;
		return put_u64(w, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(w, (uint64_t)v);
}

/* ,"address":"0x..." as values.pointer_text spells it (f"{addr:#x}"). */
Py_ssize_t address_text(char *buf, uint64_t addr)
{
	static const char hex[] = "0123456789abcdef";
	char digits[16];
	int n = 0;
	do {
		digits[15 - n++] = hex[addr & 15];
		addr >>= 4;
	} while (addr);
	static const char start[] = ",\"address\":\"0x";
	memcpy(buf, start, sizeof(start) - 1);
	Py_ssize_t len = sizeof(start) - 1;
	memcpy(buf + len, digits + 16 - n, (size_t)n);
	len += n;
	buf[len++] = '"';
	return len;
}

/* jsontext.quote (json.encoder.encode_basestring) of UTF-8 text, without the
 * quotes: '"', '\\' and control characters escaped, everything else as is. */
int put_escaped(Walk *w, const unsigned char *s, Py_ssize_t n)
{
	static const char hex[] = "0123456789abcdef";
	Py_ssize_t run = 0;
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (put(w, (const char *)s + run, i - run) < 0)
			return -1;
		run = i + 1;
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		Py_ssize_t len = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			len = 6;
		}
		if (put(w, esc, len) < 0)
			return -1;
	}
	return put(w, (const char *)s + run, n - run);
}

/* "quote(text)" of bytes decoded as values.string_text does: UTF-8 with invalid
 * bytes replaced; with cut (values._decode_text), a sequence split at the end is
 * dropped. ASCII is copied; anything else goes through Python's own decoder. */
static int put_string(Walk *w, const unsigned char *s, Py_ssize_t n, int cut)
{
	Py_ssize_t i = 0;
	while (i < n && s[i] < 0x80)
		i++;
	if (PUT_LIT(w, "\"") < 0)
		return -1;
	if (i == n) {
		if (put_escaped(w, s, n) < 0)
			return -1;
	} else {
		Py_ssize_t consumed = n;
		PyObject *text = PyUnicode_DecodeUTF8Stateful((const char *)s, n, "replace",
							      cut ? &consumed : NULL);
		if (!text)
			return -1;
		Py_ssize_t len;
		const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
		int rc = utf8 ? put_escaped(w, (const unsigned char *)utf8, len) : -1;
		Py_DECREF(text);
		if (rc < 0)
			return -1;
	}
	return PUT_LIT(w, "\"");
}

/* A str appended, as UTF-8 (lone surrogates passed through: the text is decoded
 * back the same way). */
int put_str(Walk *w, PyObject *text)
{
	Py_ssize_t len;
	const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
	if (utf8)
		return put(w, utf8, len);
	if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
		return -1;
	PyErr_Clear();
	PyObject *bytes = PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass");
	if (!bytes)
		return -1;
	int rc = put(w, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
	Py_DECREF(bytes);
	return rc;
}

/* values._finder: the block of addr among the node's capture types, the one with
 * most elements when several have one. */
static const Entry *find_block(const Walk *w, const Node *nd, uint64_t addr)
{
	const Entry *found = NULL;
	for (Py_ssize_t i = 0; i < nd->ncapture; i++) {
		const Entry *e = bi_find(w->blocks, addr, nd->capture[i]);
		if (e && (!found || e->count > found->count))
			found = e;
	}
	return found;
}

int overrun(Py_ssize_t off, Py_ssize_t size, const Buf *b)
{
	if (off >= 0 && size <= b->len && off <= b->len - size)
		return 0;
	PyErr_Format(PyExc_ValueError, "value of %zd bytes at %zd is outside its buffer", size,
		     off);
	return 1;
}


/* values.string_text */
static int render_string(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off)
{
	uint64_t ptr, length;
	read_le(read_le(b->p + off, 8, &ptr), 8, &length);
	const Entry *block = bi_find(w->blocks, ptr, BYTES_TYPE);
	const unsigned char *data = w->payload.p;
	if (block && length > 0 && length <= (uint64_t)w->max_length && block->count >= length &&
	    !(block->flags & BLOCK_FLAG_READ_FAILED)) { /* the whole string is there */
		if (overrun(block->start, (Py_ssize_t)length, &w->payload))
			return -1;
		return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"value\":") < 0 ||
			       put_string(w, data + block->start, (Py_ssize_t)length, 0) < 0 ||
			       PUT_LIT(w, "}") < 0
			   ? -1
			   : 0;
	}
	if (length == 0)
		return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"value\":\"\"}") < 0 ? -1 : 0;
	uint64_t want = length < (uint64_t)w->max_length ? length : (uint64_t)w->max_length;
	Py_ssize_t start = 0, got = 0;
	if (want > 0) {
		if (!block || block->flags & BLOCK_FLAG_READ_FAILED) {
			w->missing |= !block;
			return PUT_TEXT(w, nd->head) < 0 ||
				       PUT_LIT(w, ",\"notCapturedReason\":\"unavailable\"}") < 0
				   ? -1
				   : 0;
		}
		start = block->start;
		got = block->end - block->start;
		if ((uint64_t)block->count < want)
			w->missing = 1;
		else if ((uint64_t)got > want)
			got = (Py_ssize_t)want;
	}
	if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"value\":") < 0)
		return -1;
	if ((uint64_t)got == length)
		return put_string(w, data + start, got, 0) < 0 || PUT_LIT(w, "}") < 0 ? -1 : 0;
	if (put_string(w, data + start, got, 1) < 0 || PUT_LIT(w, ",\"size\":\"") < 0 ||
	    put_u64(w, length) < 0 || PUT_LIT(w, "\",\"truncated\":true") < 0)
		return -1;
	if ((uint64_t)got == want)
		return PUT_LIT(w, ",\"notCapturedReason\":\"length\"}");
	return PUT_LIT(w, "}");
}

/* values._compile_struct's render_struct (without holes) */
static int render_struct(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"fields\":{") < 0)
		return -1;
	Py_ssize_t shown = nd->nfields <= w->max_fields ? nd->nfields : (Py_ssize_t)w->max_fields;
	for (Py_ssize_t i = 0; i < shown; i++) {
		const FieldSpec *f = &nd->fields[i];
		if ((i && PUT_LIT(w, ",") < 0) || PUT_TEXT(w, f->key) < 0)
			return -1;
		if (f->node < 0) {
			if (PUT_TEXT(w, f->constant) < 0)
				return -1;
		} else if (f->offset > PY_SSIZE_T_MAX - off ||
			   render(w, f->node, b, off + f->offset, depth) < 0) {
			return -1;
		}
	}
	if (shown < nd->nfields)
		return PUT_LIT(w, "},\"notCapturedReason\":\"fieldCount\"}");
	return PUT_LIT(w, "}}");
}

/* count elements of node elem, stride bytes apart from off: the join of
 * values._elements' texts */
static int render_elements(Walk *w, Py_ssize_t elem, Py_ssize_t stride, const Buf *b,
			   Py_ssize_t off, Py_ssize_t count, long long depth)
{
	for (Py_ssize_t i = 0; i < count; i++) {
		if (i && PUT_LIT(w, ",") < 0)
			return -1;
		if (render(w, elem, b, off + i * stride, depth) < 0)
			return -1;
	}
	return 0;
}

/* values._compile_array's render_array (without holes) */
static int render_array(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	/* the elements are within the array's bytes: count * stride <= size */
	Py_ssize_t shown = nd->count <= w->max_collection ? nd->count
							 : (Py_ssize_t)w->max_collection;
	if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"elements\":[") < 0 ||
	    render_elements(w, nd->elem, nd->stride, b, off, shown, depth) < 0 ||
	    PUT_LIT(w, "],\"size\":\"") < 0 || put_u64(w, (uint64_t)nd->count) < 0)
		return -1;
	if (nd->count > shown)
		return PUT_LIT(w, "\",\"truncated\":true,\"notCapturedReason\":\"collectionSize\"}");
	return PUT_LIT(w, "\"}");
}

/* Whether (addr, type) is on the path being rendered: values' ctx.path. */
int path_has(const Walk *w, uint64_t addr, long long type)
{
	for (Py_ssize_t i = 0; i < w->npath; i++)
		if (w->path[i].addr == addr && w->path[i].type == type)
			return 1;
	return 0;
}

/* Put (addr, type) on the path, with the levels its hop adds, for what is
 * rendered under it; path_pop after. */
int path_push(Walk *w, uint64_t addr, long long type, long long levels)
{
	if (w->npath == w->cappath) {
		Py_ssize_t cap = w->cappath ? w->cappath * 2 : 16;
		PathEntry *path = PyMem_Realloc(w->path, (size_t)cap * sizeof(PathEntry));
		if (!path) {
			PyErr_NoMemory();
			return -1;
		}
		w->path = path;
		w->cappath = cap;
	}
	if (Py_EnterRecursiveCall(" while rendering a captured value"))
		return -1;
	w->path[w->npath].addr = addr;
	w->path[w->npath].type = type;
	w->npath++;
	w->levels += levels;
	return 0;
}

void path_pop(Walk *w, long long levels)
{
	w->npath--;
	w->levels -= levels;
	Py_LeaveRecursiveCall();
}

/* values.slice_text */
static int render_slice(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	uint64_t ptr, length;
	read_le(read_le(b->p + off, 8, &ptr), 8, &length);
	if (ptr == 0)
		return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"isNull\":true}") < 0 ? -1 : 0;
	uint64_t want = length < (uint64_t)w->max_collection ? length
							     : (uint64_t)w->max_collection;
	Py_ssize_t shown = 0;
	if (want > 0) {
		if (nd->stride == 0) {
			/* [fn(b"", 0, ...)] * want: one text, repeated */
			Buf none = {empty_bytes, (const unsigned char *)"", 0};
			if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"elements\":[") < 0)
				return -1;
			Py_ssize_t at = w->len;
			if (render(w, nd->elem, &none, 0, depth) < 0)
				return -1;
			Py_ssize_t n = w->len - at;
			for (uint64_t i = 1; i < want; i++) {
				if (ensure(w, n + 1) < 0)
					return -1;
				w->out[w->len++] = ',';
				memcpy(w->out + w->len, w->out + at, (size_t)n);
				w->len += n;
			}
			shown = (Py_ssize_t)want;
			goto close;
		}
		if (nd->ncapture == 0)
			return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"size\":\"") < 0 ||
				       put_u64(w, length) < 0 ||
				       PUT_LIT(w, "\",\"notCapturedReason\":\"unimplemented\"}") < 0
				   ? -1
				   : 0;
		if (nd->elem_id &&
		    (path_has(w, ptr, nd->elem_id) || w->levels + nd->levels > GODI_MAX_LEVELS))
			return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"size\":\"") < 0 ||
				       put_u64(w, length) < 0 ||
				       (path_has(w, ptr, nd->elem_id)
					    ? PUT_LIT(w, "\",\"notCapturedReason\":\"circular "
							 "reference\"}")
					    : PUT_LIT(w, "\",\"notCapturedReason\":\"depth\"}")) < 0
				   ? -1
				   : 0;
		const Entry *block = find_block(w, nd, ptr);
		if (!block || block->flags & BLOCK_FLAG_READ_FAILED) {
			w->missing |= !block;
			return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"size\":\"") < 0 ||
				       put_u64(w, length) < 0 ||
				       PUT_LIT(w, "\",\"notCapturedReason\":\"unavailable\"}") < 0
				   ? -1
				   : 0;
		}
		if ((uint64_t)block->count < want) {
			w->missing = 1;
			shown = block->count;
		} else {
			shown = (Py_ssize_t)want;
		}
		/* the block holds count elements of the capture type's size, which
		 * ValueRenderer checked is the element type's */
		if (overrun(block->start, shown * nd->stride, &w->payload))
			return -1;
		if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"elements\":[") < 0)
			return -1;
		if (nd->elem_id && path_push(w, ptr, nd->elem_id, nd->levels) < 0)
			return -1;
		int rc = render_elements(w, nd->elem, nd->stride, &w->payload, block->start, shown,
					 depth);
		if (nd->elem_id)
			path_pop(w, nd->levels);
		if (rc < 0)
			return -1;
	} else if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"elements\":[") < 0) {
		return -1;
	}
close:
	if (PUT_LIT(w, "],\"size\":\"") < 0 || put_u64(w, length) < 0)
		return -1;
	if (length > (uint64_t)shown) {
		if (PUT_LIT(w, "\",\"truncated\":true") < 0)
			return -1;
		if ((uint64_t)shown == want)
			return PUT_LIT(w, ",\"notCapturedReason\":\"collectionSize\"}");
		return PUT_LIT(w, "}");
	}
	return PUT_LIT(w, "\"}");
}

/* values._inline, the end of it: the members at out[at:len - 1] (a pointee's text
 * without its head) get the address before a trailing notCapturedReason, and the
 * closing brace. */
static int inline_address(Walk *w, Py_ssize_t at, const char *address, Py_ssize_t address_len)
{
	Py_ssize_t members = w->len - 1 - at;
	w->len--; /* the pointee's closing brace */
	Py_ssize_t cut = w->len;
	for (Py_ssize_t i = 0; i < w->r->nreasons; i++) {
		const Text *t = &w->r->reasons[i];
		if (t->n <= members && memcmp(w->out + w->len - t->n, t->s, (size_t)t->n) == 0) {
			cut = w->len - t->n;
			break;
		}
	}
	if (ensure(w, address_len + 1) < 0)
		return -1;
	memmove(w->out + cut + address_len, w->out + cut, (size_t)(w->len - cut));
	memcpy(w->out + cut, address, (size_t)address_len);
	w->len += address_len;
	w->out[w->len++] = '}';
	return 0;
}

/* Whether the pointee's text from at (skip bytes of head, members, a closing
 * brace) has the shape values._inline takes apart; else an error. */
static int pointee_shape(Walk *w, Py_ssize_t at, Py_ssize_t skip)
{
	if (w->len - at < skip + 1 || w->out[w->len - 1] != '}') {
		PyErr_SetString(PyExc_ValueError, "a pointee's text does not start with its type");
		return -1;
	}
	return 0;
}

/* A pointer to node elem shown with its pointee's members inlined (values._inline):
 * the pointee is rendered where its head ends where the pointer's head ends, then
 * the pointer's head is written over it, so that its members are not moved. */
static int render_inlined(Walk *w, const Node *nd, const Buf *data, Py_ssize_t at,
			  long long depth, const char *address, Py_ssize_t address_len)
{
	Py_ssize_t start = w->len, from = start + nd->head.n - nd->skip;
	if (from < start) { /* the pointee's head is the longer: render, then move */
		if (PUT_TEXT(w, nd->head) < 0)
			return -1;
		Py_ssize_t pointee = w->len;
		if (render(w, nd->elem, data, at, depth + 1) < 0 ||
		    pointee_shape(w, pointee, nd->skip) < 0)
			return -1;
		Py_ssize_t members = w->len - pointee - nd->skip;
		memmove(w->out + pointee, w->out + pointee + nd->skip, (size_t)members);
		w->len = pointee + members;
		return inline_address(w, pointee, address, address_len);
	}
	if (ensure(w, nd->head.n) < 0)
		return -1;
	w->len = from;
	if (render(w, nd->elem, data, at, depth + 1) < 0 || pointee_shape(w, from, nd->skip) < 0)
		return -1;
	memcpy(w->out + start, nd->head.s, (size_t)nd->head.n);
	return inline_address(w, start + nd->head.n, address, address_len);
}

/* values.pointer_text */
static int render_pointer(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	uint64_t addr;
	read_le(b->p + off, 8, &addr);
	if (addr == 0)
		return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"isNull\":true}") < 0 ? -1 : 0;
	char address[40];
	Py_ssize_t address_len = address_text(address, addr);
	if (path_has(w, addr, nd->elem_id))
		return PUT_TEXT(w, nd->head) < 0 || put(w, address, address_len) < 0 ||
			       PUT_LIT(w, ",\"notCapturedReason\":\"circular reference\"}") < 0
			   ? -1
			   : 0;
	if (depth >= w->max_depth || w->levels + nd->levels > GODI_MAX_LEVELS)
		return PUT_TEXT(w, nd->head) < 0 || put(w, address, address_len) < 0 ||
			       PUT_LIT(w, ",\"notCapturedReason\":\"depth\"}") < 0
			   ? -1
			   : 0;
	Buf data = {empty_bytes, (const unsigned char *)"", 0};
	Py_ssize_t at = 0;
	if (!nd->zero_size) {
		const Entry *block = nd->ncapture ? find_block(w, nd, addr) : NULL;
		if (!block || block->flags & BLOCK_FLAG_READ_FAILED || block->count < 1) {
			if (nd->ncapture)
				w->missing |= !block || block->count < 1;
			return PUT_TEXT(w, nd->head) < 0 || put(w, address, address_len) < 0 ||
				       PUT_LIT(w, ",\"notCapturedReason\":\"unavailable\"}") < 0
				   ? -1
				   : 0;
		}
		data = w->payload;
		at = block->start;
	}
	if (path_push(w, addr, nd->elem_id, nd->levels) < 0)
		return -1;
	int rc;
	if (nd->nested) {
		rc = PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"fields\":{\"*\":") < 0 ||
				     render(w, nd->elem, &data, at, depth + 1) < 0 ||
				     PUT_LIT(w, "}") < 0 || put(w, address, address_len) < 0 ||
				     PUT_LIT(w, "}") < 0
			 ? -1
			 : 0;
	} else {
		rc = render_inlined(w, nd, &data, at, depth, address, address_len);
	}
	path_pop(w, nd->levels);
	return rc;
}

/* The Python renderer of a node's type, called as VariablePlan.text and the
 * generated renderers call it: (buffer, offset, depth, holes, context). The
 * pointees being rendered here are put on ctx.path for the call, so that it sees
 * the cycles through them. */
static int render_python(Walk *w, Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	if (!nd->fn) {
		nd->fn = PyObject_CallOneArg(nd->compile, nd->type_id);
		if (!nd->fn)
			return -1;
	}
	PyObject *path = NULL, *text = NULL, *at = NULL, *deep = NULL;
	Py_ssize_t added = 0;
	int rc = -1, levels_set = 0;
	if (!w->ctx) {
		if (!w->make_ctx) {
			PyErr_SetString(PyExc_RuntimeError, "a walk without a render context");
			return -1;
		}
		if (!(w->ctx = w->make_ctx(w->ctx_arg)))
			return -1;
		w->own_ctx = 1;
	}
	if (w->npath) {
		path = PyObject_GetAttr(w->ctx, attr_path);
		if (!path)
			return -1;
		if (!PySet_Check(path)) {
			PyErr_SetString(PyExc_TypeError, "ctx.path is not a set");
			goto done;
		}
		for (; added < w->npath; added++) {
			PyObject *key = Py_BuildValue("(KL)", (unsigned long long)w->path[added].addr,
						      w->path[added].type);
			int r = key ? PySet_Add(path, key) : -1;
			Py_XDECREF(key);
			if (r < 0)
				goto done;
		}
	}
	if (w->levels) { /* the Python renderers see the hops above them */
		PyObject *levels = PyLong_FromLongLong(w->levels);
		int r = levels ? PyObject_SetAttr(w->ctx, attr_levels, levels) : -1;
		Py_XDECREF(levels);
		if (r < 0)
			goto done;
		levels_set = 1;
	}
	at = PyLong_FromSsize_t(off);
	deep = PyLong_FromLongLong(depth);
	if (at && deep) {
		PyObject *args[5] = {b->obj, at, deep, empty_tuple, w->ctx};
		text = PyObject_Vectorcall(nd->fn, args, 5, NULL);
	}
	if (text) {
		if (PyUnicode_Check(text))
			rc = put_str(w, text);
		else
			PyErr_SetString(PyExc_TypeError, "a renderer returned a non-str");
	}
done:
	if (levels_set) { /* back to the root's: a walk starts at a root value */
		PyObject *type, *value, *tb;
		PyErr_Fetch(&type, &value, &tb);
		PyObject *zero = PyLong_FromLong(0);
		if (!zero || PyObject_SetAttr(w->ctx, attr_levels, zero) < 0)
			rc = -1;
		Py_XDECREF(zero);
		if (type)
			PyErr_Restore(type, value, tb);
	}
	for (Py_ssize_t i = 0; i < added; i++) {
		PyObject *key = Py_BuildValue("(KL)", (unsigned long long)w->path[i].addr,
					      w->path[i].type);
		if (!key || PySet_Discard(path, key) < 0)
			rc = -1;
		Py_XDECREF(key);
	}
	Py_XDECREF(text);
	Py_XDECREF(at);
	Py_XDECREF(deep);
	Py_XDECREF(path);
	return rc;
}

int render(Walk *w, Py_ssize_t node, const Buf *b, Py_ssize_t off, long long depth)
{
	Node *nd = node_at(w->r, node);
	uint64_t raw;
	switch (nd->kind) {
	case K_CONST:
		return PUT_TEXT(w, nd->a);
	case K_PYTHON:
		return render_python(w, nd, b, off, depth);
	default:
		break;
	}
	if (overrun(off, nd->size, b))
		return -1;
	switch (nd->kind) {
	case K_BOOL:
		return b->p[off] ? PUT_TEXT(w, nd->a) : PUT_TEXT(w, nd->b);
	case K_INT:
		read_le(b->p + off, (int)nd->size, &raw);
		if (PUT_TEXT(w, nd->a) < 0)
			return -1;
		if (nd->is_signed) {
			int shift = 64 - 8 * (int)nd->size;
			int64_t v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
			if (put_i64(w, v) < 0)
				return -1;
		} else if (put_u64(w, raw) < 0) {
			return -1;
		}
		return PUT_LIT(w, "\"}");
	case K_CACHED: {
		/* seen.get(key) or miss(key), as the generated renderers do */
		read_le(b->p + off, (int)nd->size, &raw);
		PyObject *key = PyLong_FromUnsignedLongLong(raw);
		if (!key)
			return -1;
		PyObject *text = PyDict_GetItemWithError(nd->seen, key);
		int rc;
		if (text) {
			rc = put_str(w, text);
		} else if (PyErr_Occurred()) {
			rc = -1;
		} else {
			text = PyObject_CallOneArg(nd->miss, key);
			rc = text ? put_str(w, text) : -1;
			Py_XDECREF(text);
		}
		Py_DECREF(key);
		return rc;
	}
	case K_STRING:
		return render_string(w, nd, b, off);
	case K_STRUCT:
		return render_struct(w, nd, b, off, depth);
	case K_ARRAY:
		return render_array(w, nd, b, off, depth);
	case K_SLICE:
		return render_slice(w, nd, b, off, depth);
	case K_POINTER:
		return render_pointer(w, nd, b, off, depth);
	case K_ADDRESS:
	case K_FUNC:
	case K_IFACE:
	case K_MAP:
		return render_runtime(w, nd, b, off, depth);
	default:
		PyErr_Format(PyExc_ValueError, "node of unknown kind %d", nd->kind);
		return -1;
	}
}

/* A limit of the RenderContext: 0 when it is not a non-negative int (the walk is
 * declined then: Python renders such values). */
static int limit(PyObject *ctx, PyObject *name, long long *out)
{
	PyObject *v = PyObject_GetAttr(ctx, name);
	if (!v)
		return -1;
	int overflow = 0;
	long long n = PyLong_Check(v) ? PyLong_AsLongLongAndOverflow(v, &overflow) : -1;
	Py_DECREF(v);
	if (n == -1 && PyErr_Occurred())
		return -1;
	if (overflow > 0)
		n = LLONG_MAX;
	*out = n;
	return n >= 0 && overflow >= 0;
}

/* Start a walk over payload (bytes) and blocks (a BlockIndex, or NULL: none)
 * within limits (depth, collection size, length, field count). No context: set
 * w->ctx, or w->make_ctx to make one when a Python renderer needs it. walk_end
 * ends it. */
void walk_start(Walk *w, Renderer *r, PyObject *payload, PyObject *blocks,
		const long long limits[4])
{
	w->r = r;
	w->ctx = NULL;
	w->make_ctx = NULL;
	w->ctx_arg = NULL;
	w->own_ctx = 0;
	w->missing = 0;
	w->path = NULL;
	w->npath = w->cappath = 0;
	w->levels = 0;
	w->out = w->stack;
	w->len = 0;
	w->cap = sizeof(w->stack);
	Py_INCREF(payload);
	w->payload.obj = payload;
	w->payload.p = (const unsigned char *)PyBytes_AS_STRING(payload);
	w->payload.len = PyBytes_GET_SIZE(payload);
	Py_XINCREF(blocks);
	w->blocks_obj = blocks;
	w->blocks = (const BlockIndex *)blocks;
	w->max_depth = limits[0];
	w->max_collection = limits[1];
	w->max_length = limits[2];
	w->max_fields = limits[3];
}

/* Start a walk over the event of a RenderContext: 1 ready, 0 declined (blocks
 * neither indexed here nor none, a payload not bytes, a negative limit), -1 error.
 * walk_end ends it, whatever this returned. */
static int walk_begin(Walk *w, Renderer *r, PyObject *ctx)
{
	static const long long none[4] = {0, 0, 0, 0};
	walk_start(w, r, empty_bytes, NULL, none);
	w->ctx = ctx;
	PyObject *payload = PyObject_GetAttr(ctx, attr_payload);
	if (!payload)
		return -1;
	if (!PyBytes_CheckExact(payload)) {
		Py_DECREF(payload);
		return 0;
	}
	Py_SETREF(w->payload.obj, payload);
	w->payload.p = (const unsigned char *)PyBytes_AS_STRING(payload);
	w->payload.len = PyBytes_GET_SIZE(payload);
	PyObject *blocks = PyObject_GetAttr(ctx, attr_blocks);
	if (!blocks)
		return -1;
	w->blocks_obj = blocks; /* held until walk_end */
	if (Py_IS_TYPE(blocks, &BlockIndexType))
		w->blocks = (const BlockIndex *)blocks;
	else if (PyDict_CheckExact(blocks) && PyDict_GET_SIZE(blocks) == 0)
		w->blocks = NULL; /* an event without blocks */
	else
		return 0;
	long long *limits[] = {&w->max_depth, &w->max_collection, &w->max_length, &w->max_fields};
	for (int i = 0; i < 4; i++) {
		int rc = limit(ctx, attr_limits[i], limits[i]);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

void walk_end(Walk *w)
{
	Py_XDECREF(w->payload.obj);
	Py_XDECREF(w->blocks_obj);
	if (w->own_ctx)
		Py_CLEAR(w->ctx);
	if (w->out != w->stack)
		PyMem_Free(w->out);
	PyMem_Free(w->path);
}

/* The value of node at offset of the payload appended to the walk's output. */
int walk_render(Walk *w, Py_ssize_t node, Py_ssize_t offset)
{
	if (node < 0 || node >= w->r->n) {
		PyErr_Format(PyExc_IndexError, "no node %zd", node);
		return -1;
	}
	w->npath = 0;
	return render(w, node, &w->payload, offset, 0);
}

/* The value of node at offset of the payload, as a str; the walk's missing flag
 * is passed on to ctx.missing (only ever set, as Python sets it). */
static PyObject *walk_value(Walk *w, Py_ssize_t node, Py_ssize_t offset)
{
	w->len = 0;
	if (walk_render(w, node, offset) < 0)
		return NULL;
	if (w->missing && PyObject_SetAttr(w->ctx, attr_missing, Py_True) < 0)
		return NULL;
	return PyUnicode_DecodeUTF8(w->out, w->len, "surrogatepass");
}

/* Renderer.value(node, offset, ctx): VariablePlan.text of a variable without holes,
 * or None when the walk is declined. */
static PyObject *renderer_value(Renderer *r, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "value(node, offset, ctx)");
		return NULL;
	}
	Py_ssize_t node = PyLong_AsSsize_t(args[0]);
	Py_ssize_t offset = PyLong_AsSsize_t(args[1]);
	PyObject *ctx = args[2];
	if (PyErr_Occurred())
		return NULL;
	Walk w;
	int rc = walk_begin(&w, r, ctx);
	PyObject *text = rc > 0 ? walk_value(&w, node, offset) : NULL;
	walk_end(&w);
	if (rc == 0)
		Py_RETURN_NONE;
	return text;
}

/* Renderer.scope(nodes, offsets, ctx): the texts of a scope's variables (the
 * generated group of plans._group), or None when the walk is declined. */
static PyObject *renderer_scope(Renderer *r, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 3 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "scope(nodes: tuple, offsets: tuple, ctx)");
		return NULL;
	}
	PyObject *nodes = args[0], *offsets = args[1], *ctx = args[2];
	Py_ssize_t n = PyTuple_GET_SIZE(nodes);
	if (PyTuple_GET_SIZE(offsets) != n) {
		PyErr_SetString(PyExc_ValueError, "as many offsets as nodes");
		return NULL;
	}
	Walk w;
	int rc = walk_begin(&w, r, ctx);
	PyObject *texts = NULL;
	if (rc > 0 && (texts = PyList_New(n))) {
		for (Py_ssize_t i = 0; i < n; i++) {
			Py_ssize_t node = PyLong_AsSsize_t(PyTuple_GET_ITEM(nodes, i));
			Py_ssize_t offset = PyLong_AsSsize_t(PyTuple_GET_ITEM(offsets, i));
			PyObject *text = PyErr_Occurred() ? NULL : walk_value(&w, node, offset);
			if (!text) {
				Py_CLEAR(texts);
				break;
			}
			PyList_SET_ITEM(texts, i, text);
		}
	}
	walk_end(&w);
	if (rc == 0)
		Py_RETURN_NONE;
	return texts;
}

static PyMethodDef renderer_methods[] = {
	{"extend", (PyCFunction)renderer_extend, METH_O,
	 "extend(specs): append nodes (see stages/decode/native.py)."},
	{"value", (PyCFunction)(void (*)(void))renderer_value, METH_FASTCALL,
	 "value(node, offset, ctx): the JSON text of a root value, or None."},
	{"scope", (PyCFunction)(void (*)(void))renderer_scope, METH_FASTCALL,
	 "scope(nodes, offsets, ctx): the JSON texts of root values, or None."},
	{NULL, NULL, 0, NULL},
};

PyTypeObject RendererType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages.decode._render.Renderer",
	.tp_doc = "Renders values from a table of nodes, one per IR type (see native.py).",
	.tp_basicsize = sizeof(Renderer),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)renderer_init,
	.tp_dealloc = (destructor)renderer_dealloc,
	.tp_traverse = (traverseproc)renderer_traverse,
	.tp_clear = (inquiry)renderer_clear,
	.tp_methods = renderer_methods,
};

static PyMethodDef module_methods[] = {
	{"index_blocks", index_blocks, METH_VARARGS,
	 "index_blocks(payload, pos, type_sizes): (BlockIndex, short bit) or None."},
	{"crc32", crc32_function, METH_VARARGS,
	 "crc32(data, crc=0): the CRC-32 dump records carry, as zlib.crc32 computes it."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "stages.decode._render",
	.m_doc = "The decode fast path: block indexing and value rendering in C.",
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__render(void)
{
	if (PyType_Ready(&BlockIndexType) < 0 || PyType_Ready(&RendererType) < 0 ||
	    PyType_Ready(&SnapshotsType) < 0 || PyType_Ready(&SummariesType) < 0)
		return NULL;
	if (!empty_bytes && !(empty_bytes = PyBytes_FromStringAndSize("", 0)))
		return NULL;
	if (!empty_tuple && !(empty_tuple = PyTuple_New(0)))
		return NULL;
	PyObject **attrs[] = {&attr_payload, &attr_blocks, &attr_path, &attr_missing,
			      &attr_levels};
	const char *attr_names[] = {"payload", "blocks", "path", "missing", "levels"};
	for (int i = 0; i < 5; i++)
		if (!*attrs[i] && !(*attrs[i] = PyUnicode_InternFromString(attr_names[i])))
			return NULL;
	for (int i = 0; i < 4; i++)
		if (!attr_limits[i] && !(attr_limits[i] = PyUnicode_InternFromString(limit_names[i])))
			return NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	static const struct {
		const char *name;
		int value;
	} kinds[] = {
		{"K_CONST", K_CONST},     {"K_BOOL", K_BOOL},       {"K_INT", K_INT},
		{"K_CACHED", K_CACHED},   {"K_STRING", K_STRING},   {"K_STRUCT", K_STRUCT},
		{"K_ARRAY", K_ARRAY},     {"K_SLICE", K_SLICE},     {"K_POINTER", K_POINTER},
		{"K_PYTHON", K_PYTHON},   {"K_ADDRESS", K_ADDRESS}, {"K_FUNC", K_FUNC},
		{"K_IFACE", K_IFACE},     {"K_MAP", K_MAP},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (PyModule_AddIntConstant(m, kinds[i].name, kinds[i].value) < 0)
			goto error;
	if (PyModule_AddObjectRef(m, "BlockIndex", (PyObject *)&BlockIndexType) < 0 ||
	    PyModule_AddObjectRef(m, "Renderer", (PyObject *)&RendererType) < 0 ||
	    PyModule_AddObjectRef(m, "Snapshots", (PyObject *)&SnapshotsType) < 0 ||
	    PyModule_AddObjectRef(m, "Summaries", (PyObject *)&SummariesType) < 0)
		goto error;
	return m;
error:
	Py_DECREF(m);
	return NULL;
}
