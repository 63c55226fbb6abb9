/* Whole snapshots of simple probes, from the dump's bytes to their JSON, in C.
 *
 * Mirrors, for the events of "simple" probes, what DecodeRun does in Python: the
 * record's framing and event header (dump.RecordReader, events.parse_event), its
 * values (DecodeRun._hit), entries waiting for their return (DecodeRun._run),
 * the one-line message (DecodeRun._default_message), the captures
 * (envelope.entry_captures, line_captures) and the envelope (Envelope.snapshot).
 * stages/decode/fastpath.py says which probes are simple (no condition,
 * template, capture expression or generic dictionary, values rendering in C)
 * and hands over their texts.
 *
 * Snapshots.run() takes the whole records at the start of a buffer and stops at
 * the first it does not take: a record of another kind or probe, or a corrupt
 * one. Python decodes that one (and raises the DecodeError of a bad one), so
 * each record is decoded once, by one side, in dump order. The probes of one
 * call (an entry and its returns) are all decoded here or all in Python, so an
 * entry and its return meet on one side (events cut short by their capture
 * budget too: DecodeRun._truncated_hit); Snapshots.pending() hands over the
 * entries still waiting at the end. What is
 * not worked out here is asked of Python and cached: the message piece of a
 * value text not seen before (DecodeRun._piece), the JSON of a stack
 * (DecodeRun._stack_text), and the RenderContext a Python renderer takes
 * (fastpath.context).
 */

#include "_render.h"

#include "../_crc32.h"

/* mirrors stages/dump.py and stages/layout.py (bpf/godi_event.h): a record is a
 * sync marker, u32 kind, u32 length, u32 CRC-32 (of kind, length and payload) */
#define RECORD_PREFIX 16
#define RECORD_EVENT 1
static const unsigned char SYNC[4] = {0xd7, 'G', 'D', 'R'};
#define MAX_RECORD (1 << 24)
#define EVENT_HEADER_SIZE 64
#define EVENT_FLAG_TRUNCATED 1
#define OFFSET_BITS 48     /* envelope.OFFSET_BITS */
#define CACHED_TEXT 256    /* DecodeRun: _CACHED_TEXT */
#define LONG_TEXT 16384 /* a summary of a longer text renders the value again */
#define CACHED_PIECES 1024 /* _CACHED_PIECES */
#define CACHED_STACKS 4096 /* MAX_CACHED_STACKS */

static const char AFTER_GOID[] =
	",\"thread_name\":\"\"},\"debugger\":{\"type\":\"snapshot\",\"snapshot\":{\"id\":\"";

/* What a probe's events are (DecodeRun._run). */
enum {
	ROLE_ALONE,  /* a line probe, or the entry of a function without returns */
	ROLE_ENTRY,  /* an entry waiting for its return */
	ROLE_RETURN, /* a return, completing its entry */
};

enum { ARGUMENTS, LOCALS, RESULTS, SCOPES };

/* A scope's values: one node and payload offset per variable; its JSON object
 * (ScopePlan.object, .return_locals): open, the members (each a key and the index
 * of the text it shows), close. */
typedef struct {
	Py_ssize_t n;
	Py_ssize_t *nodes, *offsets;
	Py_ssize_t nmembers;
	Text *keys;
	Py_ssize_t *picks;
	Text open, close;
	Text *missing; /* per variable: its evaluation error when the event lacks its data */
} Scope;

/* A value the message shows (plans.Said): which text, and its pieces by text. */
typedef struct {
	PyObject *said;
	PyObject *pieces; /* dict: text (bytes) -> escaped piece (bytes) */
	int scope;
	Py_ssize_t index;
	Py_ssize_t summary; /* its type's node in Snapshots.summaries, -1: none */
	Text prefix;        /* escaped "name=" (or nothing) */
	long long limits[4]; /* the summary limits (message.summary_limits) */
} Said;

typedef struct {
	int present;
	int role;
	long long call; /* ROLE_ENTRY, ROLE_RETURN: the call's probe and function, numbered */
	Text message_head; /* escaped "function(" ("function()" for a return) */
	int captures;      /* capture_snapshot */
	Text captures_open, captures_close; /* ROLE_ALONE: around the scopes */
	Text before_goid, ref;
	int stacks;
	Py_ssize_t root_needed;
	long long limits[4];
	PyObject *capture; /* the probe's limits (spec.Capture), for a RenderContext */
	Scope scopes[SCOPES];
	Said *said;
	Py_ssize_t nsaid;
	long long taken; /* events decoded here since counts() */
	long long made, errors; /* snapshots made here (this probe's first hit) and
				   their evaluation errors, since made() */
} Probe;

typedef struct {
	PyObject_HEAD
	Renderer *renderer;
	long long *sizes;
	Py_ssize_t nsizes;
	Text start, id_prefix;
	Text truncated, no_entry, no_return; /* evaluation errors (EvaluationError JSON) */
	long long clock_offset_ns;
	PyObject *piece, *stack, *context;
	PyObject *summaries; /* _summary.c's Summaries, or None */
	PyObject *stacks;  /* dict: stack bytes -> JSON (bytes) */
	PyObject *waiting; /* dict: call key (bytes) -> Pending + texts (bytes) */
	Probe *probes;
	Py_ssize_t nprobes;
	PyObject *keep; /* the bytes objects texts point into */
	char *obuf, *wbuf, *sbuf; /* output buffers kept from one event to the next
				     (grown once): snapshot, values, summaries' values */
	Py_ssize_t ocap, wcap, scap;
} Snapshots;

#define KEPT_BUFFER (4 << 20) /* bigger buffers are not kept */

/* A walk's output buffer kept in *buf (*cap bytes) for the next walk, if it left
 * its stack and is not too big; the walk then ends on its stack. */
static void keep_buffer(Walk *w, char **buf, Py_ssize_t *cap)
{
	if (w->out == w->stack)
		return;
	if (w->cap <= KEPT_BUFFER && !*buf) {
		*buf = w->out;
		*cap = w->cap;
	} else {
		PyMem_Free(w->out);
	}
	w->out = w->stack;
	w->cap = sizeof(w->stack);
	w->len = 0;
}

/* A walk's output starting in the kept buffer, if any (the walk owns it then). */
static void use_buffer(Walk *w, char **buf, Py_ssize_t *cap)
{
	if (*buf) {
		w->out = *buf;
		w->cap = *cap;
		w->len = 0;
		*buf = NULL;
	}
}

/* An entry waiting for its return, followed by its message (escaped, up to the
 * closing parenthesis), its captures' entry members, its evaluation errors
 * (joined by commas) and its stack's PCs. */
typedef struct {
	long long offset;
	uint64_t ktime, goid;
	Py_ssize_t probe;
	Py_ssize_t message, members, errors, stack; /* lengths */
} Pending;

