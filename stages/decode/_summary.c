/* The one-line summary of a value for a snapshot's message, from the value's
 * JSON text: message.MessageFormatter.summary in C.
 *
 * Summaries(table, named, max_fields, max_items, max_level) holds a table of
 * nodes, one per IR type a message shows or reaches (built by
 * stages/decode/summaries.py: the type's kind as summary() dispatches it and the
 * nodes of the types it holds). summary(node, text) gives what summary() gives
 * for the CapturedValue the text stands for, or None where it declines: a text
 * it does not read as a renderer writes it (a member it does not know, a member
 * twice, a lone surrogate), which the Python formatter then summarises. An
 * interface's dynamic type is looked up by name through named(), once per name.
 */

#include "_render.h"

#include <emmintrin.h> /* SSE2: every x86-64 has it */

/* Node kinds (exported to summaries.py). */
enum {
	S_BASE,    /* BaseType: its value */
	S_STRING,  /* StringType: quoted */
	S_STRUCT,  /* StructType: {k: v, ...} */
	S_ARRAY,   /* ArrayType, SliceType: [a, b, c, ...] */
	S_POINTER, /* PointerType: &pointee */
	S_UNSAFE,  /* UnsafePointerType: its address */
	S_MAP,     /* MapType: map[k: v, ...] */
	S_CHAN,    /* ChanType: chan(len=, cap=) */
	S_IFACE,   /* InterfaceType: its dynamic value */
	S_OTHER,   /* anything else: its value, or "?" */
};

typedef struct {
	int kind;
	Py_ssize_t a, b;      /* S_ARRAY: elem; S_POINTER: elem (-1: none), nested; S_MAP: key, value */
	Py_ssize_t *fields;   /* S_STRUCT: the nodes of its first declared fields */
	Py_ssize_t nfields;
} SNode;

typedef struct {
	PyObject_HEAD
	SNode *nodes;
	Py_ssize_t n, cap;
	PyObject *named;  /* named(type_name: str) -> node index or -1 (it may extend the table) */
	PyObject *by_name; /* dict: type name (str) -> node index (int) */
	Py_ssize_t max_fields, max_items;
	int max_level;
	int32_t *match; /* for match_brackets, kept between calls */
	Py_ssize_t match_cap;
} Summaries;

/* The members of a CapturedValue text: where each one's value starts (NULL:
 * absent or null). */
typedef struct {
	const char *type, *value, *fields, *elements, *entries, *size, *truncated, *isNull,
		*address, *reason, *len, *cap;
} Members;

#define DECLINE 1

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* After the string at p (its opening quote); NULL if it is not one. Sixteen
 * bytes at a time up to a quote or backslash. */
static const char *skip_string(const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\');
	for (p++;;) {
		while (end - p >= 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)p);
			unsigned mask = (unsigned)_mm_movemask_epi8(
				_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)));
			if (mask) {
				p += __builtin_ctz(mask);
				goto found;
			}
			p += 16;
		}
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return NULL;
	found:
		if (*p == '"')
			return p + 1;
		p += 2; /* a backslash and the byte it escapes */
		if (p > end)
			return NULL;
	}
}

/* The text being summarised, and where each of its objects and arrays ends:
 * match[i] is the offset of the closing bracket of the one opened at offset i
 * (one pass, then skipping a member costs nothing whatever its size). Set by
 * summary_text for its call (the GIL keeps it to one at a time). */
static const char *text_base;
static int32_t *text_match;

/* The bits of a 64-byte block at p: quotes, backslashes, brackets ('[' | 0x20 is
 * '{', ']' | 0x20 is '}'). */
static inline void block_bits(const char *p, uint64_t *quotes, uint64_t *slashes,
			      uint64_t *brackets)
{
	const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'),
		      open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}'),
		      lower = _mm_set1_epi8(0x20);
	uint64_t q = 0, s = 0, b = 0;
	for (int i = 0; i < 4; i++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * i));
		__m128i y = _mm_or_si128(x, lower);
		q |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, quote)) << (16 * i);
		s |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, slash)) << (16 * i);
		b |= (uint64_t)(uint16_t)_mm_movemask_epi8(
			     _mm_or_si128(_mm_cmpeq_epi8(y, open), _mm_cmpeq_epi8(y, close)))
		     << (16 * i);
	}
	*quotes = q;
	*slashes = s;
	*brackets = b;
}

