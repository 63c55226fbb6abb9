/* Values backed by runtime structures, rendered in C: unsafe.Pointer (and
 * pointers whose target DWARF omits), funcs, interfaces and swiss-table maps.
 *
 * Each mirrors its Python renderer, the reference: values._compile_unsafe_pointer,
 * runtime_values.compile_func, compile_interface and compile_map (with
 * _swiss_entries), for values without holes (those render in Python). What only
 * Python knows is asked once and cached: the text of a func's code pointer (the
 * symbol table), the node of an interface's dynamic type (the IR's runtime type
 * descriptors, its node made on first use: nodes never move, see NODE_CHUNK),
 * and whether a map's string key names a redacted identifier (a key BPF's key
 * guard marked, KEY_REDACTED, is redacted without asking). Maps of the bucket
 * layout (Go <= 1.23), channels and time.Time stay with their Python renderers.
 * Like theirs, a map's hop and an interface's to a value behind its data word go
 * on the walk's path (cut with "circular reference" when met again) and every
 * hop adds its JSON levels (cut with "depth" past GODI_MAX_LEVELS); a value
 * stored in the interface directly spends a level of depth unless its
 * abi.direct_leaf is a pointer, and a zero-size value renders from no bytes.
 *
 * As in _render.c, nothing read from the event is trusted: every read is checked
 * against its buffer.
 */

#include "_render.h"

#define CACHED 4096 /* values._SEEN_LIMIT: entries of a cache before it starts over */

/* The offsets and capture types of a swiss-table map (ir.SwissMapLayout). */
enum {
	M_USED,
	M_DIR_PTR,
	M_DIR_LEN,
	M_GROUPS_DATA,
	M_GROUPS_MASK,
	M_GROUP_SIZE,
	M_CTRL,
	M_GROUP_SLOTS,
	M_SLOTS,
	M_SLOT_SIZE,
	M_KEY,
	M_ELEM,
	M_CTRL_EMPTY,
	M_KEY_INDIRECT,
	M_ELEM_INDIRECT,
	M_KEY_SIZE, /* bytes of a key, of an element, in their slot */
	M_ELEM_SIZE,
	M_GROUP_IX, /* capture types: -1 none */
	M_TABLE_IX,
	M_DIR_IX,
	M_COUNT,
};

/* A key text already asked about, and the answer (redacted_key). */
typedef struct {
	uint64_t hash;
	char *text; /* NULL: empty slot */
	Py_ssize_t len;
	int redacted;
} KeyMemo;

#define KEY_MEMO 512      /* slots, by the text's hash (the last text wins a slot) */
#define KEY_MEMO_TEXT 256 /* longer key texts are not kept */

typedef struct MapSpec {
	long long v[M_COUNT];
	uint32_t *keys, *values; /* capture types holding indirect keys, values */
	Py_ssize_t nkeys, nvalues;
	int string_key;
	Text redacted; /* a redacted entry's value */
	KeyMemo *memo; /* string keys: KEY_MEMO slots */
} MapSpec;

static int take_types(PyObject *seq, uint32_t **out, Py_ssize_t *n)
{
	PyObject *fast = PySequence_Fast(seq, "capture types are a sequence");
	if (!fast)
		return -1;
	*n = PySequence_Fast_GET_SIZE(fast);
	*out = PyMem_Calloc((size_t)*n + 1, sizeof(uint32_t));
	if (!*out) {
		Py_DECREF(fast);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < *n; i++) {
		unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
		if (PyErr_Occurred() || v > UINT32_MAX) {
			Py_DECREF(fast);
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_ValueError, "capture type index out of range");
			return -1;
		}
		(*out)[i] = (uint32_t)v;
	}
	Py_DECREF(fast);
	return 0;
}