static void scope_clear(Scope *s)
{
	PyMem_Free(s->nodes);
	PyMem_Free(s->offsets);
	PyMem_Free(s->keys);
	PyMem_Free(s->picks);
	PyMem_Free(s->missing);
	memset(s, 0, sizeof(*s));
}

static void probe_clear(Probe *p)
{
	for (Py_ssize_t i = 0; i < p->nsaid; i++) {
		Py_CLEAR(p->said[i].said);
		Py_CLEAR(p->said[i].pieces);
	}
	PyMem_Free(p->said);
	p->said = NULL;
	p->nsaid = 0;
	Py_CLEAR(p->capture);
	for (int k = 0; k < SCOPES; k++)
		scope_clear(&p->scopes[k]);
	p->present = 0;
}

static int snapshots_clear(Snapshots *self)
{
	for (Py_ssize_t i = 0; i < self->nprobes; i++)
		probe_clear(&self->probes[i]);
	Py_CLEAR(self->renderer);
	Py_CLEAR(self->piece);
	Py_CLEAR(self->summaries);
	Py_CLEAR(self->stack);
	Py_CLEAR(self->context);
	Py_CLEAR(self->stacks);
	Py_CLEAR(self->waiting);
	Py_CLEAR(self->keep);
	return 0;
}

static void snapshots_dealloc(Snapshots *self)
{
	PyObject_GC_UnTrack(self);
	snapshots_clear(self);
	PyMem_Free(self->obuf);
	PyMem_Free(self->wbuf);
	PyMem_Free(self->sbuf);
	PyMem_Free(self->probes);
	PyMem_Free(self->sizes);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int snapshots_traverse(Snapshots *self, visitproc visit, void *arg)
{
	Py_VISIT(self->renderer);
	Py_VISIT(self->piece);
	Py_VISIT(self->summaries);
	Py_VISIT(self->stack);
	Py_VISIT(self->context);
	Py_VISIT(self->stacks);
	Py_VISIT(self->waiting);
	Py_VISIT(self->keep);
	for (Py_ssize_t i = 0; i < self->nprobes; i++) {
		Py_VISIT(self->probes[i].capture);
		for (Py_ssize_t j = 0; j < self->probes[i].nsaid; j++) {
			Py_VISIT(self->probes[i].said[j].said);
			Py_VISIT(self->probes[i].said[j].pieces);
		}
	}
	return 0;
}

/* A bytes object as a Text, kept alive by self->keep. */
static int take_text(Snapshots *self, PyObject *obj, Text *t)
{
	return keep_text(self->keep, obj, t);
}

/* Snapshots(renderer, type_sizes, start, id_prefix, clock_offset_ns, truncated,
 * no_entry, no_return, piece, stack, context) */
static int snapshots_init(Snapshots *self, PyObject *args, PyObject *kwds)
{
	PyObject *renderer, *sizes, *start, *id_prefix, *truncated, *no_entry, *no_return, *piece,
		*stack, *context, *summaries = Py_None;
	long long clock_offset;
	static char *kwlist[] = {"renderer",	 "type_sizes", "start",	  "id_prefix",
				 "clock_offset_ns", "truncated",  "no_entry", "no_return",
				 "piece",	 "stack",	 "context",  "summaries", NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!SSLSSSOOO|O", kwlist, &RendererType,
					 &renderer, &PyList_Type, &sizes, &start, &id_prefix,
					 &clock_offset, &truncated, &no_entry, &no_return, &piece,
					 &stack, &context, &summaries))
		return -1;
	if (self->keep) {
		PyErr_SetString(PyExc_RuntimeError, "Snapshots initialised twice");
		return -1;
	}
	if (!(self->keep = PyList_New(0)) || !(self->stacks = PyDict_New()) ||
	    !(self->waiting = PyDict_New()))
		return -1;
	self->nsizes = PyList_GET_SIZE(sizes);
	self->sizes = PyMem_Calloc((size_t)self->nsizes + 1, sizeof(long long));
	if (!self->sizes) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < self->nsizes; i++) {
		self->sizes[i] = PyLong_AsLongLong(PyList_GET_ITEM(sizes, i));
		if (self->sizes[i] == -1 && PyErr_Occurred())
			return -1;
	}
	if (take_text(self, start, &self->start) < 0 ||
	    take_text(self, id_prefix, &self->id_prefix) < 0 ||
	    take_text(self, truncated, &self->truncated) < 0 ||
	    take_text(self, no_entry, &self->no_entry) < 0 ||
	    take_text(self, no_return, &self->no_return) < 0)
		return -1;
	self->clock_offset_ns = clock_offset;
	self->renderer = (Renderer *)Py_NewRef(renderer);
	if (summaries != Py_None && !PyObject_TypeCheck(summaries, &SummariesType)) {
		PyErr_SetString(PyExc_TypeError, "summaries is a Summaries or None");
		return -1;
	}
	self->piece = Py_NewRef(piece);
	self->summaries = Py_NewRef(summaries);
	self->stack = Py_NewRef(stack);
	self->context = Py_NewRef(context);
	return 0;
}

static int take_indices(PyObject *seq, Py_ssize_t **out, Py_ssize_t n)
{
	*out = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
	if (!*out) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		(*out)[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(seq, i));
		if ((*out)[i] == -1 && PyErr_Occurred())
			return -1;
	}
	return 0;
}

/* A scope from (nodes, offsets, ((key, pick), ...), open, close, missing). */
static int take_scope(Snapshots *self, Scope *s, PyObject *spec)
{
	PyObject *nodes, *offsets, *members, *open, *close, *missing;
	if (!PyTuple_Check(spec)) {
		PyErr_SetString(PyExc_TypeError, "a scope is a tuple");
		return -1;
	}
	if (!PyArg_ParseTuple(spec, "O!O!O!SSO!", &PyTuple_Type, &nodes, &PyTuple_Type, &offsets,
			      &PyTuple_Type, &members, &open, &close, &PyTuple_Type, &missing))
		return -1;
	s->n = PyTuple_GET_SIZE(nodes);
	s->nmembers = PyTuple_GET_SIZE(members);
	if (PyTuple_GET_SIZE(offsets) != s->n || PyTuple_GET_SIZE(missing) != s->n) {
		PyErr_SetString(PyExc_ValueError, "as many offsets and errors as nodes");
		return -1;
	}
	s->missing = PyMem_Calloc((size_t)s->n + 1, sizeof(Text));
	if (!s->missing) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < s->n; i++)
		if (take_text(self, PyTuple_GET_ITEM(missing, i), &s->missing[i]) < 0)
			return -1;
	if (take_indices(nodes, &s->nodes, s->n) < 0 || take_indices(offsets, &s->offsets, s->n) < 0 ||
	    take_text(self, open, &s->open) < 0 || take_text(self, close, &s->close) < 0)
		return -1;
	for (Py_ssize_t i = 0; i < s->n; i++) {
		if (s->nodes[i] < 0 || s->nodes[i] >= self->renderer->n) {
			PyErr_Format(PyExc_IndexError, "no node %zd", s->nodes[i]);
			return -1;
		}
	}
	s->keys = PyMem_Calloc((size_t)s->nmembers + 1, sizeof(Text));
	s->picks = PyMem_Calloc((size_t)s->nmembers + 1, sizeof(Py_ssize_t));
	if (!s->keys || !s->picks) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < s->nmembers; i++) {
		PyObject *key;
		Py_ssize_t pick;
		if (!PyArg_ParseTuple(PyTuple_GET_ITEM(members, i), "Sn", &key, &pick) ||
		    take_text(self, key, &s->keys[i]) < 0)
			return -1;
		if (pick < 0 || pick >= s->n) {
			PyErr_SetString(PyExc_IndexError, "a member shows no variable's text");
			return -1;
		}
		s->picks[i] = pick;
	}
	return 0;
}