/* Each bit the XOR of itself and all the bits below it. */
static inline uint64_t prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

/* Fill text_match for the n bytes at text; 0, DECLINE (not balanced), -1.
 *
 * 64 bytes at a time: the quotes not escaped by a backslash delimit the strings
 * (a prefix XOR of their bits), and only the brackets outside strings are looked
 * at one by one (a value's text has several quotes per bracket). */
static int match_brackets(const char *text, Py_ssize_t n, int32_t **match, Py_ssize_t *cap)
{
	if (n > INT32_MAX)
		return DECLINE;
	if (n > *cap) {
		int32_t *m = PyMem_Realloc(*match, (size_t)n * sizeof(int32_t));
		if (!m) {
			PyErr_NoMemory();
			return -1;
		}
		*match = m;
		*cap = n;
	}
	int32_t stack[256];
	int depth = 0;
	uint64_t escape_next = 0; /* the block's first byte is escaped */
	uint64_t in_string = 0;   /* all ones: the previous block ended inside a string */
	char tail[64];
	for (Py_ssize_t at = 0; at < n; at += 64) {
		const char *p = text + at;
		if (n - at < 64) {
			/* the last bytes, padded with NULs (none of the bytes looked for) */
			memset(tail, 0, sizeof(tail));
			memcpy(tail, p, (size_t)(n - at));
			p = tail;
		}
		uint64_t quotes, slashes, brackets;
		block_bits(p, &quotes, &slashes, &brackets);
		uint64_t escaped = escape_next;
		escape_next = 0;
		while (slashes) { /* rare: one by one, in order */
			int i = __builtin_ctzll(slashes);
			slashes &= slashes - 1;
			if (escaped >> i & 1)
				continue; /* an escaped backslash */
			if (i == 63)
				escape_next = 1;
			else
				escaped |= 1ull << (i + 1);
		}
		uint64_t strings = prefix_xor(quotes & ~escaped) ^ in_string;
		in_string = (uint64_t)((int64_t)strings >> 63);
		brackets &= ~strings;
		while (brackets) {
			int i = __builtin_ctzll(brackets);
			brackets &= brackets - 1;
			char c = p[i];
			int32_t pos = (int32_t)(at + i);
			if (c == '{' || c == '[') {
				if (depth == 256)
					return DECLINE;
				stack[depth++] = pos;
			} else {
				if (!depth)
					return DECLINE;
				int32_t open = stack[--depth];
				if ((c == '}') != (text[open] == '{'))
					return DECLINE;
				(*match)[open] = pos;
			}
		}
	}
	return depth || in_string || escape_next ? DECLINE : 0;
}

/* After the JSON value at p; NULL if there is none. */
static const char *skip_value(const char *p, const char *end, int depth)
{
	(void)depth;
	p = skip_ws(p, end);
	if (p >= end)
		return NULL;
	char c = *p;
	if (c == '"')
		return skip_string(p, end);
	if (c == '{' || c == '[')
		return text_base + text_match[p - text_base] + 1;
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
		p++;
	return p;
}

static int is_null(const char *p, const char *end)
{
	return end - p >= 4 && memcmp(p, "null", 4) == 0;
}

static int is_true(const char *p, const char *end)
{
	return p && end - p >= 4 && memcmp(p, "true", 4) == 0;
}

/* Read the object at p into m; returns after it, or NULL (decline). */
static const char *read_members(const char *p, const char *end, Members *m)
{
	memset(m, 0, sizeof(*m));
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return NULL;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		const char *key = skip_ws(p, end);
		const char *after = skip_string(key, end);
		if (!after)
			return NULL;
		Py_ssize_t n = after - key - 2;
		const char *k = key + 1;
		const char **slot = NULL;
#define KEY(name, field)                                                                  \
	if (n == (Py_ssize_t)sizeof(name) - 1 && memcmp(k, name, sizeof(name) - 1) == 0)   \
		slot = &m->field;
		KEY("type", type)
		else KEY("value", value)
		else KEY("fields", fields)
		else KEY("elements", elements)
		else KEY("entries", entries)
		else KEY("size", size)
		else KEY("truncated", truncated)
		else KEY("isNull", isNull)
		else KEY("address", address)
		else KEY("notCapturedReason", reason)
		else KEY("len", len)
		else KEY("cap", cap)
#undef KEY
		if (!slot || *slot)
			return NULL; /* a member it does not know, or twice */
		p = skip_ws(after, end);
		if (p >= end || *p != ':')
			return NULL;
		p = skip_ws(p + 1, end);
		const char *v = p;
		p = skip_value(p, end, 0);
		if (!p)
			return NULL;
		*slot = is_null(v, end) ? NULL : v;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		return p < end && *p == '}' ? p + 1 : NULL;
	}
}