static int take_map(Renderer *r, Node *nd, PyObject *rest)
{
	PyObject *kcap, *vcap, *redacted, *call, *offsets;
	int string_key;
	if (!PyArg_ParseTuple(rest, "nnLOOpSOO!LL", &nd->elem, &nd->value, &nd->ix, &kcap, &vcap,
			      &string_key, &redacted, &call, &PyTuple_Type, &offsets, &nd->elem_id,
			      &nd->levels))
		return -1;
	if (nd->levels <= 0) {
		PyErr_SetString(PyExc_ValueError, "a map's hop adds no levels");
		return -1;
	}
	if (PyTuple_GET_SIZE(offsets) != M_COUNT) {
		PyErr_SetString(PyExc_ValueError, "a map's layout has the wrong length");
		return -1;
	}
	MapSpec *m = PyMem_Calloc(1, sizeof(MapSpec));
	if (!m) {
		PyErr_NoMemory();
		return -1;
	}
	nd->map = m;
	for (int i = 0; i < M_COUNT; i++) {
		m->v[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(offsets, i));
		if (m->v[i] == -1 && PyErr_Occurred())
			return -1;
		/* offsets and sizes: small and non-negative; capture types may be -1 */
		if (m->v[i] < (i >= M_GROUP_IX ? -1 : 0) || m->v[i] > INT32_MAX) {
			PyErr_SetString(PyExc_ValueError, "a map's layout is out of range");
			return -1;
		}
	}
	if (nd->ix < 0 || nd->ix > UINT32_MAX || m->v[M_GROUP_SIZE] < 1) {
		PyErr_SetString(PyExc_ValueError, "a map without header or groups");
		return -1;
	}
	m->string_key = string_key;
	if (string_key && !(m->memo = PyMem_Calloc(KEY_MEMO, sizeof(KeyMemo)))) {
		PyErr_NoMemory();
		return -1;
	}
	if (take_types(kcap, &m->keys, &m->nkeys) < 0 ||
	    take_types(vcap, &m->values, &m->nvalues) < 0 ||
	    keep_text(r->keep, redacted, &m->redacted) < 0)
		return -1;
	nd->call = Py_NewRef(call);
	nd->cache = PyDict_New();
	return nd->cache ? 0 : -1;
}

/* The rest of a node's spec (after kind, size, head) for _runtime.c's kinds. */
int take_runtime_node(Renderer *r, Node *nd, PyObject *rest)
{
	PyObject *call;
	switch (nd->kind) {
	case K_ADDRESS:
		return PyArg_ParseTuple(rest, "") && nd->size >= 8 ? 0 : -1;
	case K_FUNC:
		if (!PyArg_ParseTuple(rest, "LO", &nd->ix, &call))
			return -1;
		if (nd->size < 8 || nd->ix > UINT32_MAX)
			return -1;
		nd->call = Py_NewRef(call);
		nd->cache = PyDict_New();
		return nd->cache ? 0 : -1;
	case K_IFACE:
		if (!PyArg_ParseTuple(rest, "pL", &nd->empty, &nd->ix))
			return -1;
		return nd->ix <= UINT32_MAX ? 0 : -1;
	case K_MAP:
		return take_map(r, nd, rest);
	default:
		return -1;
	}
}

void runtime_node_clear(Node *nd)
{
	Py_CLEAR(nd->cache);
	Py_CLEAR(nd->call);
	if (nd->map) {
		PyMem_Free(nd->map->keys);
		PyMem_Free(nd->map->values);
		if (nd->map->memo)
			for (int i = 0; i < KEY_MEMO; i++)
				PyMem_Free(nd->map->memo[i].text);
		PyMem_Free(nd->map->memo);
		PyMem_Free(nd->map);
		nd->map = NULL;
	}
}

void dyns_clear(Renderer *r)
{
	for (Py_ssize_t i = 0; i < r->ndyns; i++)
		PyMem_Free(r->dyns[i].capture);
	PyMem_Free(r->dyns);
	r->dyns = NULL;
	r->ndyns = r->capdyns = 0;
	Py_CLEAR(r->dynamic);
	Py_CLEAR(r->heap);
	Py_CLEAR(r->dyn_index);
}

/* runtime_values._valid */
static inline int valid(const Entry *e)
{
	return e && !(e->flags & BLOCK_FLAG_READ_FAILED) && e->count > 0;
}

/* runtime_values._readable: at least the head of an element */
static inline int readable(const Entry *e)
{
	return e && !(e->flags & BLOCK_FLAG_READ_FAILED) &&
	       (e->count > 0 || e->flags & BLOCK_FLAG_PARTIAL);
}

