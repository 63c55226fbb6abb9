/* The check of JSON text against a compiled JSON schema (stages/schemacheck.py).
 *
 * Checker(nodes, root) takes the node table SchemaCheck compiles; check(text)
 * reads the text once, as a recursive-descent JSON parser that builds nothing,
 * following the node of each value: None when the text is one JSON value the
 * schema accepts, else a str saying why not and where (a byte offset).
 *
 * The JSON is checked as RFC 8259 defines it (strict UTF-8, no NaN, nothing
 * after the value but whitespace); numbers are integers when their value is
 * integral (1.0 and 1e2 are, as jsonschema says). The schema side implements
 * what schemacheck.py compiles, and nothing else.
 *
 * Texts checked one after the other repeat much of each other (the snapshots of
 * one probe: the same stacks, the same values deep inside their arguments), so
 * the checker remembers the objects and arrays it found valid (MEMO_SLOTS of
 * them, the latest, in the bytes objects they were read from, kept alive) by
 * their node and first bytes. Where the text at a value starts with the whole of
 * one such value for the same node, that value is the one there (a JSON value
 * ends where its text says: what follows cannot change it) and is valid as it
 * was (whether a value is valid depends on its node and text alone, and on how
 * deep it sits: a remembered value keeps how many levels it nests).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <emmintrin.h> /* SSE2: every x86-64 has it */

/* mirrors schemacheck.py */
enum { N_ANY, N_NEVER, N_ANYOF, N_TYPED };
enum { T_NULL, T_BOOLEAN, T_OBJECT, T_ARRAY, T_STRING, T_INTEGER, T_NUMBER, N_TYPES };
#define ALLOWED (-2)
#define FORBIDDEN (-1)
#define MAX_DEPTH 1000

typedef struct {
	const char *s;
	Py_ssize_t n;
} Text;

typedef struct {
	uint8_t set[16];
	int quantifier; /* 0 once, 1 +, 2 * */
} Atom;

typedef struct {
	int kind;
	unsigned types;
	Py_ssize_t dispatch[N_TYPES]; /* N_ANYOF */
	int has_enum;
	unsigned enum_literals; /* 1 null, 2 true, 4 false */
	Text *enum_strings;
	Py_ssize_t nenum;
	Text *prop_names;
	Py_ssize_t *prop_nodes;
	Py_ssize_t nprops;
	uint64_t *prop_words; /* the first 8 bytes of each name (zero-padded) */
	uint8_t *prop_slots; /* open addressing by prop_hash: index + 1, 0 empty */
	unsigned prop_mask;
	uint64_t required;
	Py_ssize_t additional;
	Py_ssize_t *prefix;
	Py_ssize_t nprefix;
	Py_ssize_t items;
	long long min_items, max_items;
	Atom *atoms;
	Py_ssize_t natoms;
	int has_pattern;
	long long min_length, max_length;
} Node;

/* A value found valid: its text in `owner` (a bytes object, referenced). */
typedef struct {
	uint64_t hash; /* of its node and first MEMO_KEY bytes */
	PyObject *owner;
	const unsigned char *text;
	Py_ssize_t len;
	Py_ssize_t node;
	int levels; /* how deep it nests, itself included */
} Memo;

#define MEMO_SLOTS 256 /* by hash, the latest wins */
#define MEMO_KEY 64     /* bytes hashed: a value remembered is at least MEMO_MIN long */
#define MEMO_MIN 128

typedef struct {
	PyObject_HEAD
	Node *nodes;
	Py_ssize_t n;
	Py_ssize_t root;
	PyObject *keep; /* the bytes the texts point into */
	Memo *memo;     /* MEMO_SLOTS */
} Checker;

/* One check: the text, where it is, what went wrong. */
typedef struct {
	const Checker *c;
	const unsigned char *p, *start, *end;
	const char *error; /* static text */
	const unsigned char *error_at;
	int depth;
	int peak;        /* the deepest depth reached (for Memo.levels) */
	PyObject *owner; /* the text's bytes object, when values of it may be remembered */
	char *buf; /* decoded string, for patterns and enums */
	Py_ssize_t buflen, bufcap;
} Scan;

