/* The compiled twin of cdcsink/route/partition.py: the index-value and columns
 * partitioners' hash.
 *
 *   crc32(schema + table) XOR crc32(name + text(value)) per key column, % n
 *
 * crc32 is zlib's (IEEE polynomial 0xEDB88320, reflected), computed here with a
 * slicing-by-8 table built at import (no zlib headers needed). text(value) is
 * partition.value_text: str (UTF-8), bytes, int (decimal, up to int64), bool and
 * None are read natively; any other value goes to value_text itself.
 *
 * Each partitioner object is called exactly like the pure-Python closure it
 * stands for, (event, n) -> int, and is built with that closure as its
 * fallback: an unusual input (an image that is not a dict, a name that is not a
 * str, a lone surrogate, n that is not a positive machine int, ...) is handed to
 * the closure, so the result or the exception is the reference's own.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- crc32 -------------------------------------------------------------- */

static uint32_t crc_table[8][256];

static void
crc_init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
}

/* The running (inverted) register over `len` more bytes. */
static inline uint32_t
crc_feed(uint32_t c, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint32_t one = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t two = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][one & 0xff] ^ crc_table[6][(one >> 8) & 0xff] ^ crc_table[5][(one >> 16) & 0xff]
            ^ crc_table[4][one >> 24] ^ crc_table[3][two & 0xff] ^ crc_table[2][(two >> 8) & 0xff]
            ^ crc_table[1][(two >> 16) & 0xff] ^ crc_table[0][two >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    }
    return c;
}

static inline uint32_t
crc_byte(uint32_t c, unsigned char b)
{
    return crc_table[0][(c ^ b) & 0xff] ^ (c >> 8);
}

/* The register over the UTF-8 encoding of an exact str. Returns 0 and leaves
 * *c untouched for a str holding a surrogate (str.encode() raises there: the
 * caller hands the event to the reference). */
static int
crc_feed_str(uint32_t *c, PyObject *text)
{
    if (PyUnicode_IS_ASCII(text)) {
        *c = crc_feed(*c, (const unsigned char *)PyUnicode_DATA(text), (size_t)PyUnicode_GET_LENGTH(text));
        return 1;
    }
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    uint32_t r = *c;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch < 0x80) {
            r = crc_byte(r, (unsigned char)ch);
        }
        else if (ch < 0x800) {
            r = crc_byte(r, (unsigned char)(0xC0 | (ch >> 6)));
            r = crc_byte(r, (unsigned char)(0x80 | (ch & 0x3F)));
        }
        else if (ch < 0x10000) {
            if (ch >= 0xD800 && ch <= 0xDFFF) {
                return 0;
            }
            r = crc_byte(r, (unsigned char)(0xE0 | (ch >> 12)));
            r = crc_byte(r, (unsigned char)(0x80 | ((ch >> 6) & 0x3F)));
            r = crc_byte(r, (unsigned char)(0x80 | (ch & 0x3F)));
        }
        else {
            r = crc_byte(r, (unsigned char)(0xF0 | (ch >> 18)));
            r = crc_byte(r, (unsigned char)(0x80 | ((ch >> 12) & 0x3F)));
            r = crc_byte(r, (unsigned char)(0x80 | ((ch >> 6) & 0x3F)));
            r = crc_byte(r, (unsigned char)(0x80 | (ch & 0x3F)));
        }
    }
    *c = r;
    return 1;
}

/* ---- one key column ----------------------------------------------------- */

#define TAKEN 1
#define DECLINED 0
#define FAILED (-1)

/* The crc32 of text(value) resumed from the register `c` (so the crc of name
 * + text when `c` is the register after the name) into *out. TAKEN, DECLINED
 * (the reference must compute this event) or FAILED (an exception is set:
 * value_text raised it, as it does in the reference). */
