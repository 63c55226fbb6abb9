/*
 * Line programs decoded in C: lines.line_rows and lines.sequence_pcs_at without
 * Python's per-opcode cost (a line of an inlined function has rows in a thousand
 * sequences of cmd/compile; the scan was a third of a scoped line IR's time, and
 * the rows of a big function cost more than the rest of its IR).
 *
 * line_rows(data, start, end, unit, line_range, opcode_base, line_base, lengths,
 *           default_is_stmt, one_sequence) -> list[(address, file, line, is_stmt)] | None
 * sequence_pcs_at(data, start, end, unit, line_range, opcode_base, line_base,
 *                 lengths, wanted) -> list[int] | None
 *
 * The same state machine as the Python versions, over the bytes of a line
 * program. Only the ordinary path is handled here: on anything unusual
 * (a read past the data, a LEB128 or an address beyond 64 bits, an address operand
 * that is not 8 bytes, a file number beyond 32 bits) it returns None and the
 * caller runs the Python version, which defines the result (or the IndexError)
 * for such input. The data is untrusted: every read is bounds-checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum {
	LNS_copy = 1,
	LNS_advance_pc = 2,
	LNS_advance_line = 3,
	LNS_set_file = 4,
	LNS_negate_stmt = 6,
	LNS_const_add_pc = 8,
	LNS_fixed_advance_pc = 9,
	LNE_end_sequence = 1,
	LNE_set_address = 2,
};

/* 0: ok; -1: not the ordinary path (fall back). */
static int uleb(const uint8_t *d, Py_ssize_t n, Py_ssize_t *pos, uint64_t *out)
{
	uint64_t value = 0;
	unsigned shift = 0;
	for (;;) {
		if (*pos >= n || shift > 56)
			return -1;
		uint8_t byte = d[(*pos)++];
		value |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (byte < 0x80) {
			*out = value;
			return 0;
		}
	}
}

static int sleb(const uint8_t *d, Py_ssize_t n, Py_ssize_t *pos, int64_t *out)
{
	uint64_t value = 0;
	unsigned shift = 0;
	for (;;) {
		if (*pos >= n || shift > 56)
			return -1;
		uint8_t byte = d[(*pos)++];
		value |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
		if (byte < 0x80) {
			if (byte & 0x40)
				value |= ~(uint64_t)0 << shift; /* shift <= 63 here */
			*out = (int64_t)value;
			return 0;
		}
	}
}

/* The wanted lines of file `file` (a borrowed set), NULL if none; -1 on error. */
static int lines_of(PyObject *wanted, uint64_t file, PyObject **lines)
{
	PyObject *key = PyLong_FromUnsignedLongLong(file);
	if (key == NULL)
		return -1;
	*lines = PyDict_GetItemWithError(wanted, key);
	Py_DECREF(key);
	return (*lines == NULL && PyErr_Occurred()) ? -1 : 0;
}

/* Appends `address` to `out` if `line` is in `lines`: 0, or -1 on error. */
static int match(PyObject *lines, int64_t line, uint64_t address, PyObject *out)
{
	if (lines == NULL)
		return 0;
	PyObject *key = PyLong_FromLongLong(line);
	if (key == NULL)
		return -1;
	int found = PySequence_Contains(lines, key);
	Py_DECREF(key);
	if (found <= 0)
		return found;
	PyObject *pc = PyLong_FromUnsignedLongLong(address);
	if (pc == NULL)
		return -1;
	int rc = PyList_Append(out, pc);
	Py_DECREF(pc);
	return rc;
}

/* Guards against the arithmetic leaving the range Python's ints would keep exact. */
#define LIMIT ((int64_t)1 << 62)

/* Appends the row (address, file, line, is_stmt) to `out`: 0, or -1 on error. */
static int row(PyObject *out, uint64_t address, uint64_t file, int64_t line, int is_stmt)
{
	PyObject *t = Py_BuildValue("(KKLO)", (unsigned long long)address, (unsigned long long)file,
				    (long long)line, is_stmt ? Py_True : Py_False);
	if (t == NULL)
		return -1;
	int rc = PyList_Append(out, t);
	Py_DECREF(t);
	return rc;
}

struct program {
	const uint8_t *d;
	Py_ssize_t n, start, end;
	int unit, line_range, base, line_base;
	const uint8_t *lengths;
	Py_ssize_t nlengths;
};

/*
 * Runs the line program from p->start. With `wanted` (a dict), appends to `out`
 * the addresses of the rows whose (file, line) it holds, until the end of the
 * sequence; without, appends every row as a tuple, until the end of the sequence
 * when `one_sequence`, else of the program. 0: done; 1: not the ordinary path
 * (the caller falls back to Python); -1: a Python error is set.
 */