/* Bytes a string holds as they are: printable ASCII but the quote and backslash. */
static uint8_t plain[256];

static void init_plain(void)
{
	for (int c = 0x20; c < 0x80; c++)
		plain[c] = c != '"' && c != '\\';
}

/* The first byte from p that is not plain (or end): sixteen bytes at a time (a
 * signed comparison with 0x20 finds both control bytes and those from 0x80), then
 * eight, then one by one. */
static inline const unsigned char *span_plain(const unsigned char *p, const unsigned char *end)
{
	const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'),
		      space = _mm_set1_epi8(0x20);
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		int mask = _mm_movemask_epi8(_mm_or_si128(
			_mm_cmplt_epi8(x, space),
			_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash))));
		if (mask)
			return p + __builtin_ctz((unsigned)mask);
		p += 16;
	}
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	while (end - p >= 8) {
		uint64_t x, quote8, slash8;
		memcpy(&x, p, 8);
		quote8 = x ^ (ones * '"');
		slash8 = x ^ (ones * '\\');
		uint64_t mask = (((quote8 - ones) & ~quote8) | ((slash8 - ones) & ~slash8) |
				 ((x - ones * 0x20) & ~x) | x) &
				high;
		if (mask)
			return p + (__builtin_ctzll(mask) >> 3);
		p += 8;
	}
	while (p < end && plain[*p])
		p++;
	return p;
}

static int fail(Scan *s, const unsigned char *at, const char *why)
{
	if (!s->error) {
		s->error = why;
		s->error_at = at;
	}
	return -1;
}

static inline void skip_ws(Scan *s)
{
	if (s->p < s->end && *s->p > ' ')
		return; /* compact JSON: nothing to skip */
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

static int buf_put(Scan *s, const unsigned char *b, Py_ssize_t n)
{
	if (s->buflen + n > s->bufcap) {
		Py_ssize_t cap = s->bufcap ? s->bufcap : 256;
		while (cap < s->buflen + n)
			cap *= 2;
		char *buf = PyMem_Realloc(s->buf, (size_t)cap);
		if (!buf) {
			PyErr_NoMemory();
			return -1;
		}
		s->buf = buf;
		s->bufcap = cap;
	}
	memcpy(s->buf + s->buflen, b, (size_t)n);
	s->buflen += n;
	return 0;
}

/* The length of the UTF-8 sequence at p (strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	int n;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (end - p < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

static int hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Code point cp as (WTF-)8 bytes into the buffer. */
static int buf_code_point(Scan *s, unsigned cp)
{
	unsigned char b[4];
	int n;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_put(s, b, n);
}

/* A string from its opening quote. With decode, its content (escapes undone)
 * is left in s->buf and its length in code points in *chars. */
static int scan_string(Scan *s, int decode, long long *chars)
{
	const unsigned char *at = s->p;
	s->p++;
	long long count = 0;
	s->buflen = 0;
	for (;;) {
		const unsigned char *run = s->p;
		s->p = span_plain(s->p, s->end);
		count += s->p - run;
		if (decode && s->p > run && buf_put(s, run, s->p - run) < 0)
			return -1;
		if (s->p >= s->end)
			return fail(s, at, "unterminated string");
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			*chars = count;
			return 0;
		}
		if (c < 0x20)
			return fail(s, s->p, "control character in a string");
		if (c >= 0x80) {
			int n = utf8_len(s->p, s->end);
			if (!n)
				return fail(s, s->p, "invalid UTF-8");
			if (decode && buf_put(s, s->p, n) < 0)
				return -1;
			s->p += n;
			count++;
			continue;
		}
		/* an escape */
		if (s->end - s->p < 2)
			return fail(s, at, "unterminated string");
		unsigned char e = s->p[1];
		unsigned char plain;
		switch (e) {
		case '"': plain = '"'; break;
		case '\\': plain = '\\'; break;
		case '/': plain = '/'; break;
		case 'b': plain = '\b'; break;
		case 'f': plain = '\f'; break;
		case 'n': plain = '\n'; break;
		case 'r': plain = '\r'; break;
		case 't': plain = '\t'; break;
		case 'u': {
			unsigned cp;
			if (s->end - s->p < 6 || hex4(s->p + 2, &cp) < 0)
				return fail(s, s->p, "bad \\u escape");
			s->p += 6;
			/* json.loads joins an escaped surrogate pair into one character */
			if (cp >= 0xD800 && cp <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
			    s->p[1] == 'u') {
				unsigned low;
				if (hex4(s->p + 2, &low) == 0 && low >= 0xDC00 && low <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
					s->p += 6;
				}
			}
			if (decode && buf_code_point(s, cp) < 0)
				return -1;
			count++;
			continue;
		}
		default:
			return fail(s, s->p, "bad escape");
		}
		if (decode && buf_put(s, &plain, 1) < 0)
			return -1;
		s->p += 2;
		count++;
	}
}