static int
text_hash(uint32_t c, PyObject *value, PyObject *value_text, uint32_t *out)
{
    if (PyUnicode_CheckExact(value)) {
        if (!crc_feed_str(&c, value)) {
            return DECLINED;
        }
    }
    else if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return DECLINED;
        }
        if (overflow) {
            goto call_value_text;
        }
        char digits[24];
        char *end = digits + sizeof(digits);
        char *p = end;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do {
            *--p = (char)('0' + (int)(u % 10));
            u /= 10;
        } while (u);
        if (v < 0) {
            *--p = '-';
        }
        c = crc_feed(c, (const unsigned char *)p, (size_t)(end - p));
    }
    else if (value == Py_None) {
        c = crc_feed(c, (const unsigned char *)"null", 4);
    }
    else if (value == Py_True) {
        c = crc_byte(c, '1');
    }
    else if (value == Py_False) {
        c = crc_byte(c, '0');
    }
    else if (PyBytes_CheckExact(value)) {
        c = crc_feed(c, (const unsigned char *)PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value));
    }
    else {
        goto call_value_text;
    }
    *out = ~c;
    return TAKEN;

call_value_text:;
    PyObject *text = PyObject_CallOneArg(value_text, value);
    if (text == NULL) {
        return FAILED;
    }
    if (!PyBytes_CheckExact(text)) {
        Py_DECREF(text);
        return DECLINED;
    }
    c = crc_feed(c, (const unsigned char *)PyBytes_AS_STRING(text), (size_t)PyBytes_GET_SIZE(text));
    Py_DECREF(text);
    *out = ~c;
    return TAKEN;
}

/* ---- shared by both partitioners ---------------------------------------- */

static PyObject *str_after, *str_before, *str_pk, *str_columns;

/* The event's image (after, else before) into *image as a new reference:
 * TAKEN, DECLINED when it is not an exact dict (the reference handles it), or
 * FAILED (an exception is set). */
static int
event_image(PyObject *event, PyObject **image)
{
    *image = PyObject_GetAttr(event, str_after);
    if (*image == NULL) {
        return FAILED;
    }
    if (*image == Py_None) {
        Py_DECREF(*image);
        *image = PyObject_GetAttr(event, str_before);
        if (*image == NULL) {
            return FAILED;
        }
    }
    if (!PyDict_CheckExact(*image)) {
        Py_CLEAR(*image);
        return DECLINED;
    }
    return TAKEN;
}

/* n as a positive C value, or 0 when it is anything else (the reference then
 * computes `digest % n` and its result or error). */