static int take_said(Snapshots *self, Probe *p, PyObject *seq)
{
	if (!PyTuple_Check(seq)) {
		PyErr_SetString(PyExc_TypeError, "said is a tuple");
		return -1;
	}
	Py_ssize_t n = PyTuple_GET_SIZE(seq);
	p->said = PyMem_Calloc((size_t)n + 1, sizeof(Said));
	if (!p->said) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		Said *s = &p->said[i];
		PyObject *said, *prefix;
		if (!PyArg_ParseTuple(PyTuple_GET_ITEM(seq, i), "OinnS", &said, &s->scope, &s->index,
				      &s->summary, &prefix) ||
		    take_text(self, prefix, &s->prefix) < 0)
			return -1;
		p->nsaid = i + 1;
		s->said = Py_NewRef(said);
		static const char *const names[4] = {"max_reference_depth", "max_collection_size",
						     "max_length", "max_field_count"};
		PyObject *limits = PyTuple_Check(said) && PyTuple_GET_SIZE(said) == 2
					   ? PyTuple_GET_ITEM(said, 1)
					   : NULL;
		if (!limits) {
			PyErr_SetString(PyExc_TypeError, "said is (Said, summary limits)");
			return -1;
		}
		for (int k = 0; k < 4; k++) {
			PyObject *v = PyObject_GetAttrString(limits, names[k]);
			s->limits[k] = v ? PyLong_AsLongLong(v) : -1;
			Py_XDECREF(v);
			if (PyErr_Occurred())
				return -1;
		}
		if (!(s->pieces = PyDict_New()))
			return -1;
		if (s->scope < 0 || s->scope >= SCOPES || s->index < 0 ||
		    s->index >= p->scopes[s->scope].n) {
			PyErr_SetString(PyExc_IndexError, "a message value is no variable's text");
			return -1;
		}
	}
	return 0;
}

/* add(index, spec): the events of the probe of that layout index are decoded
 * here. spec: (role, call, message_head, captures, captures_open, captures_close,
 * before_goid, ref, stacks, root_needed, (4 limits), capture, (3 scopes), said);
 * see fastpath.py. */
static PyObject *snapshots_add(Snapshots *self, PyObject *args)
{
	Py_ssize_t index, root_needed;
	int role, captures, stacks;
	long long call;
	PyObject *head, *open, *close, *before_goid, *ref, *limits, *capture, *scopes, *said;
	if (!self->keep) {
		PyErr_SetString(PyExc_RuntimeError, "Snapshots not initialised");
		return NULL;
	}
	if (!PyArg_ParseTuple(args, "n(iLSpSSSSpnO!OO!O!)", &index, &role, &call, &head, &captures,
			      &open, &close, &before_goid, &ref, &stacks, &root_needed,
			      &PyTuple_Type, &limits, &capture, &PyTuple_Type, &scopes,
			      &PyTuple_Type, &said))
		return NULL;
	if (index < 0 || index > 1 << 20 || role < ROLE_ALONE || role > ROLE_RETURN ||
	    PyTuple_GET_SIZE(limits) != 4 || PyTuple_GET_SIZE(scopes) != SCOPES) {
		PyErr_SetString(PyExc_ValueError, "bad probe spec");
		return NULL;
	}
	if (index >= self->nprobes) {
		Probe *probes = PyMem_Realloc(self->probes, (size_t)(index + 1) * sizeof(Probe));
		if (!probes)
			return PyErr_NoMemory();
		memset(probes + self->nprobes, 0, (size_t)(index + 1 - self->nprobes) * sizeof(Probe));
		self->probes = probes;
		self->nprobes = index + 1;
	}
	Probe *p = &self->probes[index];
	probe_clear(p);
	for (int i = 0; i < 4; i++) {
		p->limits[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(limits, i));
		if (p->limits[i] == -1 && PyErr_Occurred())
			return NULL;
		if (p->limits[i] < 0) {
			PyErr_SetString(PyExc_ValueError, "a negative limit");
			return NULL;
		}
	}
	p->role = role;
	p->call = call;
	p->captures = captures;
	p->stacks = stacks;
	p->root_needed = root_needed;
	p->capture = Py_NewRef(capture);
	if (take_text(self, head, &p->message_head) < 0 ||
	    take_text(self, open, &p->captures_open) < 0 ||
	    take_text(self, close, &p->captures_close) < 0 ||
	    take_text(self, before_goid, &p->before_goid) < 0 || take_text(self, ref, &p->ref) < 0)
		goto error;
	for (int k = 0; k < SCOPES; k++)
		if (take_scope(self, &p->scopes[k], PyTuple_GET_ITEM(scopes, k)) < 0)
			goto error;
	if (take_said(self, p, said) < 0)
		goto error;
	p->taken = 0;
	p->present = 1;
	Py_RETURN_NONE;
error:
	probe_clear(p);
	return NULL;
}

/* ------------------------------------------------------------- text helpers */

/* A Walk used as an output buffer only. */
static void buf_start(Walk *o)
{
	o->out = o->stack;
	o->len = 0;
	o->cap = sizeof(o->stack);
}

static void buf_end(Walk *o)
{
	if (o->out != o->stack)
		PyMem_Free(o->out);
}

/* A whole number in decimal, as Python prints an int. */
static int put_i128(Walk *o, __int128 v)
{
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
	char digits[48];
	int n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		digits[sizeof(digits) - 1 - n++] = '-';
	return put(o, digits + sizeof(digits) - n, n);
}

/* The texts of one event's values: spans of a walk's output, by scope. */
typedef struct {
	Py_ssize_t *start[SCOPES], *end[SCOPES];
	Py_ssize_t fixed[SCOPES][2][32];
} Texts;