/* The string at p decoded (escapes undone) into o; DECLINE on a lone surrogate
 * (Python's summary would carry it, the C one cannot) or a non-string. */
static int put_decoded(Walk *o, const char *p, const char *end)
{
	if (!p || p >= end || *p != '"')
		return DECLINE;
	p++;
	for (;;) {
		const char *run = p;
		while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p != 0xED)
			p++;
		if (put(o, run, p - run) < 0)
			return -1;
		if (p >= end)
			return DECLINE;
		if (*p == '"')
			return 0;
		if ((unsigned char)*p == 0xED) { /* U+D000..U+DFFF: surrogates from A0 up */
			if (end - p < 3 || (unsigned char)p[1] >= 0xA0)
				return DECLINE;
			if (put(o, p, 3) < 0)
				return -1;
			p += 3;
			continue;
		}
		if (end - p < 2)
			return DECLINE;
		char c = p[1], plain;
		switch (c) {
		case '"': plain = '"'; break;
		case '\\': plain = '\\'; break;
		case '/': plain = '/'; break;
		case 'b': plain = '\b'; break;
		case 'f': plain = '\f'; break;
		case 'n': plain = '\n'; break;
		case 'r': plain = '\r'; break;
		case 't': plain = '\t'; break;
		case 'u': {
			if (end - p < 6)
				return DECLINE;
			unsigned cp = 0;
			for (int i = 2; i < 6; i++) {
				char h = p[i];
				cp <<= 4;
				if (h >= '0' && h <= '9')
					cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f')
					cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F')
					cp |= (unsigned)(h - 'A' + 10);
				else
					return DECLINE;
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				return DECLINE;
			char b[3];
			int n;
			if (cp < 0x80) {
				b[0] = (char)cp;
				n = 1;
			} else if (cp < 0x800) {
				b[0] = (char)(0xC0 | cp >> 6);
				b[1] = (char)(0x80 | (cp & 0x3F));
				n = 2;
			} else {
				b[0] = (char)(0xE0 | cp >> 12);
				b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
				b[2] = (char)(0x80 | (cp & 0x3F));
				n = 3;
			}
			if (put(o, b, n) < 0)
				return -1;
			p += 6;
			continue;
		}
		default:
			return DECLINE;
		}
		if (put(o, &plain, 1) < 0)
			return -1;
		p += 2;
	}
}

/* A member's decoded text, or `otherwise` when it is absent or empty (`v.x or
 * otherwise`). */
static int put_or(Walk *o, const char *p, const char *end, const char *otherwise)
{
	if (!p)
		return put(o, otherwise, (Py_ssize_t)strlen(otherwise));
	Py_ssize_t at = o->len;
	int rc = put_decoded(o, p, end);
	if (rc == 0 && o->len == at)
		return put(o, otherwise, (Py_ssize_t)strlen(otherwise));
	return rc;
}

static int summarize(Summaries *S, Walk *o, Py_ssize_t node, const char *p, const char *end,
		     int level);

/* The value of member `quoted` (with its quotes) of the object at obj (NULL:
 * none) into *value: NULL when absent or null; DECLINE if the object is not one
 * or has the member twice. */
static int find_member(const char *obj, const char *end, const char *quoted, const char **value)
{
	*value = NULL;
	if (!obj)
		return 0;
	if (*obj != '{')
		return DECLINE;
	size_t n = strlen(quoted);
	int found = 0;
	const char *q = skip_ws(obj + 1, end);
	if (q < end && *q == '}')
		return 0;
	for (;;) {
		const char *key = skip_ws(q, end);
		const char *after = skip_string(key, end);
		if (!after)
			return DECLINE;
		q = skip_ws(after, end);
		if (q >= end || *q != ':')
			return DECLINE;
		const char *v = skip_ws(q + 1, end);
		if ((size_t)(after - key) == n && memcmp(key, quoted, n) == 0) {
			if (found++)
				return DECLINE;
			*value = is_null(v, end) ? NULL : v;
		}
		q = skip_value(v, end, 0);
		if (!q)
			return DECLINE;
		q = skip_ws(q, end);
		if (q < end && *q == ',') {
			q++;
			continue;
		}
		return q < end && *q == '}' ? 0 : DECLINE;
	}
}