static unsigned long long
modulus(PyObject *n)
{
    if (!PyLong_CheckExact(n)) {
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(n, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return (overflow || v <= 0) ? 0 : (unsigned long long)v;
}

typedef struct Partitioner Partitioner;

/* A partitioner's digest of the event, started from its seed: TAKEN,
 * DECLINED (the reference computes this event) or FAILED (an exception is
 * set, as the reference raises it). */
typedef int (*digest_fn)(Partitioner *self, PyObject *event, uint32_t *digest);

struct Partitioner {
    PyObject_HEAD
    uint32_t seed;
    PyObject *value_text;
    PyObject *fallback;
    /* columns only: the closure's list of (column name, crc32(configured name)) and its resolve(event) */
    PyObject *resolved;
    PyObject *resolve;
    vectorcallfunc vectorcall;
    digest_fn digest_of;
};

static PyObject *
delegate(Partitioner *self, PyObject *const *args)
{
    return PyObject_Vectorcall(self->fallback, args, 2, NULL);
}

/* *digest ^= the hash of text(value) resumed from the register `c` (see
 * text_hash); TAKEN, DECLINED or FAILED. value is borrowed: it is held here
 * while value_text may run. */
static inline int
mix_value(Partitioner *self, uint32_t c, PyObject *value, uint32_t *digest)
{
    uint32_t h = 0;
    Py_INCREF(value);
    int got = text_hash(c, value, self->value_text, &h);
    Py_DECREF(value);
    if (got == TAKEN) {
        *digest ^= h;
    }
    return got;
}

/* One key column's hash into *digest (mix_key, mix_column): TAKEN, DECLINED
 * or FAILED. */
typedef int (*mix_fn)(Partitioner *self, PyObject *image, PyObject *column, uint32_t *digest);

/* mix(column) for each of the list or tuple `columns` (held here, as each of
 * them, while value_text may run), up to one that is not TAKEN. */
static inline int
mix_columns(Partitioner *self, PyObject *image, PyObject *columns, mix_fn mix, uint32_t *digest)
{
    int got = TAKEN;
    Py_INCREF(columns);
    for (Py_ssize_t i = 0; got == TAKEN && i < PySequence_Fast_GET_SIZE(columns); i++) {
        PyObject *column = PySequence_Fast_GET_ITEM(columns, i);
        Py_INCREF(column);
        got = mix(self, image, column, digest);
        Py_DECREF(column);
    }
    Py_DECREF(columns);
    return got;
}

/* A partitioner's call, (event, n) -> digest % n, or the reference's result
 * for whatever its digest_of declines; called otherwise than positionally
 * with two arguments, the reference is called as it is. */
static PyObject *
partitioner_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Partitioner *self = (Partitioner *)op;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    unsigned long long n = modulus(args[1]);
    uint32_t digest = self->seed;
    int got = n == 0 ? DECLINED : self->digest_of(self, args[0], &digest);
    if (got == TAKEN) {
        return PyLong_FromUnsignedLongLong((unsigned long long)digest % n);
    }
    return got == DECLINED ? delegate(self, args) : NULL;
}

/* ---- index-value -------------------------------------------------------- */

/* *digest ^= crc32(name + text(value)) of one key column (a missing one's
 * value is None). */
static int
mix_key(Partitioner *self, PyObject *image, PyObject *name, uint32_t *digest)
{
    if (!PyUnicode_CheckExact(name)) {
        return DECLINED;
    }
    PyObject *value = PyDict_GetItemWithError(image, name);
    if (value == NULL) {
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return DECLINED;
        }
        value = Py_None;
    }
    uint32_t reg = 0xFFFFFFFFu;
    return crc_feed_str(&reg, name) ? mix_value(self, reg, value, digest) : DECLINED;
}

static int
index_value_digest(Partitioner *self, PyObject *event, uint32_t *digest)
{
    PyObject *image;
    int got = event_image(event, &image);
    if (got != TAKEN) {
        return got;
    }
    PyObject *pk = PyObject_GetAttr(event, str_pk);
    if (pk == NULL) {
        Py_DECREF(image);
        return FAILED;
    }
    got = (PyList_CheckExact(pk) || PyTuple_CheckExact(pk)) ? mix_columns(self, image, pk, mix_key, digest) : DECLINED;
    Py_DECREF(pk);
    Py_DECREF(image);
    return got;
}

/* ---- columns ------------------------------------------------------------ */

/* 1 when every resolved column is in the event's columns dict, 0 when one is
 * not (or none is resolved yet), -1 when the check cannot be made here. */
static int
resolved_still_valid(PyObject *resolved, PyObject *columns)
{
    Py_ssize_t count = PyList_GET_SIZE(resolved);
    if (count == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(resolved, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 0))) {
            return -1;
        }
        int has = PyDict_Contains(columns, PyTuple_GET_ITEM(pair, 0));
        if (has < 0) {
            PyErr_Clear();
            return -1;
        }
        if (!has) {
            return 0;
        }
    }
    return 1;
}

/* TAKEN when the resolved columns are those of the event (resolved again by
 * the reference's resolve(event) when they are not yet: it raises
 * ConfigError for a missing column), else DECLINED or FAILED. */