static int texts_start(Texts *t, const Probe *p)
{
	for (int k = 0; k < SCOPES; k++) {
		t->start[k] = t->fixed[k][0];
		t->end[k] = t->fixed[k][1];
	}
	for (int k = 0; k < SCOPES; k++) {
		Py_ssize_t n = p->scopes[k].n;
		if (n <= 32)
			continue;
		t->start[k] = PyMem_Calloc((size_t)n, sizeof(Py_ssize_t));
		t->end[k] = PyMem_Calloc((size_t)n, sizeof(Py_ssize_t));
		if (!t->start[k] || !t->end[k]) {
			PyErr_NoMemory();
			return -1;
		}
	}
	return 0;
}

static void texts_end(Texts *t)
{
	for (int k = 0; k < SCOPES; k++) {
		if (t->start[k] != t->fixed[k][0])
			PyMem_Free(t->start[k]);
		if (t->end[k] != t->fixed[k][1])
			PyMem_Free(t->end[k]);
	}
}

/* A scope's object from its values' texts. */
static int put_object(Walk *o, const Walk *w, const Scope *s, const Texts *t, int k)
{
	if (PUT_TEXT(o, s->open) < 0)
		return -1;
	for (Py_ssize_t i = 0; i < s->nmembers; i++) {
		Py_ssize_t j = s->picks[i];
		if ((i && PUT_LIT(o, ",") < 0) || PUT_TEXT(o, s->keys[i]) < 0 ||
		    put(o, w->out + t->start[k][j], t->end[k][j] - t->start[k][j]) < 0)
			return -1;
	}
	return PUT_TEXT(o, s->close);
}

/* ------------------------------------------------------------- one event */

/* An event being decoded: what its values and message pieces need. */
typedef struct {
	Snapshots *self;
	Probe *probe;
	PyObject *payload;
	PyObject *blocks; /* BlockIndex, or NULL */
	Walk w;           /* its values' texts */
	Texts t;
	Walk errors;      /* its evaluation errors, joined by commas */
} Event;

/* fastpath.context: a RenderContext for the event, for a Python renderer. */
static PyObject *make_context(void *arg)
{
	Event *e = arg;
	PyObject *blocks = e->blocks ? Py_NewRef(e->blocks) : PyDict_New();
	if (!blocks)
		return NULL;
	PyObject *ctx = PyObject_CallFunctionObjArgs(e->self->context, e->payload, blocks,
						     e->probe->capture, NULL);
	Py_DECREF(blocks);
	return ctx;
}

/* A RenderContext within a message value's summary limits (DecodeRun._summary). */
typedef struct {
	Event *e;
	Said *s;
} SummaryArg;

static PyObject *make_summary_context(void *arg)
{
	SummaryArg *a = arg;
	PyObject *blocks = a->e->blocks ? Py_NewRef(a->e->blocks) : PyDict_New();
	if (!blocks)
		return NULL;
	PyObject *ctx = PyObject_CallFunctionObjArgs(a->e->self->context, a->e->payload, blocks,
						     PyTuple_GET_ITEM(a->s->said, 1), NULL);
	Py_DECREF(blocks);
	return ctx;
}

/* The summary of a value in C (summaries.py), escaped, after the piece's prefix:
 * 0, 1 declined, -1 error. The same from the value's whole text as from the value
 * rendered again within the summary limits (a summary reads no further: see
 * message.py), which DecodeRun._summary does above 2,048 bytes. Here the whole
 * text is read up to LONG_TEXT bytes (pairing its brackets costs less than a
 * second render: text/template's 8 KB values), and above it the value is rendered
 * again (gofmt's parser states of 20 KB and more). */
static int put_summary(Walk *o, Event *e, Said *s, const char *text, Py_ssize_t n)
{
	Py_ssize_t at = o->len;
	if (PUT_TEXT(o, s->prefix) < 0)
		return -1;
	if (n <= LONG_TEXT) {
		int rc = summary_into(e->self->summaries, s->summary, text, n, o);
		if (rc == 1)
			o->len = at;
		return rc;
	}
	const Scope *scope = &e->probe->scopes[s->scope];
	Walk w;
	SummaryArg arg = {e, s};
	walk_start(&w, e->self->renderer, e->payload, e->blocks, s->limits);
	use_buffer(&w, &e->self->sbuf, &e->self->scap);
	w.make_ctx = make_summary_context;
	w.ctx_arg = &arg;
	int rc = walk_render(&w, scope->nodes[s->index], scope->offsets[s->index]);
	if (rc == 0)
		rc = summary_into(e->self->summaries, s->summary, w.out, w.len, o);
	keep_buffer(&w, &e->self->sbuf, &e->self->scap);
	walk_end(&w);
	if (rc == 1)
		o->len = at;
	return rc;
}

/* The escaped message piece of a value the message shows (DecodeRun._pieces). */
static int put_piece(Walk *o, Event *e, Said *s)
{
	const char *text = e->w.out + e->t.start[s->scope][s->index];
	Py_ssize_t n = e->t.end[s->scope][s->index] - e->t.start[s->scope][s->index];
	PyObject *key = NULL, *str = NULL, *made = NULL, *blocks = NULL;
	int rc = -1;
	if (n <= CACHED_TEXT) { /* (only short texts are kept) */
		if (!(key = PyBytes_FromStringAndSize(text, n)))
			return -1;
		PyObject *piece = PyDict_GetItemWithError(s->pieces, key);
		if (piece) {
			Py_DECREF(key);
			return put(o, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece));
		}
		if (PyErr_Occurred())
			goto done;
	}
	Py_ssize_t at = o->len;
	int declined = 1;
	/* the summary in C; Python's piece() where it declines */
	if (s->summary >= 0 && e->self->summaries != Py_None &&
	    (declined = put_summary(o, e, s, text, n)) < 0)
		goto done;
	if (declined) {
		if (!(str = PyUnicode_DecodeUTF8(text, n, "surrogatepass")) ||
		    !(blocks = e->blocks ? Py_NewRef(e->blocks) : PyDict_New()))
			goto done;
		made = PyObject_CallFunctionObjArgs(e->self->piece, s->said, str, e->payload, blocks,
						    NULL);
		if (!made)
			goto done;
		if (!PyUnicode_Check(made)) {
			PyErr_SetString(PyExc_TypeError, "a message piece is a str");
			goto done;
		}
		Py_ssize_t len;
		const char *utf8 = PyUnicode_AsUTF8AndSize(made, &len);
		if (!utf8 || put_escaped(o, (const unsigned char *)utf8, len) < 0)
			goto done;
	}
	rc = 0;
	if (key) {
		if (PyDict_GET_SIZE(s->pieces) >= CACHED_PIECES)
			PyDict_Clear(s->pieces);
		PyObject *escaped = PyBytes_FromStringAndSize(o->out + at, o->len - at);
		if (!escaped || PyDict_SetItem(s->pieces, key, escaped) < 0)
			rc = -1;
		Py_XDECREF(escaped);
	}