static inline const Entry *find(const Walk *w, uint64_t addr, long long ix)
{
	return ix >= 0 ? bi_find(w->blocks, addr, (uint32_t)ix) : NULL;
}

/* The word at off of the payload into out: 0, or -1 (an error) past its end. */
static int word_at(const Walk *w, Py_ssize_t off, uint64_t *out)
{
	if (overrun(off, 8, &w->payload))
		return -1;
	read_le(w->payload.p + off, 8, out);
	return 0;
}

static int put_reason(Walk *w, const Node *nd, const char *reason)
{
	return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"notCapturedReason\":\"") < 0 ||
			       put(w, reason, (Py_ssize_t)strlen(reason)) < 0 || PUT_LIT(w, "\"}") < 0
		       ? -1
		       : 0;
}

static int put_null(Walk *w, const Node *nd)
{
	return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"isNull\":true}") < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ funcs, addresses */

/* values._compile_unsafe_pointer's render_address */
static int render_address(Walk *w, const Node *nd, uint64_t addr)
{
	if (!addr)
		return put_null(w, nd);
	char address[40];
	Py_ssize_t n = address_text(address, addr);
	return PUT_TEXT(w, nd->head) < 0 || put(w, address, n) < 0 || PUT_LIT(w, "}") < 0 ? -1 : 0;
}

/* A value of a cache (a dict of at most CACHED entries) or of call(key). */
static PyObject *cached(PyObject *cache, PyObject *call, PyObject *key)
{
	PyObject *v = PyDict_GetItemWithError(cache, key);
	if (v)
		return Py_NewRef(v);
	if (PyErr_Occurred())
		return NULL;
	v = PyObject_CallOneArg(call, key);
	if (!v)
		return NULL;
	if (PyDict_GET_SIZE(cache) >= CACHED)
		PyDict_Clear(cache);
	if (PyDict_SetItem(cache, key, v) < 0)
		Py_CLEAR(v);
	return v;
}

/* runtime_values.compile_func's render_func */
static int render_func(Walk *w, const Node *nd, uint64_t addr)
{
	if (!addr)
		return put_null(w, nd);
	const Entry *block = find(w, addr, nd->ix);
	if (!valid(block)) {
		w->missing |= !block;
		return put_reason(w, nd, "unavailable");
	}
	uint64_t pc;
	if (word_at(w, block->start, &pc) < 0)
		return -1;
	PyObject *key = PyLong_FromUnsignedLongLong(pc);
	if (!key)
		return -1;
	PyObject *text = cached(nd->cache, nd->call, key);
	Py_DECREF(key);
	if (!text)
		return -1;
	int rc = PyUnicode_Check(text) ? put_str(w, text) : -1;
	if (rc < 0 && !PyErr_Occurred())
		PyErr_SetString(PyExc_TypeError, "a func's text is not a str");
	Py_DECREF(text);
	return rc;
}

/* ------------------------------------------------------------------ interfaces */

/* The dynamic type of descriptor into *out: 1 found, 0 no IR type (missing type
 * information), -1 error. */