/* The node of the type named by the string at p (an interface's data), or -1. */
static int node_named(Summaries *S, const char *p, const char *end, Py_ssize_t *node)
{
	Walk name;
	memset(&name, 0, sizeof(name));
	name.out = name.stack;
	name.cap = sizeof(name.stack);
	int rc = put_decoded(&name, p, end);
	PyObject *key = NULL, *found = NULL;
	if (rc != 0)
		goto done;
	rc = -1;
	if (!(key = PyUnicode_DecodeUTF8(name.out, name.len, "strict")))
		goto done;
	found = PyDict_GetItemWithError(S->by_name, key);
	if (found) {
		Py_INCREF(found);
	} else {
		if (PyErr_Occurred() || !(found = PyObject_CallOneArg(S->named, key)) ||
		    PyDict_SetItem(S->by_name, key, found) < 0)
			goto done;
	}
	*node = PyLong_AsSsize_t(found);
	if (*node == -1 && PyErr_Occurred())
		goto done;
	if (*node >= S->n) {
		PyErr_SetString(PyExc_ValueError, "named() gave an unknown node");
		goto done;
	}
	rc = 0;
done:
	Py_XDECREF(key);
	Py_XDECREF(found);
	if (name.out != name.stack)
		PyMem_Free(name.out);
	return rc;
}

/* The items of the array at p, up to `most`, each summarised by one(); *total
 * is how many there are. */
typedef int (*Item)(Summaries *S, Walk *o, const char *p, const char *end, int level,
		    Py_ssize_t a, Py_ssize_t b);

static int put_items(Summaries *S, Walk *o, const char *p, const char *end, int level,
		     Py_ssize_t a, Py_ssize_t b, Item one, Py_ssize_t *total)
{
	*total = 0;
	if (!p)
		return 0;
	if (*p != '[')
		return DECLINE;
	p = skip_ws(p + 1, end);
	if (p < end && *p == ']')
		return 0;
	for (;;) {
		p = skip_ws(p, end);
		if (*total < S->max_items) {
			if (*total && PUT_LIT(o, ", ") < 0)
				return -1;
			int rc = one(S, o, p, end, level, a, b);
			if (rc)
				return rc;
		}
		(*total)++;
		p = skip_value(p, end, 0);
		if (!p)
			return DECLINE;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		return p < end && *p == ']' ? 0 : DECLINE;
	}
}

static int one_element(Summaries *S, Walk *o, const char *p, const char *end, int level,
		       Py_ssize_t elem, Py_ssize_t unused)
{
	(void)unused;
	return summarize(S, o, elem, p, end, level + 1);
}

static int one_entry(Summaries *S, Walk *o, const char *p, const char *end, int level,
		     Py_ssize_t key, Py_ssize_t value)
{
	if (p >= end || *p != '[')
		return DECLINE;
	const char *k = skip_ws(p + 1, end);
	const char *after = skip_value(k, end, 0);
	if (!after)
		return DECLINE;
	after = skip_ws(after, end);
	if (after >= end || *after != ',')
		return DECLINE;
	const char *v = skip_ws(after + 1, end);
	int rc = summarize(S, o, key, k, end, level + 1);
	if (rc)
		return rc;
	if (PUT_LIT(o, ": ") < 0)
		return -1;
	return summarize(S, o, value, v, end, level + 1);
}

static int summarize_struct(Summaries *S, Walk *o, const SNode *nd, const Members *m,
			    const char *end, int level, int field_count)
{
	if (level >= S->max_level)
		return PUT_LIT(o, "{...}");
	if (PUT_LIT(o, "{") < 0)
		return -1;
	Py_ssize_t total = 0;
	const char *p = m->fields;
	if (p) {
		if (*p != '{')
			return DECLINE;
		p = skip_ws(p + 1, end);
		if (p < end && *p == '}')
			p = NULL;
	}
	Py_ssize_t shown = nd->nfields < S->max_fields ? nd->nfields : S->max_fields;
	while (p) {
		const char *key = skip_ws(p, end);
		const char *after = skip_string(key, end);
		if (!after)
			return DECLINE;
		p = skip_ws(after, end);
		if (p >= end || *p != ':')
			return DECLINE;
		const char *v = skip_ws(p + 1, end);
		if (total < shown) {
			if (total && PUT_LIT(o, ", ") < 0)
				return -1;
			int rc = put_decoded(o, key, end);
			if (rc)
				return rc;
			if (PUT_LIT(o, ": ") < 0)
				return -1;
			/* zip(t.fields[:MAX_FIELDS], fields.items()): by position */
			if ((rc = summarize(S, o, nd->fields[total], v, end, level + 1)))
				return rc;
		}
		total++;
		p = skip_value(v, end, 0);
		if (!p)
			return DECLINE;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p >= end || *p != '}')
			return DECLINE;
		break;
	}
	if (total > S->max_fields || field_count)
		if ((total ? PUT_LIT(o, ", ...") : PUT_LIT(o, "...")) < 0)
			return -1;
	return PUT_LIT(o, "}");
}