/* A number: T_INTEGER when its value is integral, else T_NUMBER; -1 if bad. */
static int scan_number(Scan *s)
{
	const unsigned char *at = s->p, *p = s->p, *end = s->end;
	int integral = 1;
	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return fail(s, at, "bad number");
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		p++;
		integral = 0;
		if (p >= end || *p < '0' || *p > '9')
			return fail(s, at, "bad number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		integral = 0;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return fail(s, at, "bad number");
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	s->p = p;
	if (integral)
		return T_INTEGER;
	/* As Python reads it: a float, integral if finite and whole. */
	char small[64];
	char *copy = small;
	size_t n = (size_t)(p - at);
	if (n >= sizeof(small) && !(copy = PyMem_Malloc(n + 1))) {
		PyErr_NoMemory();
		return -2;
	}
	memcpy(copy, at, n);
	copy[n] = 0;
	double v = PyOS_string_to_double(copy, NULL, NULL);
	if (copy != small)
		PyMem_Free(copy);
	if (v == -1.0 && PyErr_Occurred())
		return -2;
	return isfinite(v) && floor(v) == v ? T_INTEGER : T_NUMBER;
}

static int literal(Scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return fail(s, s->p, "not JSON");
	s->p += n;
	return 0;
}

static int match_pattern(const Node *nd, const unsigned char *t, Py_ssize_t n)
{
	Py_ssize_t i = 0;
#define IN(a, c) ((c) < 128 && ((a)->set[(c) >> 3] >> ((c) & 7) & 1))
	for (Py_ssize_t k = 0; k < nd->natoms; k++) {
		const Atom *a = &nd->atoms[k];
		if (a->quantifier != 2) {
			if (i >= n || !IN(a, t[i]))
				return 0;
			i++;
		}
		if (a->quantifier)
			while (i < n && IN(a, t[i]))
				i++;
	}
#undef IN
	/* Python's $: the end, or before a newline that ends the text */
	return i == n || (i == n - 1 && t[i] == '\n');
}

static int value(Scan *s, Py_ssize_t node);

/* The first bytes (up to 8) of a name of len bytes at p, zero-padded; `end`
 * bounds what may be read. */
static inline uint64_t name_word(const char *p, Py_ssize_t len, const char *end)
{
	uint64_t w = 0;
	if (end - p >= 8) {
		memcpy(&w, p, 8);
		if (len < 8)
			w &= ((uint64_t)1 << (len * 8)) - 1;
	} else {
		memcpy(&w, p, (size_t)(len < 8 ? len : 8));
	}
	return w;
}

static inline unsigned prop_hash(uint64_t word, Py_ssize_t len)
{
	return (unsigned)(((word ^ (uint64_t)len) * 0x9E3779B97F4A7C15ull) >> 40);
}

/* The index of property name in nd, or -1. */
static inline Py_ssize_t find_prop(const Node *nd, const char *name, Py_ssize_t len,
				   const char *end)
{
	if (!nd->nprops)
		return -1;
	uint64_t word = name_word(name, len, end);
	for (unsigned h = prop_hash(word, len) & nd->prop_mask;; h = (h + 1) & nd->prop_mask) {
		unsigned slot = nd->prop_slots[h];
		if (!slot)
			return -1;
		const Text *t = &nd->prop_names[slot - 1];
		if (nd->prop_words[slot - 1] == word && t->n == len &&
		    (len <= 8 || memcmp(t->s + 8, name + 8, (size_t)(len - 8)) == 0))
			return slot - 1;
	}
}

static int check_object(Scan *s, const Node *nd)
{
	const unsigned char *at = s->p;
	uint64_t seen = 0;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		goto done;
	}
	for (;;) {
		skip_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return fail(s, s->p, "expected a member name");
		const unsigned char *key_at = s->p, *key = s->p + 1, *q = span_plain(key, s->end);
		const char *name = (const char *)key;
		Py_ssize_t len = q - key;
		if (q < s->end && *q == '"') { /* no escape: the name is the bytes */
			s->p = q + 1;
		} else {
			long long chars;
			if (scan_string(s, nd != NULL, &chars) < 0)
				return -1;
			name = s->buf;
			len = s->buflen;
		}
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, s->p, "expected ':'");
		s->p++;
		skip_ws(s);
		Py_ssize_t sub = -1;
		if (nd) {
			Py_ssize_t i = find_prop(nd, name, len,
						 name == s->buf ? name + len : (const char *)s->end);
			if (i >= 0) {
				if (seen >> i & 1)
					return fail(s, key_at, "a property given twice");
				seen |= (uint64_t)1 << i;
				sub = nd->prop_nodes[i];
			} else if (nd->additional == FORBIDDEN) {
				return fail(s, key_at, "additional property not allowed");
			} else if (nd->additional != ALLOWED) {
				sub = nd->additional;
			}
		}
		if (value(s, sub) < 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			break;
		}
		return fail(s, s->p, "expected ',' or '}'");
	}