static int dynamic_type(Renderer *r, uint64_t descriptor, Dyn *out)
{
	PyObject *key = PyLong_FromUnsignedLongLong(descriptor);
	if (!key)
		return -1;
	PyObject *ix = PyDict_GetItemWithError(r->dyn_index, key);
	if (ix) {
		Py_DECREF(key);
		if (ix == Py_None)
			return 0;
		*out = r->dyns[PyLong_AsSsize_t(ix)];
		return 1;
	}
	if (PyErr_Occurred() || r->dynamic == Py_None) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_RuntimeError, "a Renderer without dynamic types");
		Py_DECREF(key);
		return -1;
	}
	/* Python makes the type's nodes (Renderer.extend, from inside this walk) */
	PyObject *found = PyObject_CallOneArg(r->dynamic, key);
	int rc = -1;
	PyObject *value = NULL;
	if (!found)
		goto done;
	if (found == Py_None) {
		value = Py_NewRef(Py_None);
		rc = 0;
	} else {
		Dyn d = {0};
		PyObject *capture, *text;
		if (!PyArg_ParseTuple(found, "npOSLLpp", &d.node, &d.direct, &capture, &text,
				      &d.type, &d.levels, &d.pointer, &d.zero))
			goto done;
		if (d.node < 0 || d.node >= r->n) {
			PyErr_SetString(PyExc_IndexError, "a dynamic type's node is unknown");
			goto done;
		}
		if (d.levels <= 0) {
			PyErr_SetString(PyExc_ValueError, "a dynamic type's hop adds no levels");
			goto done;
		}
		if (r->ndyns == r->capdyns) {
			Py_ssize_t cap = r->capdyns ? r->capdyns * 2 : 64;
			Dyn *dyns = PyMem_Realloc(r->dyns, (size_t)cap * sizeof(Dyn));
			if (!dyns) {
				PyErr_NoMemory();
				goto done;
			}
			r->dyns = dyns;
			r->capdyns = cap;
		}
		if (take_types(capture, &d.capture, &d.ncapture) < 0)
			goto done;
		if (keep_text(r->keep, text, &d.unavailable) < 0) {
			PyMem_Free(d.capture);
			goto done;
		}
		value = PyLong_FromSsize_t(r->ndyns);
		if (!value) {
			PyMem_Free(d.capture);
			goto done;
		}
		r->dyns[r->ndyns++] = d;
		*out = d;
		rc = 1;
	}
	if (PyDict_SetItem(r->dyn_index, key, value) < 0)
		rc = -1;
done:
	Py_XDECREF(value);
	Py_XDECREF(found);
	Py_DECREF(key);
	return rc;
}

/* An interface holding a value of a type reflect made on the heap: the text
 * heaptypes.HeapTypes.interface makes of it (one parser, in Python) put; 1 put,
 * 0 not such a type (or one it cannot name), -1 error. */
static int render_heap_iface(Walk *w, const Node *nd, uint64_t descriptor, long long depth)
{
	Renderer *r = w->r;
	if (!r->heap || r->heap == Py_None)
		return 0;
	int deep = depth >= w->max_depth || w->levels + 3 > GODI_MAX_LEVELS;
	PyObject *blocks = w->blocks_obj ? Py_NewRef(w->blocks_obj) : PyDict_New();
	PyObject *payload = w->payload.obj ? w->payload.obj : empty_bytes;
	if (!blocks)
		return -1;
	PyObject *text = PyObject_CallFunction(r->heap, "Ks#OOO", (unsigned long long)descriptor,
					       nd->head.s, nd->head.n, payload, blocks,
					       deep ? Py_True : Py_False);
	Py_DECREF(blocks);
	if (!text)
		return -1;
	int rc = 0;
	if (PyUnicode_Check(text))
		rc = put_str(w, text) < 0 ? -1 : 1;
	else if (text != Py_None) {
		PyErr_SetString(PyExc_TypeError, "a heap type's text is not a str");
		rc = -1;
	}
	Py_DECREF(text);
	return rc;
}