/* summary(type of node, the CapturedValue at p, level) */
static int summarize(Summaries *S, Walk *o, Py_ssize_t node, const char *p, const char *end,
		     int level)
{
	Members m;
	if (node < 0 || node >= S->n || !read_members(p, end, &m))
		return DECLINE;
	if (is_true(m.isNull, end))
		return PUT_LIT(o, "nil");
	int partial_count = 0;
	if (m.reason) {
		Walk r;
		memset(&r, 0, sizeof(r));
		r.out = r.stack;
		r.cap = sizeof(r.stack);
		int rc = put_decoded(&r, m.reason, end);
		if (rc == 0) {
#define IS(lit) (r.len == (Py_ssize_t)sizeof(lit) - 1 && memcmp(r.out, lit, sizeof(lit) - 1) == 0)
			if (IS("fieldCount"))
				partial_count = 1;
			else if (!IS("length") && !IS("collectionSize"))
				rc = PUT_LIT(o, "<") < 0 || put(o, r.out, r.len) < 0 ||
						     PUT_LIT(o, ">") < 0
					 ? -1
					 : 2;
#undef IS
		}
		if (r.out != r.stack)
			PyMem_Free(r.out);
		if (rc)
			return rc == 2 ? 0 : rc;
	}
	if (Py_EnterRecursiveCall(" while summarising a value"))
		return -1;
	const SNode *nd = &S->nodes[node];
	int rc;
	Py_ssize_t total;
	switch (nd->kind) {
	case S_BASE:
		rc = put_or(o, m.value, end, "");
		break;
	case S_STRING: {
		Walk v;
		memset(&v, 0, sizeof(v));
		v.out = v.stack;
		v.cap = sizeof(v.stack);
		rc = m.value ? put_decoded(&v, m.value, end) : 0;
		if (rc == 0)
			rc = PUT_LIT(o, "\"") < 0 ||
					     put_escaped(o, (const unsigned char *)v.out, v.len) < 0 ||
					     PUT_LIT(o, "\"") < 0 ||
					     (is_true(m.truncated, end) && PUT_LIT(o, "...") < 0)
				 ? -1
				 : 0;
		if (v.out != v.stack)
			PyMem_Free(v.out);
		break;
	}
	case S_STRUCT:
		rc = summarize_struct(S, o, nd, &m, end, level, partial_count);
		break;
	case S_ARRAY:
		if (level >= S->max_level) {
			rc = PUT_LIT(o, "[...]");
			break;
		}
		rc = PUT_LIT(o, "[");
		if (rc == 0)
			rc = put_items(S, o, m.elements, end, level, nd->a, 0, one_element, &total);
		if (rc == 0 && (total > S->max_items || is_true(m.truncated, end)))
			rc = (total ? PUT_LIT(o, ", ...") : PUT_LIT(o, "..."));
		if (rc == 0)
			rc = PUT_LIT(o, "]");
		break;
	case S_POINTER:
		if (nd->a < 0) {
			rc = put_or(o, m.address, end, "?");
		} else if (nd->b) { /* fields {"*": pointee} */
			const char *inner = NULL;
			rc = find_member(m.fields, end, "\"*\"", &inner);
			if (rc == 0)
				rc = PUT_LIT(o, "&");
			if (rc == 0)
				rc = inner ? summarize(S, o, nd->a, inner, end, level) : PUT_LIT(o, "?");
		} else {
			rc = PUT_LIT(o, "&");
			if (rc == 0)
				rc = summarize(S, o, nd->a, p, end, level);
		}
		break;
	case S_UNSAFE:
		rc = put_or(o, m.address, end, "?");
		break;
	case S_MAP:
		if (level >= S->max_level) {
			rc = PUT_LIT(o, "map[...]");
			break;
		}
		rc = PUT_LIT(o, "map[");
		if (rc == 0)
			rc = put_items(S, o, m.entries, end, level, nd->a, nd->b, one_entry, &total);
		if (rc == 0 && (total > S->max_items || is_true(m.truncated, end)))
			rc = (total ? PUT_LIT(o, ", ...") : PUT_LIT(o, "..."));
		if (rc == 0)
			rc = PUT_LIT(o, "]");
		break;
	case S_CHAN:
		rc = PUT_LIT(o, "chan(len=");
		if (rc == 0)
			rc = m.len ? put_decoded(o, m.len, end) : PUT_LIT(o, "None");
		if (rc == 0)
			rc = PUT_LIT(o, ", cap=");
		if (rc == 0)
			rc = m.cap ? put_decoded(o, m.cap, end) : PUT_LIT(o, "None");
		if (rc == 0)
			rc = PUT_LIT(o, ")");
		break;
	case S_IFACE: {
		/* fields {"data": value of the dynamic type} */
		const char *data = NULL;
		if ((rc = find_member(m.fields, end, "\"data\"", &data)))
			break;
		Members dm;
		Py_ssize_t dyn = -1;
		if (data) {
			if (!read_members(data, end, &dm) || !dm.type) {
				rc = DECLINE;
				break;
			}
			if ((rc = node_named(S, dm.type, end, &dyn)))
				break;
		}
		rc = dyn < 0 ? PUT_LIT(o, "?") : summarize(S, o, dyn, data, end, level);
		break;
	}
	default:
		rc = put_or(o, m.value, end, "?");
	}
	Py_LeaveRecursiveCall();
	return rc;
}