done:
	if (nd && (seen & nd->required) != nd->required)
		return fail(s, at, "a required property is missing");
	return 0;
}

static int check_array(Scan *s, const Node *nd)
{
	const unsigned char *at = s->p;
	long long count = 0;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
	} else {
		for (;;) {
			skip_ws(s);
			Py_ssize_t sub = -1;
			if (nd) {
				if (count < nd->nprefix)
					sub = nd->prefix[count];
				else if (nd->items == FORBIDDEN)
					return fail(s, s->p, "an item not allowed");
				else if (nd->items != ALLOWED)
					sub = nd->items;
			}
			if (value(s, sub) < 0)
				return -1;
			count++;
			skip_ws(s);
			if (s->p < s->end && *s->p == ',') {
				s->p++;
				continue;
			}
			if (s->p < s->end && *s->p == ']') {
				s->p++;
				break;
			}
			return fail(s, s->p, "expected ',' or ']'");
		}
	}
	if (nd && (count < nd->min_items || (nd->max_items >= 0 && count > nd->max_items)))
		return fail(s, at, "wrong number of items");
	return 0;
}

static int check_string(Scan *s, const Node *nd)
{
	const unsigned char *at = s->p;
	int decode = nd && (nd->has_pattern || (nd->has_enum && nd->nenum));
	long long chars;
	if (scan_string(s, decode, &chars) < 0)
		return -1;
	if (!nd)
		return 0;
	if (chars < nd->min_length || (nd->max_length >= 0 && chars > nd->max_length))
		return fail(s, at, "string of the wrong length");
	if (nd->has_enum) {
		Py_ssize_t i = 0;
		for (; i < nd->nenum; i++)
			if (nd->enum_strings[i].n == s->buflen &&
			    memcmp(nd->enum_strings[i].s, s->buf, (size_t)s->buflen) == 0)
				break;
		if (i == nd->nenum)
			return fail(s, at, "not one of the allowed values");
	}
	if (nd->has_pattern && !match_pattern(nd, (const unsigned char *)s->buf, s->buflen))
		return fail(s, at, "string does not match the pattern");
	return 0;
}