/* runtime_values.compile_interface's render_interface */
static int render_iface(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	uint64_t word, data;
	if (overrun(off, 16, b))
		return -1;
	read_le(read_le(b->p + off, 8, &word), 8, &data);
	if (!word)
		return put_null(w, nd);
	uint64_t descriptor = word;
	if (!nd->empty) {
		const Entry *itab = find(w, word, nd->ix);
		if (!valid(itab)) {
			w->missing = 1;
			return put_reason(w, nd, "unavailable");
		}
		if (word_at(w, itab->start + 8, &descriptor) < 0)
			return -1;
	}
	Dyn dyn = {0};
	int found = dynamic_type(w->r, descriptor, &dyn);
	if (found == 0) {
		int made = render_heap_iface(w, nd, descriptor, depth);
		if (made != 0)
			return made < 0 ? -1 : 0;
	}
	if (found <= 0)
		return found < 0 ? -1 : put_reason(w, nd, "missing type information");
	if (depth >= w->max_depth || w->levels + dyn.levels > GODI_MAX_LEVELS)
		return put_reason(w, nd, "depth");
	int rc;
	if (dyn.zero) {
		/* A zero-size value (struct{}, [0]int): nothing to read, and its data
		 * word points at runtime.zerobase, which the walker does not copy. */
		if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"fields\":{\"data\":") < 0)
			return -1;
		if (Py_EnterRecursiveCall(" while rendering an interface"))
			return -1;
		Buf none = {empty_bytes, (const unsigned char *)"", 0};
		w->levels += dyn.levels;
		rc = render(w, dyn.node, &none, 0, depth + 1);
		w->levels -= dyn.levels;
		Py_LeaveRecursiveCall();
	} else if (dyn.direct) {
		/* The data word is the value: a pointer (or a struct or array of one)
		 * renders its pointee one level down, which is the level the interface
		 * hop reaches; a map, a chan or a func (or a struct or array of one) has
		 * no pointee of its own: the walker copied what it refers to at the
		 * hop's level, so it is rendered one level down. */
		unsigned char bytes[8];
		for (int i = 0; i < 8; i++)
			bytes[i] = (unsigned char)(data >> (8 * i));
		if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"fields\":{\"data\":") < 0)
			return -1;
		PyObject *obj = PyBytes_FromStringAndSize((const char *)bytes, 8);
		if (!obj)
			return -1;
		if (Py_EnterRecursiveCall(" while rendering an interface")) {
			Py_DECREF(obj);
			return -1;
		}
		Buf word_buf = {obj, (const unsigned char *)PyBytes_AS_STRING(obj), 8};
		w->levels += dyn.levels;
		rc = render(w, dyn.node, &word_buf, 0, dyn.pointer ? depth : depth + 1);
		w->levels -= dyn.levels;
		Py_LeaveRecursiveCall();
		Py_DECREF(obj);
	} else {
		const Entry *block = NULL;
		for (Py_ssize_t i = 0; i < dyn.ncapture; i++) {
			block = bi_find(w->blocks, data, dyn.capture[i]);
			if (valid(block))
				break;
		}
		if (!valid(block)) {
			w->missing = 1;
			rc = PUT_TEXT(w, nd->head) < 0 ||
					     PUT_LIT(w, ",\"fields\":{\"data\":") < 0 ||
					     PUT_TEXT(w, dyn.unavailable) < 0
				     ? -1
				     : 0;
		} else {
			/* the value at data: what a pointer to it is keyed by */
			if (path_has(w, data, dyn.type))
				return put_reason(w, nd, "circular reference");
			if (PUT_TEXT(w, nd->head) < 0 ||
			    PUT_LIT(w, ",\"fields\":{\"data\":") < 0 ||
			    path_push(w, data, dyn.type, dyn.levels) < 0)
				return -1;
			rc = render(w, dyn.node, &w->payload, block->start, depth + 1);
			path_pop(w, dyn.levels);
		}
	}
	return rc < 0 || PUT_LIT(w, "}}") < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ maps */

/* One map being rendered: its entries so far, and whether the limit stopped it. */
typedef struct {
	Walk *w;
	const Node *nd;
	const MapSpec *m;
	long long depth;
	Py_ssize_t entries;
	int stop;
} MapWalk;

/* runtime_values._indirect: the block of the value behind the pointer at off. */
static int indirect(MapWalk *mw, Py_ssize_t off, const uint32_t *types, Py_ssize_t n,
		    Py_ssize_t *at)
{
	uint64_t ptr;
	if (word_at(mw->w, off, &ptr) < 0)
		return -1;
	for (Py_ssize_t i = 0; i < n; i++) {
		const Entry *e = bi_find(mw->w->blocks, ptr, types[i]);
		if (valid(e)) {
			*at = e->start;
			return 1;
		}
	}
	return 0;
}

static inline uint64_t text_hash(const char *p, Py_ssize_t n)
{
	uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ull;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		h = (h ^ x) * 0xBF58476D1CE4E5B9ull;
		h ^= h >> 31;
	}
	uint64_t x = 0;
	memcpy(&x, p, (size_t)n);
	h = (h ^ x) * 0x94D049BB133111EBull;
	return h ^ (h >> 29);
}

/* Whether a string key's text shows a redacted identifier (Python's answer,
 * cached by the text in a dict, and the recent ones in m->memo without making a
 * bytes object): 1, 0, or -1 on error. */