done:
	Py_XDECREF(key);
	Py_XDECREF(str);
	Py_XDECREF(made);
	Py_XDECREF(blocks);
	return rc;
}

/* The pieces of the values the message shows, joined by ", ". */
static int put_pieces(Walk *o, Event *e)
{
	for (Py_ssize_t i = 0; i < e->probe->nsaid; i++)
		if ((i && PUT_LIT(o, ", ") < 0) || put_piece(o, e, &e->probe->said[i]) < 0)
			return -1;
	return 0;
}

/* message.returns: what a return's message adds after the call. */
static int put_returns(Walk *o, Event *e)
{
	Py_ssize_t n = e->probe->nsaid;
	if (n == 0)
		return 0;
	if (n == 1)
		return PUT_LIT(o, " -> ") < 0 || put_pieces(o, e) < 0 ? -1 : 0;
	return PUT_LIT(o, " -> (") < 0 || put_pieces(o, e) < 0 || PUT_LIT(o, ")") < 0 ? -1 : 0;
}

/* The entry members of a call's captures: "arguments":{...}[,"locals":{...}]. */
static int put_entry_members(Walk *o, Event *e)
{
	const Probe *p = e->probe;
	if (PUT_LIT(o, "\"arguments\":") < 0 || put_object(o, &e->w, &p->scopes[ARGUMENTS], &e->t, ARGUMENTS) < 0)
		return -1;
	if (p->scopes[LOCALS].n &&
	    (PUT_LIT(o, ",\"locals\":") < 0 ||
	     put_object(o, &e->w, &p->scopes[LOCALS], &e->t, LOCALS) < 0))
		return -1;
	return 0;
}

/* The JSON of a stack (DecodeRun._stack_text), cached by its raw PCs. */
static int put_stack(Snapshots *self, Walk *o, const char *pcs, Py_ssize_t n)
{
	PyObject *key = PyBytes_FromStringAndSize(pcs, n);
	if (!key)
		return -1;
	PyObject *text = PyDict_GetItemWithError(self->stacks, key);
	int rc = -1;
	if (text) {
		rc = put(o, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text));
	} else if (!PyErr_Occurred()) {
		PyObject *made = PyObject_CallOneArg(self->stack, key);
		PyObject *utf8 = NULL;
		if (made && PyUnicode_Check(made))
			utf8 = PyUnicode_AsUTF8String(made);
		else if (made)
			PyErr_SetString(PyExc_TypeError, "a stack's JSON is a str");
		if (utf8) {
			if (PyDict_GET_SIZE(self->stacks) >= CACHED_STACKS)
				PyDict_Clear(self->stacks);
			if (PyDict_SetItem(self->stacks, key, utf8) == 0)
				rc = put(o, PyBytes_AS_STRING(utf8), PyBytes_GET_SIZE(utf8));
		}
		Py_XDECREF(made);
		Py_XDECREF(utf8);
	}
	Py_DECREF(key);
	return rc;
}

/* What a snapshot is made of (Envelope.snapshot's arguments). The captures are
 * written straight into the snapshot by a function of the call's parts. */
typedef struct Parts Parts;
struct Parts {
	const Probe *probe; /* the first hit's */
	long long offset;
	uint64_t ktime, goid;
	const char *message; /* escaped */
	Py_ssize_t message_len;
	int has_duration;
	__int128 duration;
	const char *stack; /* raw PCs, or NULL */
	Py_ssize_t stack_len;
	int (*captures)(Walk *o, const Parts *s); /* NULL: none */
	Event *event;                         /* the hit being decoded, or NULL */
	const Pending *entry;                 /* the entry it completes, or NULL */
	Text errors[2]; /* evaluation errors of the entry and of the return, joined by commas */
	const Text *lost; /* one more: NO_ENTRY, NO_RETURN, or NULL */
};

/* ,"evaluationErrors":[...] of a snapshot, if it has any. */
static int put_errors(Walk *o, const Parts *s)
{
	int any = 0;
	const Text *all[3] = {&s->errors[0], &s->errors[1], s->lost};
	for (int i = 0; i < 3; i++) {
		if (!all[i] || !all[i]->n)
			continue;
		if ((any ? PUT_LIT(o, ",") : PUT_LIT(o, ",\"evaluationErrors\":[")) < 0 ||
		    PUT_TEXT(o, *all[i]) < 0)
			return -1;
		any = 1;
	}
	return any ? PUT_LIT(o, "]") : 0;
}

/* The evaluation errors in a text of them joined by commas (each an
 * EvaluationError object, which starts so: a quote inside is escaped). */
static long long count_errors(const Text *t)
{
	static const char start[] = "{\"expr\":";
	long long n = 0;
	for (Py_ssize_t i = 0; i + (Py_ssize_t)sizeof(start) - 1 <= t->n; i++)
		if (t->s[i] == '{' && memcmp(t->s + i, start, sizeof(start) - 1) == 0)
			n++;
	return n;
}

/* Envelope.snapshot: the snapshot's JSON appended to out. */
static int emit(Snapshots *self, const Parts *s, PyObject *out)
{
	Probe *counted = &self->probes[s->probe - self->probes];
	counted->made++;
	counted->errors += count_errors(&s->errors[0]) + count_errors(&s->errors[1]) + (s->lost != NULL);
	Walk o;
	buf_start(&o);
	use_buffer(&o, &self->obuf, &self->ocap);
	int rc = -1;
	__int128 ms = (__int128)s->ktime + self->clock_offset_ns;
	__int128 ts = ms >= 0 ? ms / 1000000 : -((-ms + 999999) / 1000000); /* floor */
	if (PUT_TEXT(&o, self->start) < 0 || PUT_LIT(&o, "\"") < 0 ||
	    put(&o, s->message, s->message_len) < 0 || PUT_LIT(&o, "\",\"timestamp\":") < 0 ||
	    put_i128(&o, ts) < 0)
		goto done;
	if (s->has_duration && (PUT_LIT(&o, ",\"duration\":") < 0 || put_i128(&o, s->duration) < 0))
		goto done;
	char id[16];
	snprintf(id, sizeof(id), "%012llx",
		 (unsigned long long)s->offset & ((1ull << OFFSET_BITS) - 1));
	if (PUT_TEXT(&o, s->probe->before_goid) < 0 || put_u64(&o, s->goid) < 0 ||
	    PUT_LIT(&o, AFTER_GOID) < 0 || PUT_TEXT(&o, self->id_prefix) < 0 || put(&o, id, 12) < 0 ||
	    PUT_LIT(&o, "\",\"timestamp\":") < 0 || put_i128(&o, ts) < 0 ||
	    PUT_TEXT(&o, s->probe->ref) < 0)
		goto done;
	if (s->stack &&
	    (PUT_LIT(&o, ",\"stack\":") < 0 || put_stack(self, &o, s->stack, s->stack_len) < 0))
		goto done;
	if (s->captures && (PUT_LIT(&o, ",\"captures\":") < 0 || s->captures(&o, s) < 0))
		goto done;
	if (put_errors(&o, s) < 0)
		goto done;
	if (PUT_LIT(&o, "}}}") < 0)
		goto done;
	PyObject *snap = PyBytes_FromStringAndSize(o.out, o.len);
	if (snap) {
		rc = PyList_Append(out, snap);
		Py_DECREF(snap);
	}
done:
	keep_buffer(&o, &self->obuf, &self->ocap);
	buf_end(&o);
	return rc;
}