static inline uint64_t memo_hash(const unsigned char *p, Py_ssize_t node)
{
	uint64_t h = (uint64_t)node * 0x9E3779B97F4A7C15ull;
	for (int i = 0; i < MEMO_KEY; i += 8) {
		uint64_t x;
		memcpy(&x, p + i, 8);
		h = (h ^ x) * 0xBF58476D1CE4E5B9ull;
		h ^= h >> 31;
	}
	return h;
}

/* An object or array at s->p (node: its node, nd: that node resolved, or NULL),
 * skipped when it is a value found valid before (see the top of the file). */
static int check_container(Scan *s, Py_ssize_t node, const Node *nd, int type)
{
	const unsigned char *start = s->p;
	Memo *m = NULL;
	uint64_t h = 0;
	if (s->end - start >= MEMO_MIN) {
		h = memo_hash(start, node);
		m = &s->c->memo[h & (MEMO_SLOTS - 1)];
		if (m->owner && m->hash == h && m->node == node && m->len <= s->end - start &&
		    s->depth - 1 + m->levels <= MAX_DEPTH &&
		    memcmp(start, m->text, (size_t)m->len) == 0) {
			s->p = start + m->len;
			if (s->depth - 1 + m->levels > s->peak)
				s->peak = s->depth - 1 + m->levels;
			return 0;
		}
	}
	int outer = s->peak;
	s->peak = s->depth;
	int rc = type == T_OBJECT ? check_object(s, nd) : check_array(s, nd);
	if (rc == 0 && m && s->owner && s->p - start >= MEMO_MIN) {
		Py_XSETREF(m->owner, Py_NewRef(s->owner));
		m->hash = h;
		m->text = start;
		m->len = s->p - start;
		m->node = node;
		m->levels = s->peak - s->depth + 1;
	}
	if (outer > s->peak)
		s->peak = outer;
	return rc;
}

/* The value at s->p, against node (-1: anything, checked as JSON only). */
static int value(Scan *s, Py_ssize_t node)
{
	if (s->p >= s->end)
		return fail(s, s->p, "a value is missing");
	if (++s->depth > MAX_DEPTH) {
		return fail(s, s->p, "nested too deep");
	}
	if (s->depth > s->peak)
		s->peak = s->depth;
	const Node *nd = node >= 0 ? &s->c->nodes[node] : NULL;
	unsigned char c = *s->p;
	int type;
	switch (c) {
	case '{': type = T_OBJECT; break;
	case '[': type = T_ARRAY; break;
	case '"': type = T_STRING; break;
	case 't':
	case 'f': type = T_BOOLEAN; break;
	case 'n': type = T_NULL; break;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			const unsigned char *at = s->p;
			int t = scan_number(s);
			if (t < 0)
				return -1;
			/* numbers are checked against their type only */
			while (nd && nd->kind == N_ANYOF) {
				Py_ssize_t next = nd->dispatch[t];
				if (next < 0)
					return fail(s, at, "no alternative of anyOf allows this type");
				nd = &s->c->nodes[next];
			}
			if (nd && nd->kind == N_NEVER)
				return fail(s, at, "no value is allowed here");
			if (nd && nd->kind == N_TYPED &&
			    (!(nd->types >> t & 1) || nd->has_enum))
				return fail(s, at, "wrong type");
			s->depth--;
			return 0;
		}
		return fail(s, s->p, "not JSON");
	}
	while (nd && nd->kind == N_ANYOF) {
		Py_ssize_t next = nd->dispatch[type];
		if (next < 0)
			return fail(s, s->p, "no alternative of anyOf allows this type");
		nd = &s->c->nodes[next];
	}
	if (nd && nd->kind == N_NEVER)
		return fail(s, s->p, "no value is allowed here");
	if (nd && nd->kind == N_ANY)
		nd = NULL;
	if (nd && !(nd->types >> type & 1))
		return fail(s, s->p, "wrong type");
	int rc;
	switch (type) {
	case T_OBJECT:
	case T_ARRAY:
		rc = check_container(s, node, nd, type);
		break;
	case T_STRING: rc = check_string(s, nd); break;
	default: {
		const unsigned char *at = s->p;
		unsigned bit;
		if (c == 't') {
			rc = literal(s, "true", 4);
			bit = 2;
		} else if (c == 'f') {
			rc = literal(s, "false", 5);
			bit = 4;
		} else {
			rc = literal(s, "null", 4);
			bit = 1;
		}
		if (rc == 0 && nd && nd->has_enum && !(nd->enum_literals & bit))
			rc = fail(s, at, "not one of the allowed values");
	}
	}
	s->depth--;
	return rc;
}