static int redacted_key(MapWalk *mw, Py_ssize_t at)
{
	Walk *w = mw->w;
	const char *text = w->out + at;
	Py_ssize_t n = w->len - at;
	uint64_t h = text_hash(text, n);
	KeyMemo *slot = &mw->m->memo[h & (KEY_MEMO - 1)];
	if (slot->text && slot->hash == h && slot->len == n && memcmp(slot->text, text, (size_t)n) == 0)
		return slot->redacted;
	PyObject *key = PyBytes_FromStringAndSize(text, n);
	if (!key)
		return -1;
	PyObject *hit = cached(mw->nd->cache, mw->nd->call, key);
	Py_DECREF(key);
	if (!hit)
		return -1;
	int rc = PyObject_IsTrue(hit);
	Py_DECREF(hit);
	if (rc >= 0 && n <= KEY_MEMO_TEXT) {
		char *copy = slot->len >= n && slot->text ? slot->text : PyMem_Realloc(slot->text, (size_t)n + 1);
		if (copy) {
			memcpy(copy, w->out + at, (size_t)n);
			slot->text = copy;
			slot->hash = h;
			slot->len = n;
			slot->redacted = rc;
		}
	}
	return rc;
}

/* A key the BPF key guard marked redacted (KEY_REDACTED in its length word, its
 * value zeroed in the copy): the key rendered without the mark, from a copy of its
 * header (runtime_values._unmarked); its value is never read. */
static int marked_key(MapWalk *mw, Py_ssize_t k, uint64_t len)
{
	Walk *w = mw->w;
	unsigned char header[16];
	if (overrun(k, 8, &w->payload))
		return -1;
	memcpy(header, w->payload.p + k, 8);
	len &= ~KEY_REDACTED;
	for (int i = 0; i < 8; i++)
		header[8 + i] = (unsigned char)(len >> (8 * i));
	PyObject *obj = PyBytes_FromStringAndSize((const char *)header, sizeof(header));
	if (!obj)
		return -1;
	Buf key = {obj, (const unsigned char *)PyBytes_AS_STRING(obj), sizeof(header)};
	int rc = render(w, mw->nd->elem, &key, 0, mw->depth);
	Py_DECREF(obj);
	return rc;
}

/* One full slot: [key,value] appended, or the map stopped at its limit. */
static int entry(MapWalk *mw, Py_ssize_t key_off, Py_ssize_t value_off)
{
	Walk *w = mw->w;
	const MapSpec *m = mw->m;
	Py_ssize_t k = key_off, v = value_off;
	if (m->v[M_KEY_INDIRECT]) {
		int rc = indirect(mw, key_off, m->keys, m->nkeys, &k);
		if (rc <= 0) {
			w->missing |= rc == 0;
			return rc;
		}
	}
	if (m->v[M_ELEM_INDIRECT]) {
		int rc = indirect(mw, value_off, m->values, m->nvalues, &v);
		if (rc <= 0) {
			w->missing |= rc == 0;
			return rc;
		}
	}
	if (mw->entries >= w->max_collection) {
		mw->stop = 1;
		return 0;
	}
	if ((mw->entries && PUT_LIT(w, ",") < 0) || PUT_LIT(w, "[") < 0)
		return -1;
	if (m->string_key) {
		uint64_t len;
		if (word_at(w, k + 8, &len) < 0)
			return -1;
		if (len & KEY_REDACTED) {
			if (marked_key(mw, k, len) < 0 || PUT_LIT(w, ",") < 0 ||
			    PUT_TEXT(w, m->redacted) < 0)
				return -1;
			mw->entries++;
			return PUT_LIT(w, "]");
		}
	}
	Py_ssize_t key_at = w->len;
	if (render(w, mw->nd->elem, &w->payload, k, mw->depth) < 0)
		return -1;
	Py_ssize_t key_end = w->len;
	if (PUT_LIT(w, ",") < 0 || render(w, mw->nd->value, &w->payload, v, mw->depth) < 0)
		return -1;
	if (m->string_key) {
		Py_ssize_t len = w->len;
		w->len = key_end;
		int hit = redacted_key(mw, key_at);
		w->len = len;
		if (hit < 0)
			return -1;
		if (hit) {
			w->len = key_end + 1;
			if (PUT_TEXT(w, m->redacted) < 0)
				return -1;
		}
	}
	mw->entries++;
	return PUT_LIT(w, "]");
}