/* The summary of the value text (n bytes), as UTF-8 in w, which this sets up
 * (the caller frees w->out when it is not w->stack): 0, DECLINE or -1. */
static int summary_walk(Summaries *S, Walk *w, Py_ssize_t node, const char *text, Py_ssize_t n)
{
	memset(w, 0, sizeof(*w));
	w->out = w->stack;
	w->cap = sizeof(w->stack);
	int rc = match_brackets(text, n, &S->match, &S->match_cap);
	if (rc)
		return rc;
	const char *saved_base = text_base;
	int32_t *saved_match = text_match;
	text_base = text;
	text_match = S->match;
	rc = summarize(S, w, node, text, text + n, 0);
	text_base = saved_base;
	text_match = saved_match;
	return rc;
}

/* The summary of the value text (n bytes), escaped, appended to o: 0, DECLINE or -1. */
int summary_into(PyObject *summaries, Py_ssize_t node, const char *text, Py_ssize_t n, Walk *o)
{
	/* the summary is UTF-8 text; o holds it escaped */
	Walk raw;
	int rc = summary_walk((Summaries *)summaries, &raw, node, text, n);
	if (rc == 0 && put_escaped(o, (const unsigned char *)raw.out, raw.len) < 0)
		rc = -1;
	if (raw.out != raw.stack)
		PyMem_Free(raw.out);
	return rc;
}

/* The summary of the value text (n bytes) in a new str; None: declined. */
static PyObject *summary_text(Summaries *S, Py_ssize_t node, const char *text, Py_ssize_t n)
{
	Walk o;
	int rc = summary_walk(S, &o, node, text, n);
	PyObject *result = NULL;
	if (rc == 0)
		result = PyUnicode_DecodeUTF8(o.out, o.len, "strict");
	else if (rc == DECLINE)
		result = Py_NewRef(Py_None);
	if (o.out != o.stack)
		PyMem_Free(o.out);
	return result;
}

/* Summaries.summary(node, text): the summary (str), or None (declined). */
static PyObject *summaries_summary(Summaries *S, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t node;
	Py_buffer view;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "summary(node, text)");
		return NULL;
	}
	if ((node = PyLong_AsSsize_t(args[0])) == -1 && PyErr_Occurred())
		return NULL;
	if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
		return NULL;
	PyObject *out = summary_text(S, node, view.buf, view.len);
	PyBuffer_Release(&view);
	return out;
}

/* Summaries.extend(specs): append nodes (kind, a, b, fields); a node may refer to
 * any node up to the last of specs. */