/* Checker.check(text): None if valid, else why not. */
static PyObject *checker_check(Checker *self, PyObject *arg)
{
	Py_buffer view;
	if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	Scan s = {0};
	s.c = self;
	/* values of an immutable text may be remembered (the memo keeps it alive) */
	s.owner = PyBytes_CheckExact(arg) ? arg : NULL;
	s.start = s.p = view.buf;
	s.end = s.start + view.len;
	skip_ws(&s);
	int rc = value(&s, self->root);
	if (rc == 0) {
		skip_ws(&s);
		if (s.p != s.end)
			rc = fail(&s, s.p, "text after the value");
	}
	PyMem_Free(s.buf);
	PyBuffer_Release(&view);
	if (rc == 0)
		Py_RETURN_NONE;
	if (PyErr_Occurred())
		return NULL;
	return PyUnicode_FromFormat("%s at byte %zd", s.error, (Py_ssize_t)(s.error_at - s.start));
}

/* ------------------------------------------------------------------ building */

static int take_text(Checker *c, PyObject *obj, Text *t)
{
	if (!PyBytes_Check(obj)) {
		PyErr_SetString(PyExc_TypeError, "names are bytes");
		return -1;
	}
	if (PyList_Append(c->keep, obj) < 0)
		return -1;
	t->s = PyBytes_AS_STRING(obj);
	t->n = PyBytes_GET_SIZE(obj);
	return 0;
}

static int node_index(Checker *c, PyObject *obj, Py_ssize_t *out, int special)
{
	Py_ssize_t v = PyLong_AsSsize_t(obj);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v >= c->n || v < (special ? ALLOWED : FORBIDDEN)) {
		PyErr_Format(PyExc_ValueError, "node index %zd out of range", v);
		return -1;
	}
	*out = v;
	return 0;
}

static int take_indices(Checker *c, PyObject *seq, Py_ssize_t **out, Py_ssize_t *n)
{
	if (!PyTuple_Check(seq)) {
		PyErr_SetString(PyExc_TypeError, "expected a tuple of node indices");
		return -1;
	}
	*n = PyTuple_GET_SIZE(seq);
	*out = PyMem_Calloc((size_t)*n + 1, sizeof(Py_ssize_t));
	if (!*out) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < *n; i++) {
		if (node_index(c, PyTuple_GET_ITEM(seq, i), &(*out)[i], 0) < 0)
			return -1;
		if ((*out)[i] < 0) {
			PyErr_SetString(PyExc_ValueError, "a node index is negative");
			return -1;
		}
	}
	return 0;
}