static int scan(const struct program *p, PyObject *wanted, int default_is_stmt, int one_sequence,
		PyObject *out)
{
	const uint8_t *d = p->d;
	Py_ssize_t n = p->n, end = p->end;
	int unit = p->unit, line_range = p->line_range, base = p->base;
	PyObject *lines = NULL;
	if (line_range <= 0 || unit < 0 || p->start < 0 || end > n)
		return 1;
	if (wanted != NULL && lines_of(wanted, 1, &lines) < 0)
		return -1;
	int64_t line = 1;
	uint64_t address = 0, file = 1;
	int is_stmt = default_is_stmt;
	Py_ssize_t pos = p->start;
#define EMIT()                                                                      \
	do {                                                                        \
		if (wanted != NULL ? match(lines, line, address, out) < 0           \
				   : row(out, address, file, line, is_stmt) < 0)    \
			return -1;                                                  \
	} while (0)
	while (pos < end) {
		uint8_t op = d[pos++];
		if (op >= base) {
			int adjusted = op - base;
			address += (uint64_t)((adjusted / line_range) * unit);
			line += p->line_base + adjusted % line_range;
			if (address >= (uint64_t)LIMIT || line >= LIMIT || line <= -LIMIT)
				return 1;
			EMIT();
		} else if (op == LNS_advance_line) {
			int64_t delta;
			if (sleb(d, n, &pos, &delta) < 0 || delta >= LIMIT || delta <= -LIMIT)
				return 1;
			line += delta;
			if (line >= LIMIT || line <= -LIMIT)
				return 1;
		} else if (op == LNS_advance_pc) {
			uint64_t advance;
			if (uleb(d, n, &pos, &advance) < 0 || advance >= (uint64_t)LIMIT / 256)
				return 1;
			address += advance * (uint64_t)unit;
			if (address >= (uint64_t)LIMIT)
				return 1;
		} else if (op == LNS_set_file) {
			if (uleb(d, n, &pos, &file) < 0 || file > 0xffffffffu)
				return 1;
			if (wanted != NULL && lines_of(wanted, file, &lines) < 0)
				return -1;
		} else if (op == 0) {
			uint64_t length;
			if (uleb(d, n, &pos, &length) < 0)
				return 1;
			if (length == 0)
				continue; /* no sub-opcode: nothing to skip */
			if (pos >= n || length > (uint64_t)(n - pos))
				return 1;
			uint8_t sub = d[pos];
			if (sub == LNE_end_sequence) {
				if (wanted != NULL || one_sequence)
					break;
				address = 0;
				file = 1;
				line = 1;
				is_stmt = default_is_stmt;
			} else if (sub == LNE_set_address) {
				if (length != 9)
					return 1;
				uint64_t a = 0;
				for (int i = 8; i >= 1; i--)
					a = (a << 8) | d[pos + i];
				if (a >= (uint64_t)LIMIT)
					return 1;
				address = a;
			}
			pos += (Py_ssize_t)length;
		} else if (op == LNS_copy) {
			EMIT();
		} else if (op == LNS_negate_stmt) {
			is_stmt = !is_stmt;
		} else if (op == LNS_const_add_pc) {
			address += (uint64_t)(((255 - base) / line_range) * unit);
			if (address >= (uint64_t)LIMIT)
				return 1;
		} else if (op == LNS_fixed_advance_pc) {
			if (pos + 2 > n)
				return 1;
			address += (uint64_t)d[pos] | ((uint64_t)d[pos + 1] << 8);
			pos += 2;
			if (address >= (uint64_t)LIMIT)
				return 1;
		} else {
			/* Any other standard opcode: skip its ULEB128 operands. */
			int count = op - 1 < p->nlengths ? p->lengths[op - 1] : 0;
			for (int i = 0; i < count; i++) {
				uint64_t skipped;
				if (uleb(d, n, &pos, &skipped) < 0)
					return 1;
			}
		}
	}
#undef EMIT
	return 0;
}

/* The shared tail of both entry points: the result list, None (fall back) or NULL. */
static PyObject *finish(int rc, PyObject *out, Py_buffer *buf, Py_buffer *lengths)
{
	PyBuffer_Release(buf);
	PyBuffer_Release(lengths);
	if (rc != 0) {
		Py_DECREF(out);
		if (rc < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	return out;
}

static PyObject *sequence_pcs_at(PyObject *self, PyObject *args)
{
	(void)self;
	Py_buffer buf, lengths;
	struct program p;
	PyObject *wanted;
	if (!PyArg_ParseTuple(args, "y*nniiiiy*O!", &buf, &p.start, &p.end, &p.unit,
			      &p.line_range, &p.base, &p.line_base, &lengths, &PyDict_Type, &wanted))
		return NULL;
	p.d = buf.buf;
	p.n = buf.len;
	p.lengths = lengths.buf;
	p.nlengths = lengths.len;
	PyObject *out = PyList_New(0);
	if (out == NULL) {
		PyBuffer_Release(&buf);
		PyBuffer_Release(&lengths);
		return NULL;
	}
	return finish(scan(&p, wanted, 1, 1, out), out, &buf, &lengths);
}

static PyObject *line_rows(PyObject *self, PyObject *args)
{
	(void)self;
	Py_buffer buf, lengths;
	struct program p;
	int default_is_stmt, one_sequence;
	if (!PyArg_ParseTuple(args, "y*nniiiiy*pp", &buf, &p.start, &p.end, &p.unit, &p.line_range,
			      &p.base, &p.line_base, &lengths, &default_is_stmt, &one_sequence))
		return NULL;
	p.d = buf.buf;
	p.n = buf.len;
	p.lengths = lengths.buf;
	p.nlengths = lengths.len;
	PyObject *out = PyList_New(0);
	if (out == NULL) {
		PyBuffer_Release(&buf);
		PyBuffer_Release(&lengths);
		return NULL;
	}
	return finish(scan(&p, NULL, default_is_stmt, one_sequence, out), out, &buf, &lengths);
}

static PyMethodDef methods[] = {
	{"line_rows", line_rows, METH_VARARGS,
	 "The rows (address, file, line, is_stmt) of a line program from `start`; None "
	 "when the input is not the ordinary case (the Python version decides)."},
	{"sequence_pcs_at", sequence_pcs_at, METH_VARARGS,
	 "The addresses of a line-program sequence's rows whose (file, line) is wanted; "
	 "None when the input is not the ordinary case (the Python version decides)."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_lines", "The line-probe search's sequence scan.", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lines(void)
{
	return PyModule_Create(&module);
}