/* _swiss_entries' groups(addr, n) */
static int groups(MapWalk *mw, uint64_t addr, uint64_t n)
{
	Walk *w = mw->w;
	const MapSpec *m = mw->m;
	if (m->v[M_GROUP_IX] < 0 || addr == 0)
		return 0;
	const Entry *block = find(w, addr, m->v[M_GROUP_IX]);
	if (!readable(block)) {
		w->missing = 1;
		return 0;
	}
	/* runtime_values._elements: the whole groups, and the head of a partly read one */
	uint64_t have = (uint64_t)block->count + (block->flags & BLOCK_FLAG_PARTIAL ? 1 : 0);
	uint64_t count = n < have ? n : have;
	Py_ssize_t size = (Py_ssize_t)m->v[M_GROUP_SIZE], slots = (Py_ssize_t)m->v[M_GROUP_SLOTS];
	for (uint64_t i = 0; i < count && !mw->stop; i++) {
		Py_ssize_t base = block->start + (Py_ssize_t)i * size;
		Py_ssize_t end = base + size < block->end ? base + size : block->end;
		Py_ssize_t ctrl = base + (Py_ssize_t)m->v[M_CTRL];
		if (ctrl + slots > end) {
			w->missing = 1; /* a partly read group without its control word */
			continue;
		}
		if (overrun(ctrl, slots, &w->payload))
			return -1;
		for (Py_ssize_t j = 0; j < slots && !mw->stop; j++) {
			if (w->payload.p[ctrl + j] & m->v[M_CTRL_EMPTY])
				continue; /* empty or deleted */
			Py_ssize_t slot = base + (Py_ssize_t)(m->v[M_SLOTS] + j * m->v[M_SLOT_SIZE]);
			Py_ssize_t k = slot + (Py_ssize_t)m->v[M_KEY], v = slot + (Py_ssize_t)m->v[M_ELEM];
			if (k + (Py_ssize_t)m->v[M_KEY_SIZE] > end ||
			    v + (Py_ssize_t)m->v[M_ELEM_SIZE] > end) {
				w->missing = 1;
				continue;
			}
			if (entry(mw, k, v) < 0)
				return -1;
		}
	}
	return 0;
}

/* _swiss_entries' tables and entries: every full slot of the map at header. */
static int swiss_entries(MapWalk *mw, Py_ssize_t header)
{
	Walk *w = mw->w;
	const MapSpec *m = mw->m;
	uint64_t dir_ptr, dir_len;
	if (word_at(w, header + (Py_ssize_t)m->v[M_DIR_PTR], &dir_ptr) < 0 ||
	    word_at(w, header + (Py_ssize_t)m->v[M_DIR_LEN], &dir_len) < 0)
		return -1;
	if (dir_len == 0)
		return groups(mw, dir_ptr, 1);
	if (m->v[M_DIR_IX] < 0 || m->v[M_TABLE_IX] < 0)
		return 0;
	const Entry *directory = find(w, dir_ptr, m->v[M_DIR_IX]);
	if (!valid(directory)) {
		w->missing = 1;
		return 0;
	}
	uint64_t *seen = PyMem_Malloc(((size_t)directory->count + 1) * sizeof(uint64_t));
	if (!seen) {
		PyErr_NoMemory();
		return -1;
	}
	Py_ssize_t nseen = 0;
	int rc = 0;
	for (uint32_t i = 0; i < directory->count && !mw->stop; i++) {
		uint64_t table;
		if ((rc = word_at(w, directory->start + (Py_ssize_t)i * 8, &table)) < 0)
			break;
		int again = 0;
		for (Py_ssize_t k = 0; k < nseen && !again; k++)
			again = seen[k] == table;
		if (again)
			continue; /* several directory entries may share a table */
		seen[nseen++] = table;
		const Entry *tb = find(w, table, m->v[M_TABLE_IX]);
		if (!valid(tb)) {
			w->missing = 1;
			continue;
		}
		uint64_t data, mask;
		if ((rc = word_at(w, tb->start + (Py_ssize_t)m->v[M_GROUPS_DATA], &data)) < 0 ||
		    (rc = word_at(w, tb->start + (Py_ssize_t)m->v[M_GROUPS_MASK], &mask)) < 0)
			break;
		if ((rc = groups(mw, data, mask == UINT64_MAX ? mask : mask + 1)) < 0)
			break;
	}
	PyMem_Free(seen);
	return rc;
}