static int take_node(Checker *c, Node *nd, PyObject *spec)
{
	if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 1) {
		PyErr_SetString(PyExc_TypeError, "a node is a tuple");
		return -1;
	}
	nd->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
	if (PyErr_Occurred())
		return -1;
	if (nd->kind == N_ANY || nd->kind == N_NEVER)
		return 0;
	if (nd->kind == N_ANYOF) {
		PyObject *dispatch;
		if (!PyArg_ParseTuple(spec, "iO!", &nd->kind, &PyTuple_Type, &dispatch))
			return -1;
		if (PyTuple_GET_SIZE(dispatch) != N_TYPES) {
			PyErr_SetString(PyExc_ValueError, "anyOf dispatch of 7 entries");
			return -1;
		}
		for (int t = 0; t < N_TYPES; t++)
			if (node_index(c, PyTuple_GET_ITEM(dispatch, t), &nd->dispatch[t], 0) < 0)
				return -1;
		return 0;
	}
	if (nd->kind != N_TYPED) {
		PyErr_Format(PyExc_ValueError, "unknown node kind %d", nd->kind);
		return -1;
	}
	PyObject *enumo, *props, *additional, *prefix, *items, *pattern;
	unsigned long long required;
	if (!PyArg_ParseTuple(spec, "iIOO!KOO!OLLOLL", &nd->kind, &nd->types, &enumo, &PyTuple_Type,
			      &props, &required, &additional, &PyTuple_Type, &prefix, &items,
			      &nd->min_items, &nd->max_items, &pattern, &nd->min_length,
			      &nd->max_length))
		return -1;
	nd->required = required;
	if (enumo != Py_None) {
		PyObject *strings;
		if (!PyArg_ParseTuple(enumo, "IO!", &nd->enum_literals, &PyTuple_Type, &strings))
			return -1;
		nd->has_enum = 1;
		nd->nenum = PyTuple_GET_SIZE(strings);
		if (!(nd->enum_strings = PyMem_Calloc((size_t)nd->nenum + 1, sizeof(Text)))) {
			PyErr_NoMemory();
			return -1;
		}
		for (Py_ssize_t i = 0; i < nd->nenum; i++)
			if (take_text(c, PyTuple_GET_ITEM(strings, i), &nd->enum_strings[i]) < 0)
				return -1;
	}
	nd->nprops = PyTuple_GET_SIZE(props);
	if (nd->nprops > 64) {
		PyErr_SetString(PyExc_ValueError, "at most 64 properties");
		return -1;
	}
	nd->prop_names = PyMem_Calloc((size_t)nd->nprops + 1, sizeof(Text));
	nd->prop_nodes = PyMem_Calloc((size_t)nd->nprops + 1, sizeof(Py_ssize_t));
	if (!nd->prop_names || !nd->prop_nodes) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < nd->nprops; i++) {
		PyObject *name, *sub;
		if (!PyArg_ParseTuple(PyTuple_GET_ITEM(props, i), "SO", &name, &sub) ||
		    take_text(c, name, &nd->prop_names[i]) < 0 ||
		    node_index(c, sub, &nd->prop_nodes[i], 0) < 0)
			return -1;
	}
	unsigned size = 4;
	while (size < 4 * (unsigned)nd->nprops)
		size *= 2;
	if (!(nd->prop_slots = PyMem_Calloc(size, 1))) {
		PyErr_NoMemory();
		return -1;
	}
	nd->prop_mask = size - 1;
	if (!(nd->prop_words = PyMem_Calloc((size_t)nd->nprops + 1, sizeof(uint64_t)))) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < nd->nprops; i++) {
		const Text *t = &nd->prop_names[i];
		nd->prop_words[i] = name_word(t->s, t->n, t->s + t->n);
		unsigned h = prop_hash(nd->prop_words[i], t->n) & nd->prop_mask;
		while (nd->prop_slots[h])
			h = (h + 1) & nd->prop_mask;
		nd->prop_slots[h] = (uint8_t)(i + 1);
	}
	if (node_index(c, additional, &nd->additional, 1) < 0 ||
	    take_indices(c, prefix, &nd->prefix, &nd->nprefix) < 0 ||
	    node_index(c, items, &nd->items, 1) < 0)
		return -1;
	if (pattern != Py_None) {
		if (!PyTuple_Check(pattern)) {
			PyErr_SetString(PyExc_TypeError, "a pattern is a tuple of atoms");
			return -1;
		}
		nd->has_pattern = 1;
		nd->natoms = PyTuple_GET_SIZE(pattern);
		if (!(nd->atoms = PyMem_Calloc((size_t)nd->natoms + 1, sizeof(Atom)))) {
			PyErr_NoMemory();
			return -1;
		}
		for (Py_ssize_t i = 0; i < nd->natoms; i++) {
			const char *set;
			Py_ssize_t len;
			if (!PyArg_ParseTuple(PyTuple_GET_ITEM(pattern, i), "y#i", &set, &len,
					      &nd->atoms[i].quantifier))
				return -1;
			if (len != 16) {
				PyErr_SetString(PyExc_ValueError, "an atom's set is 16 bytes");
				return -1;
			}
			memcpy(nd->atoms[i].set, set, 16);
		}
	}
	return 0;
}