/* The texts a Pending holds after it. */
static const char *pending_message(const Pending *q)
{
	return (const char *)(q + 1);
}

static const char *pending_members(const Pending *q)
{
	return pending_message(q) + q->message;
}

static Text pending_errors(const Pending *q)
{
	Text t = {pending_members(q) + q->members, q->errors};
	return t;
}

static const char *pending_stack(const Pending *q)
{
	return q->stack ? pending_members(q) + q->members + q->errors : NULL;
}

/* An event's evaluation errors as a Text. */
static Text event_errors(const Event *e)
{
	Text t = {e->errors.out, e->errors.len};
	return t;
}

/* The captures (envelope.entry_captures, line_captures) of: a line probe or lone
 * entry; an entry without its return; a call; a return without its entry. */
static int captures_alone(Walk *o, const Parts *s)
{
	const Probe *p = s->probe;
	return PUT_TEXT(o, p->captures_open) < 0 || put_entry_members(o, s->event) < 0 ||
		       PUT_TEXT(o, p->captures_close) < 0
		   ? -1
		   : 0;
}

static int captures_entry(Walk *o, const Parts *s)
{
	return PUT_LIT(o, "{\"entry\":{") < 0 ||
		       put(o, pending_members(s->entry), s->entry->members) < 0 ||
		       PUT_LIT(o, "}}") < 0
		   ? -1
		   : 0;
}

static int captures_call(Walk *o, const Parts *s)
{
	Event *e = s->event;
	return PUT_LIT(o, "{\"entry\":{") < 0 ||
		       put(o, pending_members(s->entry), s->entry->members) < 0 ||
		       PUT_LIT(o, "},\"return\":{\"locals\":") < 0 ||
		       put_object(o, &e->w, &e->probe->scopes[RESULTS], &e->t, RESULTS) < 0 ||
		       PUT_LIT(o, "}}") < 0
		   ? -1
		   : 0;
}

static int captures_return(Walk *o, const Parts *s)
{
	Event *e = s->event;
	return PUT_LIT(o, "{\"return\":{\"locals\":") < 0 ||
		       put_object(o, &e->w, &e->probe->scopes[RESULTS], &e->t, RESULTS) < 0 ||
		       PUT_LIT(o, "}}") < 0
		   ? -1
		   : 0;
}

/* The key of the call an entry or return belongs to (_Hit.call_key): the call's
 * probe and function, the process, the goroutine, and the frame's distance from
 * the top of its stack (a signed number in Python: its sign is kept apart). */
static PyObject *call_key(const Probe *p, uint64_t tgid, uint64_t goid, uint64_t cfa,
			  uint64_t stack_hi)
{
	struct {
		long long call;
		uint64_t tgid, goid, depth, negative;
	} key = {p->call, tgid, goid, stack_hi ? stack_hi - cfa : cfa, stack_hi && cfa > stack_hi};
	return PyBytes_FromStringAndSize((const char *)&key, sizeof(key));
}

/* The snapshot of an entry whose return never came (DecodeRun._snapshot with
 * lost_return). */
static int emit_lost(Snapshots *self, PyObject *blob, PyObject *out)
{
	const Pending *q = (const Pending *)PyBytes_AS_STRING(blob);
	const Probe *p = &self->probes[q->probe];
	Parts s = {p, q->offset, q->ktime, q->goid, pending_message(q), q->message, 0, 0,
		   pending_stack(q), q->stack, p->captures ? captures_entry : NULL, NULL, q,
		   {pending_errors(q), {NULL, 0}}, &self->no_return};
	return emit(self, &s, out);
}

/* An entry waits for its return: made into a Pending. A call already waiting at
 * the same place never returned (a panic unwound it): its snapshot now. */
static int wait_for_return(Event *e, long long offset, uint64_t ktime, uint64_t goid,
			   Py_ssize_t probe, const char *stack, Py_ssize_t stack_len,
			   PyObject *key, PyObject *out)
{
	Snapshots *self = e->self;
	Walk b;
	buf_start(&b);
	int rc = -1;
	Pending q = {offset, ktime, goid, probe, 0, 0, e->errors.len, stack_len};
	if (put(&b, (const char *)&q, sizeof(q)) < 0 || PUT_TEXT(&b, e->probe->message_head) < 0 ||
	    put_pieces(&b, e) < 0 || PUT_LIT(&b, ")") < 0)
		goto done;
	Py_ssize_t members = b.len;
	if (put_entry_members(&b, e) < 0)
		goto done;
	Py_ssize_t errors_at = b.len;
	if (put(&b, e->errors.out, e->errors.len) < 0 || (stack_len && put(&b, stack, stack_len) < 0))
		goto done;
	Pending *head = (Pending *)b.out;
	head->message = members - (Py_ssize_t)sizeof(Pending);
	head->members = errors_at - members;
	PyObject *blob = PyBytes_FromStringAndSize(b.out, b.len);
	if (!blob)
		goto done;
	PyObject *stale = PyDict_GetItemWithError(self->waiting, key);
	if (stale) {
		Py_INCREF(stale);
		rc = emit_lost(self, stale, out);
		Py_DECREF(stale);
	} else {
		rc = PyErr_Occurred() ? -1 : 0;
	}
	if (rc == 0)
		rc = PyDict_SetItem(self->waiting, key, blob);
	Py_DECREF(blob);
done:
	buf_end(&b);
	return rc;
}

/* A return: the snapshot of its call, with the entry waiting for it, or alone
 * (the entry was not captured). */