/* runtime_values.compile_map's render_map */
static int render_map(Walk *w, const Node *nd, uint64_t addr, long long depth)
{
	if (!addr)
		return put_null(w, nd);
	const Entry *header = find(w, addr, nd->ix);
	if (!readable(header)) {
		w->missing = 1;
		return put_reason(w, nd, "unavailable");
	}
	/* read only up to a page never touched (PARTIAL), before the fields read here */
	Py_ssize_t read = header->end;
	if (header->start + 8 + (Py_ssize_t)nd->map->v[M_USED] > read) {
		w->missing = 1;
		return put_reason(w, nd, "unavailable");
	}
	uint64_t count;
	if (word_at(w, header->start + (Py_ssize_t)nd->map->v[M_USED], &count) < 0)
		return -1;
	Py_ssize_t needed = 8 + (Py_ssize_t)nd->map->v[M_DIR_PTR];
	if (8 + (Py_ssize_t)nd->map->v[M_DIR_LEN] > needed)
		needed = 8 + (Py_ssize_t)nd->map->v[M_DIR_LEN];
	if (header->start + needed > read) {
		if (count == 0) /* empty: its directory is not needed */
			return PUT_TEXT(w, nd->head) < 0 ||
					       PUT_LIT(w, ",\"entries\":[],\"size\":\"0\"}") < 0
				   ? -1
				   : 0;
		w->missing = 1;
		return put_reason(w, nd, "unavailable");
	}
	/* A map may hold itself (through an interface, or as its own value type). */
	int circular = path_has(w, addr, nd->elem_id);
	if (circular || w->levels + nd->levels > GODI_MAX_LEVELS)
		return PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"size\":\"") < 0 ||
			       put_u64(w, count) < 0 ||
			       (circular ? PUT_LIT(w, "\",\"notCapturedReason\":\"circular "
						      "reference\"}")
					 : PUT_LIT(w, "\",\"notCapturedReason\":\"depth\"}")) < 0
			   ? -1
			   : 0;
	if (PUT_TEXT(w, nd->head) < 0 || PUT_LIT(w, ",\"entries\":[") < 0)
		return -1;
	MapWalk mw = {w, nd, nd->map, depth, 0, 0};
	if (path_push(w, addr, nd->elem_id, nd->levels) < 0)
		return -1;
	int rc = swiss_entries(&mw, header->start);
	path_pop(w, nd->levels);
	if (rc < 0)
		return -1;
	uint64_t limit = (uint64_t)w->max_collection;
	uint64_t want = count < limit ? count : limit;
	uint64_t shown = (uint64_t)mw.entries;
	if (shown < want)
		w->missing = 1;
	if (PUT_LIT(w, "],\"size\":\"") < 0 || put_u64(w, count) < 0 || PUT_LIT(w, "\"") < 0)
		return -1;
	if (count > shown) {
		if (PUT_LIT(w, ",\"truncated\":true") < 0)
			return -1;
		/* fewer entries than the limit allows: some of the map's memory was
		 * not captured, and the value says so rather than look complete-but-cut */
		if ((count > limit ? PUT_LIT(w, ",\"notCapturedReason\":\"collectionSize\"")
				   : PUT_LIT(w, ",\"notCapturedReason\":\"unavailable\"")) < 0)
			return -1;
	}
	return PUT_LIT(w, "}");
}

/* A value of one of _runtime.c's kinds (its size checked against b by render). */
int render_runtime(Walk *w, const Node *nd, const Buf *b, Py_ssize_t off, long long depth)
{
	uint64_t word;
	if (nd->kind == K_IFACE)
		return render_iface(w, nd, b, off, depth);
	if (overrun(off, 8, b))
		return -1;
	read_le(b->p + off, 8, &word);
	switch (nd->kind) {
	case K_ADDRESS:
		return render_address(w, nd, word);
	case K_FUNC:
		return render_func(w, nd, word);
	case K_MAP:
		return render_map(w, nd, word, depth);
	default:
		PyErr_Format(PyExc_ValueError, "node of unknown kind %d", nd->kind);
		return -1;
	}
}