static PyObject *summaries_extend(Summaries *S, PyObject *specs)
{
	PyObject *fast = PySequence_Fast(specs, "specs are a sequence");
	if (!fast)
		return NULL;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	if (S->n + n > S->cap) {
		Py_ssize_t cap = (S->n + n) * 2;
		SNode *nodes = PyMem_Realloc(S->nodes, (size_t)cap * sizeof(SNode));
		if (!nodes) {
			Py_DECREF(fast);
			return PyErr_NoMemory();
		}
		S->nodes = nodes;
		S->cap = cap;
	}
	Py_ssize_t last = S->n + n;
	for (Py_ssize_t i = 0; i < n; i++) {
		SNode *nd = &S->nodes[S->n];
		PyObject *fields;
		memset(nd, 0, sizeof(*nd));
		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "innO!", &nd->kind, &nd->a,
				      &nd->b, &PyTuple_Type, &fields))
			goto error;
		nd->nfields = PyTuple_GET_SIZE(fields);
		if (!(nd->fields = PyMem_Calloc((size_t)nd->nfields + 1, sizeof(Py_ssize_t)))) {
			PyErr_NoMemory();
			goto error;
		}
		for (Py_ssize_t k = 0; k < nd->nfields; k++) {
			nd->fields[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(fields, k));
			if (nd->fields[k] < 0 || nd->fields[k] >= last) {
				if (!PyErr_Occurred())
					PyErr_SetString(PyExc_ValueError, "a field's node is unknown");
				PyMem_Free(nd->fields);
				goto error;
			}
		}
		int refs = (nd->kind == S_ARRAY || nd->kind == S_MAP || nd->kind == S_POINTER);
		if (nd->kind < S_BASE || nd->kind > S_OTHER || (refs && nd->a >= last) ||
		    (nd->kind == S_MAP && (nd->b < 0 || nd->b >= last)) ||
		    ((nd->kind == S_ARRAY || nd->kind == S_MAP) && nd->a < 0)) {
			PyErr_SetString(PyExc_ValueError, "bad summary node");
			PyMem_Free(nd->fields);
			goto error;
		}
		S->n++;
	}
	Py_DECREF(fast);
	Py_RETURN_NONE;
error:
	Py_DECREF(fast);
	return NULL;
}

static int summaries_init(Summaries *S, PyObject *args, PyObject *kwds)
{
	PyObject *named;
	static char *kwlist[] = {"named", "max_fields", "max_items", "max_level", NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "Onni", kwlist, &named, &S->max_fields,
					 &S->max_items, &S->max_level))
		return -1;
	if (S->by_name) {
		PyErr_SetString(PyExc_RuntimeError, "Summaries initialised twice");
		return -1;
	}
	if (!(S->by_name = PyDict_New()))
		return -1;
	S->named = Py_NewRef(named);
	return 0;
}

static int summaries_traverse(Summaries *S, visitproc visit, void *arg)
{
	Py_VISIT(S->named);
	Py_VISIT(S->by_name);
	return 0;
}

static int summaries_clear(Summaries *S)
{
	Py_CLEAR(S->named);
	Py_CLEAR(S->by_name);
	return 0;
}

static void summaries_dealloc(Summaries *S)
{
	PyObject_GC_UnTrack(S);
	summaries_clear(S);
	for (Py_ssize_t i = 0; i < S->n; i++)
		PyMem_Free(S->nodes[i].fields);
	PyMem_Free(S->nodes);
	PyMem_Free(S->match);
	Py_TYPE(S)->tp_free((PyObject *)S);
}

static PyMethodDef summaries_methods[] = {
	{"extend", (PyCFunction)summaries_extend, METH_O,
	 "extend(specs): add nodes (kind, a, b, fields)."},
	{"summary", (PyCFunction)(void (*)(void))summaries_summary, METH_FASTCALL,
	 "summary(node, text): the message summary of a value text, or None."},
	{NULL, NULL, 0, NULL},
};

PyTypeObject SummariesType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages.decode._render.Summaries",
	.tp_doc = "Message summaries of value texts (summaries.py builds the table).",
	.tp_basicsize = sizeof(Summaries),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)summaries_init,
	.tp_dealloc = (destructor)summaries_dealloc,
	.tp_traverse = (traverseproc)summaries_traverse,
	.tp_clear = (inquiry)summaries_clear,
	.tp_methods = summaries_methods,
};