static int complete_call(Event *e, long long offset, uint64_t ktime, uint64_t goid,
			 const char *stack, Py_ssize_t stack_len, PyObject *key, PyObject *out)
{
	Snapshots *self = e->self;
	const Probe *r = e->probe;
	PyObject *blob = PyDict_GetItemWithError(self->waiting, key);
	if (!blob && PyErr_Occurred())
		return -1;
	Py_XINCREF(blob);
	if (blob && PyDict_DelItem(self->waiting, key) < 0) {
		Py_DECREF(blob);
		return -1;
	}
	Walk m;
	buf_start(&m);
	int rc = -1;
	if (blob) {
		const Pending *q = (const Pending *)PyBytes_AS_STRING(blob);
		const Probe *p = &self->probes[q->probe];
		if (put(&m, pending_message(q), q->message) < 0 || put_returns(&m, e) < 0)
			goto done;
		Parts s = {p, q->offset, q->ktime, q->goid, m.out, m.len, 1,
			   (__int128)ktime - (__int128)q->ktime, pending_stack(q), q->stack,
			   p->captures ? captures_call : NULL, e, q,
			   {pending_errors(q), event_errors(e)}, NULL};
		rc = emit(self, &s, out);
	} else {
		if (PUT_TEXT(&m, r->message_head) < 0 || put_returns(&m, e) < 0)
			goto done;
		Parts s = {r, offset, ktime, goid, m.out, m.len, 0, 0, stack_len ? stack : NULL,
			   stack_len, r->captures ? captures_return : NULL, e, NULL,
			   {event_errors(e), {NULL, 0}}, &self->no_entry};
		rc = emit(self, &s, out);
	}
done:
	buf_end(&m);
	Py_XDECREF(blob);
	return rc;
}

/* A line probe's or a lone entry's snapshot. */
static int emit_alone(Event *e, long long offset, uint64_t ktime, uint64_t goid,
		      const char *stack, Py_ssize_t stack_len, PyObject *out)
{
	const Probe *p = e->probe;
	Walk m;
	buf_start(&m);
	int rc = -1;
	if (PUT_TEXT(&m, p->message_head) < 0 || put_pieces(&m, e) < 0 || PUT_LIT(&m, ")") < 0)
		goto done;
	Parts s = {p, offset, ktime, goid, m.out, m.len, 0, 0, stack_len ? stack : NULL, stack_len,
		   p->captures ? captures_alone : NULL, e, NULL, {event_errors(e), {NULL, 0}}, NULL};
	rc = emit(e->self, &s, out);
done:
	buf_end(&m);
	return rc;
}

/* Decode the event at p (total bytes), the record at dump offset `offset`, into
 * out (one snapshot, or none for an entry that waits): 1 done, 0 not taken here,
 * -1 on an error of Python's. */
static int decode_event(Snapshots *self, const unsigned char *p, Py_ssize_t total,
			long long offset, PyObject *out)
{
	if (total < EVENT_HEADER_SIZE)
		return 0;
	uint64_t probe, data_len, ktime, goid, tgid, root_len, stack_len, flags, cfa, stack_hi;
	read_le(p, 4, &probe);
	read_le(p + 4, 4, &data_len);
	read_le(p + 8, 8, &ktime);
	read_le(p + 16, 8, &goid);
	read_le(p + 24, 4, &tgid);
	read_le(p + 32, 4, &root_len);
	read_le(p + 36, 2, &stack_len);
	read_le(p + 38, 2, &flags);
	read_le(p + 48, 8, &cfa);
	read_le(p + 56, 8, &stack_hi);
	if (data_len != (uint64_t)(total - EVENT_HEADER_SIZE) || probe >= (uint64_t)self->nprobes)
		return 0;
	Probe *pr = &self->probes[probe];
	if (!pr->present || root_len < (uint64_t)pr->root_needed || root_len > (uint64_t)total)
		return 0;
	int truncated = (flags & EVENT_FLAG_TRUNCATED) != 0;
	Py_ssize_t stack_start = EVENT_HEADER_SIZE + (Py_ssize_t)((root_len + 7) & ~(uint64_t)7);
	Py_ssize_t stack_end = stack_start + 8 * (Py_ssize_t)stack_len;
	if (stack_end > total)
		return 0;

	BlockIndex *blocks = NULL;
	if (stack_end < total) {
		Sizes sizes = {NULL, self->sizes, self->nsizes};
		uint32_t any = 0;
		if (!(blocks = block_index_new()))
			return -1;
		int rc = block_index_fill(blocks, p, total, stack_end, &sizes, &any);
		if (rc <= 0) {
			Py_DECREF(blocks);
			return rc;
		}
		truncated |= (any & BLOCK_FLAG_SHORT) != 0;
	}
	PyObject *payload = PyBytes_FromStringAndSize((const char *)p, total);
	if (!payload) {
		Py_XDECREF(blocks);
		return -1;
	}
	Event e = {self, pr, payload, (PyObject *)blocks};
	buf_start(&e.errors);
	walk_start(&e.w, self->renderer, payload, (PyObject *)blocks, pr->limits);
	use_buffer(&e.w, &self->wbuf, &self->wcap);
	e.w.make_ctx = make_context;
	e.w.ctx_arg = &e;
	Py_XDECREF(blocks); /* held by the walk */
	int rc = texts_start(&e.t, pr);
	for (int k = 0; k < SCOPES && rc == 0; k++) {
		const Scope *s = &pr->scopes[k];
		for (Py_ssize_t i = 0; i < s->n && rc == 0; i++) {
			e.t.start[k][i] = e.w.len;
			e.w.missing = 0;
			rc = walk_render(&e.w, s->nodes[i], s->offsets[i]);
			e.t.end[k][i] = e.w.len;
			/* DecodeRun._truncated_hit: the variables whose data is missing */
			if (rc == 0 && truncated && e.w.missing)
				rc = (e.errors.len && PUT_LIT(&e.errors, ",") < 0) ||
						     PUT_TEXT(&e.errors, s->missing[i]) < 0
					     ? -1
					     : 0;
		}
	}
	if (rc == 0 && truncated && !e.errors.len)
		rc = PUT_TEXT(&e.errors, self->truncated);
	const char *stack = (const char *)p + stack_start;
	Py_ssize_t stack_bytes = pr->stacks ? stack_end - stack_start : 0;
	if (rc == 0) {
		if (pr->role == ROLE_ALONE) {
			rc = emit_alone(&e, offset, ktime, goid, stack, stack_bytes, out);
		} else {
			PyObject *key = call_key(pr, tgid, goid, cfa, stack_hi);
			if (!key)
				rc = -1;
			else if (pr->role == ROLE_ENTRY)
				rc = wait_for_return(&e, offset, ktime, goid, (Py_ssize_t)probe, stack,
						     stack_bytes, key, out);
			else
				rc = complete_call(&e, offset, ktime, goid, stack, stack_bytes, key,
						   out);
			Py_XDECREF(key);
		}
	}
	if (rc == 0)
		pr->taken++;
	texts_end(&e.t);
	keep_buffer(&e.w, &self->wbuf, &self->wcap);
	walk_end(&e.w);
	buf_end(&e.errors);
	Py_DECREF(payload);
	return rc < 0 ? -1 : 1;
}