static int
resolve_columns(Partitioner *self, PyObject *event)
{
    PyObject *columns = PyObject_GetAttr(event, str_columns);
    if (columns == NULL) {
        return FAILED;
    }
    if (!PyDict_CheckExact(columns)) {
        Py_DECREF(columns);
        return DECLINED;
    }
    int valid = resolved_still_valid(self->resolved, columns);
    if (valid == 0) {
        PyObject *none = PyObject_CallOneArg(self->resolve, event);
        if (none == NULL) {
            Py_DECREF(columns);
            return FAILED;
        }
        Py_DECREF(none);
        valid = resolved_still_valid(self->resolved, columns);
    }
    Py_DECREF(columns);
    return valid == 1 ? TAKEN : DECLINED;
}

/* *digest ^= crc32(text(value), prefix) of one resolved column, pair
 * (column name, crc32 of the configured name): resumed from the name's crc.
 * A NULL (or absent) value is skipped. */
static int
mix_column(Partitioner *self, PyObject *image, PyObject *pair, uint32_t *digest)
{
    PyObject *value = PyDict_GetItemWithError(image, PyTuple_GET_ITEM(pair, 0));
    if (value == NULL) {
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return DECLINED;
        }
        return TAKEN;
    }
    if (value == Py_None) {
        return TAKEN;
    }
    PyObject *prefix_obj = PyTuple_GET_ITEM(pair, 1);
    if (!PyLong_CheckExact(prefix_obj)) {
        return DECLINED;
    }
    unsigned long prefix = PyLong_AsUnsignedLong(prefix_obj);
    if ((prefix == (unsigned long)-1 && PyErr_Occurred()) || prefix > 0xFFFFFFFFul) {
        PyErr_Clear();
        return DECLINED;
    }
    return mix_value(self, ~(uint32_t)prefix, value, digest);
}

static int
columns_digest(Partitioner *self, PyObject *event, uint32_t *digest)
{
    int got = resolve_columns(self, event);
    if (got != TAKEN) {
        return got;
    }
    PyObject *image;
    if ((got = event_image(event, &image)) != TAKEN) {
        return got;
    }
    got = mix_columns(self, image, self->resolved, mix_column, digest);
    Py_DECREF(image);
    return got;
}

/* ---- the types ---------------------------------------------------------- */

static int
partitioner_traverse(PyObject *op, visitproc visit, void *arg)
{
    Partitioner *self = (Partitioner *)op;
    Py_VISIT(self->value_text);
    Py_VISIT(self->fallback);
    Py_VISIT(self->resolved);
    Py_VISIT(self->resolve);
    return 0;
}

static int
partitioner_clear(PyObject *op)
{
    Partitioner *self = (Partitioner *)op;
    Py_CLEAR(self->value_text);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->resolved);
    Py_CLEAR(self->resolve);
    return 0;
}

static void
partitioner_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    partitioner_clear(op);
    Py_TYPE(op)->tp_free(op);
}

/* Shared by both constructors: seed, value_text, fallback [, resolved, resolve]. */
static PyObject *
partitioner_new(PyTypeObject *type, PyObject *args, PyObject *kwargs, int with_columns, digest_fn digest_of)
{
    unsigned long seed;
    PyObject *value_text, *fallback, *resolved = NULL, *resolve = NULL;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_Format(PyExc_TypeError, "%s() takes positional arguments only", type->tp_name);
        return NULL;
    }
    if (with_columns) {
        if (!PyArg_ParseTuple(args, "kOOO!O:ColumnsPartitioner", &seed, &value_text, &fallback, &PyList_Type,
                              &resolved, &resolve)) {
            return NULL;
        }
    }
    else if (!PyArg_ParseTuple(args, "kOO:IndexValuePartitioner", &seed, &value_text, &fallback)) {
        return NULL;
    }
    if (seed > 0xFFFFFFFFul) {
        PyErr_SetString(PyExc_ValueError, "seed must be a crc32 (0 .. 2**32-1)");
        return NULL;
    }
    if (!PyCallable_Check(value_text) || !PyCallable_Check(fallback) || (resolve != NULL && !PyCallable_Check(resolve))) {
        PyErr_SetString(PyExc_TypeError, "value_text, fallback and resolve must be callable");
        return NULL;
    }
    Partitioner *self = (Partitioner *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->seed = (uint32_t)seed;
    self->value_text = Py_NewRef(value_text);
    self->fallback = Py_NewRef(fallback);
    self->resolved = Py_XNewRef(resolved);
    self->resolve = Py_XNewRef(resolve);
    self->vectorcall = partitioner_call;
    self->digest_of = digest_of;
    return (PyObject *)self;
}