static void node_free(Node *nd)
{
	PyMem_Free(nd->enum_strings);
	PyMem_Free(nd->prop_names);
	PyMem_Free(nd->prop_nodes);
	PyMem_Free(nd->prop_slots);
	PyMem_Free(nd->prop_words);
	PyMem_Free(nd->prefix);
	PyMem_Free(nd->atoms);
}

static void checker_dealloc(Checker *c)
{
	for (Py_ssize_t i = 0; i < c->n; i++)
		node_free(&c->nodes[i]);
	PyMem_Free(c->nodes);
	if (c->memo)
		for (int i = 0; i < MEMO_SLOTS; i++)
			Py_XDECREF(c->memo[i].owner);
	PyMem_Free(c->memo);
	Py_XDECREF(c->keep);
	Py_TYPE(c)->tp_free((PyObject *)c);
}

static int checker_init(Checker *c, PyObject *args, PyObject *kwds)
{
	PyObject *specs;
	Py_ssize_t root;
	static char *kwlist[] = {"nodes", "root", NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!n", kwlist, &PyList_Type, &specs, &root))
		return -1;
	if (c->nodes) {
		PyErr_SetString(PyExc_RuntimeError, "Checker initialised twice");
		return -1;
	}
	Py_ssize_t n = PyList_GET_SIZE(specs);
	if (root < 0 || root >= n) {
		PyErr_SetString(PyExc_ValueError, "root out of range");
		return -1;
	}
	if (!(c->keep = PyList_New(0)))
		return -1;
	if (!(c->nodes = PyMem_Calloc((size_t)n + 1, sizeof(Node)))) {
		PyErr_NoMemory();
		return -1;
	}
	c->n = n;
	c->root = root;
	if (!(c->memo = PyMem_Calloc(MEMO_SLOTS, sizeof(Memo)))) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++)
		if (take_node(c, &c->nodes[i], PyList_GET_ITEM(specs, i)) < 0)
			return -1;
	return 0;
}

static PyMethodDef checker_methods[] = {
	{"check", (PyCFunction)checker_check, METH_O,
	 "check(text): None if the JSON text is valid, else why not."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject CheckerType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stages._schemacheck.Checker",
	.tp_doc = "A compiled JSON schema (stages.schemacheck.SchemaCheck builds it).",
	.tp_basicsize = sizeof(Checker),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)checker_init,
	.tp_dealloc = (destructor)checker_dealloc,
	.tp_methods = checker_methods,
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "stages._schemacheck",
	.m_doc = "JSON text checked against a compiled JSON schema, in one pass.",
	.m_size = -1,
};

PyMODINIT_FUNC PyInit__schemacheck(void)
{
	init_plain();
	if (PyType_Ready(&CheckerType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&module);
	if (!m)
		return NULL;
	if (PyModule_AddObjectRef(m, "Checker", (PyObject *)&CheckerType) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