/* run(buf, pos, offset): the snapshots of the whole records from buf[pos:] (the
 * first at dump offset `offset`) up to the first not taken here, and where that
 * one starts: (list of bytes, position). */
static PyObject *snapshots_run(Snapshots *self, PyObject *args)
{
	Py_buffer view;
	Py_ssize_t pos;
	long long offset;
	if (!self->keep) {
		PyErr_SetString(PyExc_RuntimeError, "Snapshots not initialised");
		return NULL;
	}
	if (!PyArg_ParseTuple(args, "y*nL", &view, &pos, &offset))
		return NULL;
	PyObject *out = PyList_New(0);
	if (!out)
		goto error;
	const unsigned char *buf = view.buf;
	Py_ssize_t len = view.len;
	if (pos < 0 || pos > len) {
		PyErr_SetString(PyExc_ValueError, "position outside the buffer");
		goto error;
	}
	while (len - pos >= RECORD_PREFIX) {
		uint64_t kind, length, crc;
		read_le(buf + pos + 4, 4, &kind);
		read_le(buf + pos + 8, 4, &length);
		read_le(buf + pos + 12, 4, &crc);
		if (memcmp(buf + pos, SYNC, 4) || kind != RECORD_EVENT || length > MAX_RECORD ||
		    (Py_ssize_t)length > len - pos - RECORD_PREFIX)
			break;
		/* A corrupt record is Python's: it skips it and says so (dump.RecordReader). */
		if (godi_crc32(godi_crc32(0, buf + pos + 4, 8), buf + pos + RECORD_PREFIX, length) != crc)
			break;
		int rc = decode_event(self, buf + pos + RECORD_PREFIX, (Py_ssize_t)length, offset, out);
		if (rc < 0)
			goto error;
		if (rc == 0)
			break;
		pos += RECORD_PREFIX + (Py_ssize_t)length;
		offset += RECORD_PREFIX + (long long)length;
	}
	PyBuffer_Release(&view);
	return Py_BuildValue("(Nn)", out, pos);
error:
	PyBuffer_Release(&view);
	Py_XDECREF(out);
	return NULL;
}

/* pending(): the snapshots of the entries still waiting for their return, as
 * (record offset, snapshot) pairs, and forget them. */
static PyObject *snapshots_pending(Snapshots *self, PyObject *unused)
{
	(void)unused;
	if (!self->waiting)
		return PyList_New(0);
	PyObject *out = PyList_New(0), *one = PyList_New(0);
	PyObject *key, *blob;
	Py_ssize_t i = 0;
	if (!out || !one)
		goto error;
	while (PyDict_Next(self->waiting, &i, &key, &blob)) {
		if (emit_lost(self, blob, one) < 0)
			goto error;
		const Pending *q = (const Pending *)PyBytes_AS_STRING(blob);
		PyObject *pair = Py_BuildValue("(LO)", q->offset, PyList_GET_ITEM(one, 0));
		if (!pair || PyList_Append(out, pair) < 0) {
			Py_XDECREF(pair);
			goto error;
		}
		Py_DECREF(pair);
		if (PyList_SetSlice(one, 0, 1, NULL) < 0)
			goto error;
	}
	Py_DECREF(one);
	PyDict_Clear(self->waiting);
	return out;
error:
	Py_XDECREF(out);
	Py_XDECREF(one);
	return NULL;
}

/* counts(): {probe index: events taken} since the last call. */
static PyObject *snapshots_counts(Snapshots *self, PyObject *unused)
{
	(void)unused;
	PyObject *counts = PyDict_New();
	if (!counts)
		return NULL;
	for (Py_ssize_t i = 0; i < self->nprobes; i++) {
		if (!self->probes[i].taken)
			continue;
		PyObject *k = PyLong_FromSsize_t(i), *v = PyLong_FromLongLong(self->probes[i].taken);
		int rc = k && v ? PyDict_SetItem(counts, k, v) : -1;
		Py_XDECREF(k);
		Py_XDECREF(v);
		if (rc < 0) {
			Py_DECREF(counts);
			return NULL;
		}
		self->probes[i].taken = 0;
	}
	return counts;
}

/* made(): {probe index: (snapshots, evaluation errors)} made since the last call. */
static PyObject *snapshots_made(Snapshots *self, PyObject *unused)
{
	(void)unused;
	PyObject *made = PyDict_New();
	if (!made)
		return NULL;
	for (Py_ssize_t i = 0; i < self->nprobes; i++) {
		Probe *p = &self->probes[i];
		if (!p->made)
			continue;
		PyObject *k = PyLong_FromSsize_t(i), *v = Py_BuildValue("(LL)", p->made, p->errors);
		int rc = k && v ? PyDict_SetItem(made, k, v) : -1;
		Py_XDECREF(k);
		Py_XDECREF(v);
		if (rc < 0) {
			Py_DECREF(made);
			return NULL;
		}
		p->made = p->errors = 0;
	}
	return made;
}

static PyMethodDef snapshots_methods[] = {
	{"made", (PyCFunction)snapshots_made, METH_NOARGS,
	 "made(): {probe index: (snapshots, evaluation errors)} made since the last call."},
	{"add", (PyCFunction)snapshots_add, METH_VARARGS,
	 "add(index, spec): decode the events of that probe here (see fastpath.py)."},
	{"run", (PyCFunction)snapshots_run, METH_VARARGS,
	 "run(buf, pos, offset): (snapshots of the records taken, where the rest starts)."},
	{"pending", (PyCFunction)snapshots_pending, METH_NOARGS,
	 "pending(): [(offset, snapshot)] of the entries still waiting for their return."},
	{"counts", (PyCFunction)snapshots_counts, METH_NOARGS,
	 "counts(): {probe index: events taken} since the last call."},
	{NULL, NULL, 0, NULL},
};

PyTypeObject SnapshotsType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages.decode._render.Snapshots",
	.tp_doc = "Whole snapshots of simple probes, from a dump's bytes (see fastpath.py).",
	.tp_basicsize = sizeof(Snapshots),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)snapshots_init,
	.tp_dealloc = (destructor)snapshots_dealloc,
	.tp_traverse = (traverseproc)snapshots_traverse,
	.tp_clear = (inquiry)snapshots_clear,
	.tp_methods = snapshots_methods,
};

PyObject *crc32_function(PyObject *self, PyObject *args)
{
	(void)self;
	Py_buffer data;
	unsigned int crc = 0;
	if (!PyArg_ParseTuple(args, "y*|I", &data, &crc))
		return NULL;
	uint32_t out = godi_crc32(crc, data.buf, (size_t)data.len);
	PyBuffer_Release(&data);
	return PyLong_FromUnsignedLong(out);
}