static PyObject *
index_value_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return partitioner_new(type, args, kwargs, 0, index_value_digest);
}

static PyObject *
columns_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    return partitioner_new(type, args, kwargs, 1, columns_digest);
}

PyDoc_STRVAR(index_value_doc,
"IndexValuePartitioner(seed, value_text, fallback)\n--\n\n"
"partition(event, n): (seed ^ crc32(name + value_text(value)) for each name in\n"
"event.pk) % n, values from event.after (else event.before); what fallback, the\n"
"pure-Python partitioner, returns for the same call (and unusual calls go to it).");

PyDoc_STRVAR(columns_doc,
"ColumnsPartitioner(seed, value_text, fallback, resolved, resolve)\n--\n\n"
"partition(event, n): (seed ^ crc32(value_text(value), prefix) for each non-null\n"
"(name, prefix) of resolved) % n; resolve(event) refreshes resolved when a name\n"
"is missing from event.columns. What fallback returns for the same call.");

/* The two partitioner types: alike but for their name, doc and constructor. */
#define PARTITIONER_TYPE(name, doc, new)                                                    \
    {                                                                                        \
        PyVarObject_HEAD_INIT(NULL, 0)                                                       \
        .tp_name = "cdcsink.route._speedups." name,                                          \
        .tp_basicsize = sizeof(Partitioner),                                                 \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,    \
        .tp_doc = doc,                                                                       \
        .tp_new = new,                                                                       \
        .tp_dealloc = partitioner_dealloc,                                                   \
        .tp_traverse = partitioner_traverse,                                                 \
        .tp_clear = partitioner_clear,                                                       \
        .tp_call = PyVectorcall_Call,                                                        \
        .tp_vectorcall_offset = offsetof(Partitioner, vectorcall),                           \
    }

static PyTypeObject IndexValueType = PARTITIONER_TYPE("IndexValuePartitioner", index_value_doc, index_value_new);
static PyTypeObject ColumnsType = PARTITIONER_TYPE("ColumnsPartitioner", columns_doc, columns_new);

/* ---- the module --------------------------------------------------------- */

static PyObject *
py_crc32(PyObject *module, PyObject *args)
{
    Py_buffer data;
    unsigned long value = 0;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*|k:crc32", &data, &value)) {
        return NULL;
    }
    uint32_t c = crc_feed(~(uint32_t)value, (const unsigned char *)data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong((unsigned long)~c);
}

static PyMethodDef methods[] = {
    {"crc32", py_crc32, METH_VARARGS,
     PyDoc_STR("crc32(data, value=0): zlib.crc32's result (IEEE), the checksum the partitioners use.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cdcsink.route._speedups",
    .m_doc = "The compiled twin of cdcsink.route.partition's index-value and columns hash.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    crc_init_tables();
    if ((str_after = PyUnicode_InternFromString("after")) == NULL
        || (str_before = PyUnicode_InternFromString("before")) == NULL
        || (str_pk = PyUnicode_InternFromString("pk")) == NULL
        || (str_columns = PyUnicode_InternFromString("columns")) == NULL) {
        return NULL;
    }
    if (PyType_Ready(&IndexValueType) < 0 || PyType_Ready(&ColumnsType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "IndexValuePartitioner", (PyObject *)&IndexValueType) < 0
        || PyModule_AddObjectRef(module, "ColumnsPartitioner", (PyObject *)&ColumnsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
