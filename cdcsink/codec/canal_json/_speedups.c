/* The compiled twin of cdcsink/codec/canal_json/encoder.py's row message.
 *
 * A RowWriter holds one table's constant parts as the encoder's _TableShape
 * and _Columns hold them (the per-op heads, each column's name, JSON key,
 * value kind and formatter, the sqlType/mysqlType objects and the unsigned
 * promotions) plus the encoder's options. Its encode(event) writes the whole
 * row message into one buffer: head, es, ts, sqlType, mysqlType, the old and
 * data images as canal-json strings in table column order with Go's string
 * escaping (gojson.go_escaped of orjson's output; a lone surrogate as U+FFFD,
 * as gojson.dumps writes it), the _tidb part; then compresses it when asked.
 *
 * It returns the message's bytes, or None ("not taken") for everything the
 * Python reference handles itself: a value of the wrong type, a column not in
 * the table, a missing image, an unknown op, a message over the size limit,
 * a changed-only comparison of a value holding a lone surrogate, or any error
 * raised on the way (a formatter's, the clock's, the compressor's). The Python
 * path then runs and produces the same bytes or raises its exact error.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Interned attribute names and ops (module constants, set once at import). */
static PyObject *str_op, *str_before, *str_after, *str_commit_ts, *str_commit_time_ms;
static PyObject *str_insert, *str_update, *str_delete, *str_info, *str_table_info;

/* --- Output buffer ---------------------------------------------------------- */

#define INLINE_BUFFER 2048

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char inline_data[INLINE_BUFFER];
} Buffer;

static void buffer_init(Buffer *buffer)
{
    buffer->data = buffer->inline_data;
    buffer->len = 0;
    buffer->cap = INLINE_BUFFER;
}

static void buffer_free(Buffer *buffer)
{
    if (buffer->data != buffer->inline_data) {
        PyMem_Free(buffer->data);
    }
    buffer->data = buffer->inline_data;
}

/* Room for `more` bytes after the current end; -1 (MemoryError set) when not. */
static int buffer_reserve(Buffer *buffer, Py_ssize_t more)
{
    if (more <= buffer->cap - buffer->len) {
        return 0;
    }
    if (more > PY_SSIZE_T_MAX / 2 - buffer->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = buffer->cap * 2;
    if (cap < buffer->len + more) {
        cap = buffer->len + more;
    }
    char *data = PyMem_Malloc((size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(data, buffer->data, (size_t)buffer->len);
    if (buffer->data != buffer->inline_data) {
        PyMem_Free(buffer->data);
    }
    buffer->data = data;
    buffer->cap = cap;
    return 0;
}

static int buffer_write(Buffer *buffer, const char *bytes, Py_ssize_t size)
{
    if (buffer_reserve(buffer, size) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->len, bytes, (size_t)size);
    buffer->len += size;
    return 0;
}

#define buffer_literal(buffer, text) buffer_write((buffer), (text), (Py_ssize_t)(sizeof(text) - 1))

static int buffer_write_bytes(Buffer *buffer, PyObject *bytes)
{
    return buffer_write(buffer, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* --- Go's string escaping --------------------------------------------------- */

/* Per ASCII byte: 0 written as is, 1 \u00XX, else the short escape's letter. */
static unsigned char ESCAPE[128];
static const char HEX[] = "0123456789abcdef";

static void init_escape_table(void)
{
    for (int c = 0; c < 0x20; c++) {
        ESCAPE[c] = 1;
    }
    ESCAPE['\n'] = 'n';
    ESCAPE['\r'] = 'r';
    ESCAPE['\t'] = 't';
    ESCAPE['"'] = '"';
    ESCAPE['\\'] = '\\';
    ESCAPE['<'] = 1;
    ESCAPE['>'] = 1;
    ESCAPE['&'] = 1;
}

/* The most bytes one code point takes escaped ("\u00XX", "\u2028"). */
#define MAX_ESCAPED 6

static inline char *write_ascii(char *out, unsigned char c)
{
    unsigned char escape = ESCAPE[c];
    if (escape == 0) {
        *out++ = (char)c;
    }
    else if (escape == 1) {
        out[0] = '\\';
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = HEX[c >> 4];
        out[5] = HEX[c & 0xf];
        out += 6;
    }
    else {
        out[0] = '\\';
        out[1] = (char)escape;
        out += 2;
    }
    return out;
}

static inline char *write_code_point(char *out, Py_UCS4 c, int *lossy)
{
    if (c < 0x80) {
        return write_ascii(out, (unsigned char)c);
    }
    if (c < 0x800) {
        *out++ = (char)(0xc0 | (c >> 6));
        *out++ = (char)(0x80 | (c & 0x3f));
        return out;
    }
    if (c >= 0xd800 && c <= 0xdfff) { /* a lone surrogate: U+FFFD, as gojson.dumps writes it */
        *lossy = 1;
        c = 0xfffd;
    }
    else if (c == 0x2028 || c == 0x2029) {
        memcpy(out, c == 0x2028 ? "\\u2028" : "\\u2029", 6);
        return out + 6;
    }
    if (c < 0x10000) {
        *out++ = (char)(0xe0 | (c >> 12));
        *out++ = (char)(0x80 | ((c >> 6) & 0x3f));
        *out++ = (char)(0x80 | (c & 0x3f));
        return out;
    }
    *out++ = (char)(0xf0 | (c >> 18));
    *out++ = (char)(0x80 | ((c >> 12) & 0x3f));
    *out++ = (char)(0x80 | ((c >> 6) & 0x3f));
    *out++ = (char)(0x80 | (c & 0x3f));
    return out;
}

/* ISO-8859-1 text (a 1-byte str or a binary value's bytes) as a quoted JSON string. */
static int write_latin1(Buffer *buffer, const unsigned char *text, Py_ssize_t size)
{
    if (size > (PY_SSIZE_T_MAX - 2) / MAX_ESCAPED || buffer_reserve(buffer, size * MAX_ESCAPED + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    char *out = buffer->data + buffer->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = text[i];
        if (c < 0x80) {
            out = write_ascii(out, c);
        }
        else {
            *out++ = (char)(0xc0 | (c >> 6));
            *out++ = (char)(0x80 | (c & 0x3f));
        }
    }
    *out++ = '"';
    buffer->len = out - buffer->data;
    return 0;
}

/* A str as a quoted JSON string, escaped as Go escapes it; *lossy set when a
 * lone surrogate was written as U+FFFD. */
static int write_str(Buffer *buffer, PyObject *text, int *lossy)
{
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        return write_latin1(buffer, (const unsigned char *)data, size);
    }
    if (size > (PY_SSIZE_T_MAX - 2) / MAX_ESCAPED || buffer_reserve(buffer, size * MAX_ESCAPED + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    char *out = buffer->data + buffer->len;
    *out++ = '"';
    if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *chars = data;
        for (Py_ssize_t i = 0; i < size; i++) {
            out = write_code_point(out, chars[i], lossy);
        }
    }
    else {
        const Py_UCS4 *chars = data;
        for (Py_ssize_t i = 0; i < size; i++) {
            out = write_code_point(out, chars[i], lossy);
        }
    }
    *out++ = '"';
    buffer->len = out - buffer->data;
    return 0;
}

/* --- Integers --------------------------------------------------------------- */

static const char DIGIT_PAIRS[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* An int in decimal (as str() writes it), quoted or not. */
static int write_int(Buffer *buffer, PyObject *value, int quoted)
{
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow) {
        PyObject *text = PyObject_Str(value);
        if (text == NULL) {
            return -1;
        }
        Py_ssize_t size;
        const char *digits = PyUnicode_AsUTF8AndSize(text, &size);
        int failed = digits == NULL || buffer_reserve(buffer, size + 2) < 0;
        if (!failed) {
            char *out = buffer->data + buffer->len;
            if (quoted) {
                *out++ = '"';
            }
            memcpy(out, digits, (size_t)size);
            out += size;
            if (quoted) {
                *out++ = '"';
            }
            buffer->len = out - buffer->data;
        }
        Py_DECREF(text);
        return failed ? -1 : 0;
    }
    char digits[24];
    char *end = digits + sizeof(digits);
    char *start = end;
    unsigned long long magnitude = number < 0 ? 0ULL - (unsigned long long)number : (unsigned long long)number;
    while (magnitude >= 100) {
        unsigned pair = (unsigned)(magnitude % 100);
        magnitude /= 100;
        start -= 2;
        memcpy(start, DIGIT_PAIRS + 2 * pair, 2);
    }
    if (magnitude >= 10) {
        start -= 2;
        memcpy(start, DIGIT_PAIRS + 2 * magnitude, 2);
    }
    else {
        *--start = (char)('0' + magnitude);
    }
    if (number < 0) {
        *--start = '-';
    }
    if (buffer_reserve(buffer, (end - start) + 2) < 0) {
        return -1;
    }
    char *out = buffer->data + buffer->len;
    if (quoted) {
        *out++ = '"';
    }
    memcpy(out, start, (size_t)(end - start));
    out += end - start;
    if (quoted) {
        *out++ = '"';
    }
    buffer->len = out - buffer->data;
    return 0;
}

/* --- The table plan ------------------------------------------------------------ */

enum { KIND_TEXT = 0, KIND_INTEGER = 1, KIND_BINARY = 2, KIND_OTHER = 3 };

typedef struct {
    PyObject *name;      /* str: the image key */
    PyObject *key;       /* bytes: the JSON key with its colon, '"name":' */
    int kind;
    PyObject *formatter; /* the column's value formatter (KIND_OTHER) */
    long long java_type; /* sqlType */
    int promotes;        /* an unsigned column whose large values move sqlType up */
    long long limit;     /* ... when above this */
    long long promoted;  /* ... to this */
} ColumnPlan;

typedef struct {
    Py_ssize_t count;
    ColumnPlan *columns;
    PyObject *sql_type;   /* bytes */
    PyObject *mysql_type; /* bytes */
    int promotions;
} ColumnsPlan;

enum { OP_INSERT = 0, OP_UPDATE = 1, OP_DELETE = 2 };

typedef struct {
    PyObject_HEAD
    PyObject *heads[3]; /* bytes per op: everything before es */
    ColumnsPlan all;
    ColumnsPlan keys;
    int has_keys;
    int delete_keys_only;
    int changed_only;
    int extension;
    PyObject *clock;
    int wall_clock;     /* clock is the options' default, int(time.time() * 1000): computed here */
    PyObject *compress; /* NULL: none */
    long long limit;    /* max-message-bytes */
} RowWriter;


static void columns_clear(ColumnsPlan *plan)
{
    if (plan->columns != NULL) {
        for (Py_ssize_t i = 0; i < plan->count; i++) {
            Py_XDECREF(plan->columns[i].name);
            Py_XDECREF(plan->columns[i].key);
            Py_XDECREF(plan->columns[i].formatter);
        }
        PyMem_Free(plan->columns);
        plan->columns = NULL;
    }
    plan->count = 0;
    Py_CLEAR(plan->sql_type);
    Py_CLEAR(plan->mysql_type);
}

static int long_long_of(PyObject *value, const char *what, long long *out)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "RowWriter: %s must be an int", what);
        return -1;
    }
    *out = PyLong_AsLongLong(value);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* plan: (columns, sql_type, mysql_type), each column
 * (name, key, kind, formatter, java_type, promotion limit or None, promoted or None). */
static int columns_parse(ColumnsPlan *plan, PyObject *spec)
{
    PyObject *columns, *sql_type, *mysql_type;
    if (!PyTuple_Check(spec) || !PyArg_ParseTuple(spec, "O!O!O!", &PyTuple_Type, &columns, &PyBytes_Type, &sql_type,
                                                  &PyBytes_Type, &mysql_type)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "RowWriter: a columns plan is a tuple");
        }
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(columns);
    plan->columns = PyMem_Calloc(count ? (size_t)count : 1, sizeof(ColumnPlan));
    if (plan->columns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    plan->count = count;
    plan->sql_type = Py_NewRef(sql_type);
    plan->mysql_type = Py_NewRef(mysql_type);
    for (Py_ssize_t i = 0; i < count; i++) {
        ColumnPlan *column = &plan->columns[i];
        PyObject *name, *key, *formatter, *java_type, *limit, *promoted;
        int kind;
        PyObject *item = PyTuple_GET_ITEM(columns, i);
        if (!PyTuple_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "RowWriter: a column plan is a tuple");
            return -1;
        }
        if (!PyArg_ParseTuple(item, "UO!iOOOO", &name, &PyBytes_Type, &key, &kind, &formatter, &java_type, &limit,
                              &promoted)) {
            return -1;
        }
        if (!PyUnicode_CheckExact(name) || kind < KIND_TEXT || kind > KIND_OTHER) {
            PyErr_SetString(PyExc_ValueError, "RowWriter: a column name is a str and its kind 0 to 3");
            return -1;
        }
        column->name = Py_NewRef(name);
        column->key = Py_NewRef(key);
        column->kind = kind;
        column->formatter = Py_NewRef(formatter);
        if (long_long_of(java_type, "java_type", &column->java_type) < 0) {
            return -1;
        }
        if (limit != Py_None) {
            if (long_long_of(limit, "limit", &column->limit) < 0 || long_long_of(promoted, "promoted", &column->promoted) < 0) {
                return -1;
            }
            column->promotes = 1;
            plan->promotions = 1;
        }
    }
    return 0;
}

/* The clock, the compressor and the formatters are the caller's callables:
 * the writer takes part in garbage collection in case one refers back to it. */
static int columns_traverse(ColumnsPlan *plan, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; plan->columns != NULL && i < plan->count; i++) {
        Py_VISIT(plan->columns[i].formatter);
    }
    return 0;
}

static int RowWriter_traverse(RowWriter *self, visitproc visit, void *arg)
{
    Py_VISIT(self->clock);
    Py_VISIT(self->compress);
    int failed = columns_traverse(&self->all, visit, arg);
    return failed ? failed : columns_traverse(&self->keys, visit, arg);
}

static int RowWriter_clear(RowWriter *self)
{
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(self->heads[i]);
    }
    columns_clear(&self->all);
    columns_clear(&self->keys);
    Py_CLEAR(self->clock);
    Py_CLEAR(self->compress);
    return 0;
}

static void RowWriter_dealloc(RowWriter *self)
{
    PyObject_GC_UnTrack(self);
    RowWriter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *RowWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"heads", "all", "keys", "has_keys", "delete_keys_only", "changed_only", "extension",
                            "clock", "wall_clock", "compress", "limit", NULL};
    PyObject *heads, *all, *keys, *clock, *compress, *limit;
    int has_keys, delete_keys_only, changed_only, extension, wall_clock;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOppppOpOO:RowWriter", names, &PyTuple_Type, &heads, &all, &keys,
                                     &has_keys, &delete_keys_only, &changed_only, &extension, &clock, &wall_clock,
                                     &compress, &limit)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(heads) != 3) {
        PyErr_SetString(PyExc_ValueError, "RowWriter: heads are (insert, update, delete)");
        return NULL;
    }
    RowWriter *self = (RowWriter *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        PyObject *head = PyTuple_GET_ITEM(heads, i);
        if (!PyBytes_CheckExact(head)) {
            PyErr_SetString(PyExc_TypeError, "RowWriter: heads are bytes");
            Py_DECREF(self);
            return NULL;
        }
        self->heads[i] = Py_NewRef(head);
    }
    if (columns_parse(&self->all, all) < 0 || columns_parse(&self->keys, keys) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (!PyCallable_Check(clock) || (compress != Py_None && !PyCallable_Check(compress))) {
        PyErr_SetString(PyExc_TypeError, "RowWriter: clock and compress are callables");
        Py_DECREF(self);
        return NULL;
    }
    if (!PyLong_Check(limit)) {
        PyErr_SetString(PyExc_TypeError, "RowWriter: limit must be an int");
        Py_DECREF(self);
        return NULL;
    }
    int overflow;
    self->limit = PyLong_AsLongLongAndOverflow(limit, &overflow);
    if (self->limit == -1 && PyErr_Occurred()) {
        Py_DECREF(self);
        return NULL;
    }
    if (overflow) {
        self->limit = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    }
    self->has_keys = has_keys;
    self->delete_keys_only = delete_keys_only;
    self->changed_only = changed_only;
    self->extension = extension;
    self->clock = Py_NewRef(clock);
    self->wall_clock = wall_clock;
    self->compress = compress == Py_None ? NULL : Py_NewRef(compress);
    return (PyObject *)self;
}

/* --- Writing a row ----------------------------------------------------------- */

/* Results of the steps below: written, or "not taken" (the Python path runs),
 * or an error (cleared, then also "not taken"). */
#define DONE 0
#define DECLINE 1
#define FAILED (-1)

/* Where one column's value landed in a rendered image. */
typedef struct {
    Py_ssize_t start; /* -1: the image has no such key */
    Py_ssize_t size;
    int lossy; /* held a lone surrogate, written as U+FFFD */
} Span;

/* One value as canal-json's string (or null), escaped. */
static int write_value(Buffer *buffer, ColumnPlan *column, PyObject *value, int *lossy)
{
    if (value == Py_None) {
        return buffer_literal(buffer, "null") < 0 ? FAILED : DONE;
    }
    switch (column->kind) {
    case KIND_TEXT:
        if (!PyUnicode_CheckExact(value)) {
            return DECLINE;
        }
        return write_str(buffer, value, lossy) < 0 ? FAILED : DONE;
    case KIND_INTEGER:
        if (PyLong_CheckExact(value)) {
            return write_int(buffer, value, 1) < 0 ? FAILED : DONE;
        }
        if (value == Py_True) {
            return buffer_literal(buffer, "\"1\"") < 0 ? FAILED : DONE;
        }
        if (value == Py_False) {
            return buffer_literal(buffer, "\"0\"") < 0 ? FAILED : DONE;
        }
        return DECLINE;
    case KIND_BINARY:
        if (PyBytes_CheckExact(value)) {
            return write_latin1(buffer, (const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)) < 0
                       ? FAILED
                       : DONE;
        }
        if (PyByteArray_CheckExact(value)) {
            return write_latin1(buffer, (const unsigned char *)PyByteArray_AS_STRING(value),
                                PyByteArray_GET_SIZE(value)) < 0
                       ? FAILED
                       : DONE;
        }
        return DECLINE;
    default: {
        PyObject *text = PyObject_CallOneArg(column->formatter, value);
        if (text == NULL) {
            return FAILED;
        }
        int result = PyUnicode_CheckExact(text) ? (write_str(buffer, text, lossy) < 0 ? FAILED : DONE) : DECLINE;
        Py_DECREF(text);
        return result;
    }
    }
}

/* An image as a JSON object of canal-json strings in table column order:
 * `spans` (when given) records where each value landed; `changed` (when given,
 * with `reference` the buffer it points into) keeps only the columns whose
 * value differs from that image's (the changed-only old image). `complete`:
 * the plan is every column, so a key it does not name is a column not in
 * `columns` (declined: the Python path raises). */
static int write_image(Buffer *buffer, ColumnsPlan *plan, PyObject *image, int complete, Span *spans,
                       const Span *changed, const Buffer *reference)
{
    if (buffer_literal(buffer, "{") < 0) {
        return FAILED;
    }
    Py_ssize_t found = 0;
    int first = 1;
    /* Images are mostly built in column order with the column names as keys
     * (the same str objects): the next entry is the column's, no lookup. */
    Py_ssize_t position = 0;
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        ColumnPlan *column = &plan->columns[i];
        PyObject *key, *value;
        Py_ssize_t next = position;
        if (PyDict_Next(image, &next, &key, &value) && key == column->name) {
            position = next;
        }
        else {
            value = PyDict_GetItemWithError(image, column->name);
        }
        if (value == NULL) {
            if (PyErr_Occurred()) {
                return FAILED;
            }
            if (spans != NULL) {
                spans[i].start = -1;
            }
            continue;
        }
        found++;
        Py_ssize_t item = buffer->len;
        if (!first && buffer_literal(buffer, ",") < 0) {
            return FAILED;
        }
        if (buffer_write_bytes(buffer, column->key) < 0) {
            return FAILED;
        }
        Py_ssize_t start = buffer->len;
        int lossy = 0;
        Py_INCREF(value);
        int result = write_value(buffer, column, value, &lossy);
        Py_DECREF(value);
        if (result != DONE) {
            return result;
        }
        Py_ssize_t size = buffer->len - start;
        if (spans != NULL) {
            spans[i].start = start;
            spans[i].size = size;
            spans[i].lossy = lossy;
        }
        if (changed != NULL && changed[i].start >= 0) {
            if (lossy || changed[i].lossy) {
                return DECLINE; /* U+FFFD stands for several strings: Python compares them */
            }
            if (changed[i].size == size && memcmp(reference->data + changed[i].start, buffer->data + start, (size_t)size) == 0) {
                buffer->len = item; /* unchanged: left out of the old image */
                continue;
            }
        }
        first = 0;
    }
    if (complete && found < PyDict_GET_SIZE(image)) {
        return DECLINE;
    }
    return buffer_literal(buffer, "}") < 0 ? FAILED : DONE;
}

/* sqlType for a row: unsigned values above the signed range promote (the
 * image's values; the pre-serialized object when none does). */
static int write_sql_type(Buffer *buffer, ColumnsPlan *plan, PyObject *image)
{
    int promote = 0;
    if (plan->promotions) {
        for (Py_ssize_t i = 0; i < plan->count && !promote; i++) {
            ColumnPlan *column = &plan->columns[i];
            if (!column->promotes) {
                continue;
            }
            PyObject *value = PyDict_GetItemWithError(image, column->name);
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    return FAILED;
                }
                continue;
            }
            if (PyLong_CheckExact(value)) {
                int overflow;
                long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
                if (number == -1 && PyErr_Occurred()) {
                    return FAILED;
                }
                promote = overflow > 0 || (!overflow && number > column->limit);
            }
        }
    }
    if (!promote) {
        return buffer_write_bytes(buffer, plan->sql_type) < 0 ? FAILED : DONE;
    }
    if (buffer_literal(buffer, "{") < 0) {
        return FAILED;
    }
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        ColumnPlan *column = &plan->columns[i];
        long long code = column->java_type;
        if (column->promotes) {
            PyObject *value = PyDict_GetItemWithError(image, column->name);
            if (value == NULL && PyErr_Occurred()) {
                return FAILED;
            }
            if (value != NULL && PyLong_CheckExact(value)) {
                int overflow;
                long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
                if (number == -1 && PyErr_Occurred()) {
                    return FAILED;
                }
                if (overflow > 0 || (!overflow && number > column->limit)) {
                    code = column->promoted;
                }
            }
        }
        if ((i && buffer_literal(buffer, ",") < 0) || buffer_write_bytes(buffer, column->key) < 0) {
            return FAILED;
        }
        PyObject *number = PyLong_FromLongLong(code);
        if (number == NULL) {
            return FAILED;
        }
        int failed = write_int(buffer, number, 0);
        Py_DECREF(number);
        if (failed < 0) {
            return FAILED;
        }
    }
    return buffer_literal(buffer, "}") < 0 ? FAILED : DONE;
}

/* --- Reading a RowEvent ---------------------------------------------------------- */

/* The event fields read per row. RowEvent is a slotted class: its fields are
 * member descriptors at fixed offsets, which the class tells (the first
 * RowEncoder's event_type, read once per process); an event of that class is
 * read at those offsets, anything else through getattr. */
enum { FIELD_OP, FIELD_BEFORE, FIELD_AFTER, FIELD_COMMIT_TS, FIELD_COMMIT_TIME_MS, FIELD_INFO, FIELD_COUNT };
static PyObject **FIELD_NAMES[FIELD_COUNT] = {
    &str_op, &str_before, &str_after, &str_commit_ts, &str_commit_time_ms, &str_info,
};

static struct {
    PyTypeObject *type; /* the event class (a strong reference), NULL before the first RowEncoder */
    int direct;         /* its fields are all object slots: read at `offsets` */
    Py_ssize_t offsets[FIELD_COUNT];
} event_layout;

static void learn_event_layout(PyTypeObject *type)
{
    event_layout.type = (PyTypeObject *)Py_NewRef((PyObject *)type);
    event_layout.direct = 0;
    if (type->tp_getattro != PyObject_GenericGetAttr) {
        return;
    }
    for (int i = 0; i < FIELD_COUNT; i++) {
        PyObject *descriptor = PyObject_GetAttr((PyObject *)type, *FIELD_NAMES[i]);
        if (descriptor == NULL) {
            PyErr_Clear();
            return;
        }
        int slot = Py_IS_TYPE(descriptor, &PyMemberDescr_Type)
                   && ((PyMemberDescrObject *)descriptor)->d_member->type == T_OBJECT_EX;
        if (slot) {
            event_layout.offsets[i] = ((PyMemberDescrObject *)descriptor)->d_member->offset;
        }
        Py_DECREF(descriptor);
        if (!slot) {
            return;
        }
    }
    event_layout.direct = 1;
}

/* A new reference to one field of the event (NULL with AttributeError when unset). */
static PyObject *event_field(PyObject *event, int field)
{
    if (Py_TYPE(event) == event_layout.type && event_layout.direct) {
        PyObject *value = *(PyObject **)((char *)event + event_layout.offsets[field]);
        if (value != NULL) {
            return Py_NewRef(value);
        }
    }
    return PyObject_GetAttr(event, *FIELD_NAMES[field]);
}

/* int(time.time() * 1000), as the default clock computes it: time.time() is
 * CLOCK_REALTIME's nanoseconds as a double of seconds (CPython's
 * _PyTime_AsSecondsDouble), times 1000, truncated. `clock` where that clock
 * is not available. */
static PyObject *wall_clock_ms(PyObject *clock)
{
#ifdef CLOCK_REALTIME
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
        long long nanoseconds = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
        volatile double seconds;
        if (nanoseconds % 1000000000LL == 0) {
            seconds = (double)(nanoseconds / 1000000000LL);
        }
        else {
            seconds = (double)nanoseconds;
            seconds /= 1e9;
        }
        return PyLong_FromDouble(seconds * 1000.0);
    }
#endif
    return PyObject_CallNoArgs(clock);
}

/* An image that must be an exact dict. */
static int image_of(PyObject *event, int field, PyObject **image)
{
    *image = event_field(event, field);
    if (*image == NULL) {
        return FAILED;
    }
    if (!PyDict_CheckExact(*image)) {
        Py_CLEAR(*image);
        return DECLINE;
    }
    return DONE;
}

static int op_of(PyObject *op)
{
    if (op == str_update) {
        return OP_UPDATE;
    }
    if (op == str_insert) {
        return OP_INSERT;
    }
    if (op == str_delete) {
        return OP_DELETE;
    }
    if (!PyUnicode_CheckExact(op)) {
        return -1;
    }
    if (PyUnicode_Compare(op, str_update) == 0) {
        return OP_UPDATE;
    }
    if (PyUnicode_Compare(op, str_insert) == 0) {
        return OP_INSERT;
    }
    if (PyUnicode_Compare(op, str_delete) == 0) {
        return OP_DELETE;
    }
    return -1;
}

static int write_message(RowWriter *self, PyObject *event, Buffer *out, Buffer *scratch)
{
    PyObject *op = NULL, *before = NULL, *after = NULL, *commit_ts = NULL, *commit_ms = NULL, *ts = NULL;
    Span inline_spans[64];
    Span *spans = NULL;
    int result = FAILED;

    op = event_field(event, FIELD_OP);
    if (op == NULL) {
        goto done;
    }
    int which = op_of(op);
    if (which < 0) {
        result = PyErr_Occurred() ? FAILED : DECLINE;
        goto done;
    }
    ColumnsPlan *plan = (self->delete_keys_only && which == OP_DELETE && self->has_keys) ? &self->keys : &self->all;
    int complete = plan == &self->all;
    if (which != OP_INSERT && (result = image_of(event, FIELD_BEFORE, &before)) != DONE) {
        goto done;
    }
    if (which != OP_DELETE && (result = image_of(event, FIELD_AFTER, &after)) != DONE) {
        goto done;
    }
    result = FAILED;
    PyObject *image = which == OP_DELETE ? before : after;
    commit_ts = event_field(event, FIELD_COMMIT_TS);
    if (commit_ts == NULL) {
        goto done;
    }
    commit_ms = event_field(event, FIELD_COMMIT_TIME_MS);
    if (commit_ms == NULL) {
        goto done;
    }
    if (!PyLong_CheckExact(commit_ts) || (commit_ms != Py_None && !PyLong_CheckExact(commit_ms))) {
        result = DECLINE;
        goto done;
    }
    if (commit_ms == Py_None) { /* the physical part of the commit ts */
        Py_DECREF(commit_ms);
        PyObject *shift = PyLong_FromLong(18);
        if (shift == NULL) {
            commit_ms = NULL;
            goto done;
        }
        commit_ms = PyNumber_Rshift(commit_ts, shift);
        Py_DECREF(shift);
        if (commit_ms == NULL) {
            goto done;
        }
    }
    ts = self->wall_clock ? wall_clock_ms(self->clock) : PyObject_CallNoArgs(self->clock);
    if (ts == NULL) {
        goto done;
    }
    if (!PyLong_CheckExact(ts)) {
        result = DECLINE;
        goto done;
    }

    PyObject *head = self->heads[which];
    if (buffer_write_bytes(out, head) < 0 || write_int(out, commit_ms, 0) < 0 || buffer_literal(out, ",\"ts\":") < 0
        || write_int(out, ts, 0) < 0 || buffer_literal(out, ",\"sql\":\"\",\"sqlType\":") < 0) {
        goto done;
    }
    if ((result = write_sql_type(out, plan, image)) != DONE) {
        goto done;
    }
    result = FAILED;
    if (buffer_literal(out, ",\"mysqlType\":") < 0 || buffer_write_bytes(out, plan->mysql_type) < 0
        || buffer_literal(out, ",\"old\":") < 0) {
        goto done;
    }
    int data_written = 0;
    if (which == OP_UPDATE) {
        if (buffer_literal(out, "[") < 0) {
            goto done;
        }
        if (self->changed_only) {
            /* The new image first (into scratch), then the old one keeping the changed columns. */
            spans = plan->count <= 64 ? inline_spans : PyMem_Malloc((size_t)plan->count * sizeof(Span));
            if (spans == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            if ((result = write_image(scratch, plan, after, complete, spans, NULL, NULL)) != DONE
                || (result = write_image(out, plan, before, complete, NULL, spans, scratch)) != DONE) {
                goto done;
            }
            result = FAILED;
            data_written = 1;
        }
        else if ((result = write_image(out, plan, before, complete, NULL, NULL, NULL)) != DONE) {
            goto done;
        }
        result = FAILED;
        if (buffer_literal(out, "]") < 0) {
            goto done;
        }
    }
    else if (buffer_literal(out, "null") < 0) {
        goto done;
    }
    if (buffer_literal(out, ",\"data\":[") < 0) {
        goto done;
    }
    if (data_written) {
        if (buffer_write(out, scratch->data, scratch->len) < 0) {
            goto done;
        }
    }
    else if ((result = write_image(out, plan, image, complete, NULL, NULL, NULL)) != DONE) {
        goto done;
    }
    result = FAILED;
    if (self->extension) {
        if (buffer_literal(out, "],\"_tidb\":{\"commitTs\":") < 0 || write_int(out, commit_ts, 0) < 0
            || buffer_literal(out, "}}") < 0) {
            goto done;
        }
    }
    else if (buffer_literal(out, "]}") < 0) {
        goto done;
    }
    result = DONE;

done:
    if (spans != NULL && spans != inline_spans) {
        PyMem_Free(spans);
    }
    Py_XDECREF(op);
    Py_XDECREF(before);
    Py_XDECREF(after);
    Py_XDECREF(commit_ts);
    Py_XDECREF(commit_ms);
    Py_XDECREF(ts);
    return result;
}

/* The row's message (compressed when configured), or NULL with no error set: not taken. */
static PyObject *writer_encode(RowWriter *self, PyObject *event)
{
    if (self->clock == NULL) { /* cleared by the garbage collector */
        return NULL;
    }
    Buffer out, scratch;
    buffer_init(&out);
    buffer_init(&scratch);
    int result = write_message(self, event, &out, &scratch);
    buffer_free(&scratch);
    PyObject *value = NULL;
    if (result == DONE) {
        value = PyBytes_FromStringAndSize(out.data, out.len);
    }
    buffer_free(&out);
    if (value != NULL && self->compress != NULL) {
        PyObject *compressed = PyObject_CallOneArg(self->compress, value);
        Py_DECREF(value);
        value = compressed;
        if (value != NULL && !PyBytes_CheckExact(value)) {
            Py_CLEAR(value);
        }
    }
    /* Over the limit (MAX_RECORD_OVERHEAD counted): the Python path handles it as configured. */
    if (value != NULL && (long long)PyBytes_GET_SIZE(value) + 36 > self->limit) {
        Py_CLEAR(value);
    }
    if (value == NULL) {
        PyErr_Clear();
    }
    return value;
}

static PyObject *RowWriter_encode(RowWriter *self, PyObject *event)
{
    PyObject *value = writer_encode(self, event);
    if (value == NULL) {
        Py_RETURN_NONE;
    }
    return value;
}

static PyMethodDef RowWriter_methods[] = {
    {"encode", (PyCFunction)RowWriter_encode, METH_O,
     "encode(event) -> bytes | None: the row's canal-json message (compressed when configured), or None when the "
     "Python path is to handle the row."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RowWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cdcsink.codec.canal_json._speedups.RowWriter",
    .tp_basicsize = sizeof(RowWriter),
    .tp_dealloc = (destructor)RowWriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)RowWriter_traverse,
    .tp_clear = (inquiry)RowWriter_clear,
    .tp_doc = "One table's canal-json row writer (see encoder.py's _TableShape).",
    .tp_methods = RowWriter_methods,
    .tp_new = RowWriter_new,
};

/* --- The encoder's encode_row ------------------------------------------------ */

/* Table writers are kept by the identity of the event's table model (each
 * entry holds the model, so its id cannot be reused while cached). */
#define MAX_WRITERS 4096
/* ... and the most recent ones in a small table indexed by the model's address. */
#define RECENT_WRITERS 64 /* 2 ** 6: see the slot's hash in writer_of */

typedef struct {
    PyObject_HEAD
    struct {
        PyObject *info;
        PyObject *writer;
    } recent[RECENT_WRITERS];
    PyObject *writers;     /* dict: id(table model) -> (table model, RowWriter) */
    PyObject *make_writer; /* event -> RowWriter (the encoder's table shape's) */
    PyObject *fallback;    /* event -> (key, value): the pure-Python encode_row */
} RowEncoder;

static int RowEncoder_traverse(RowEncoder *self, visitproc visit, void *arg)
{
    for (int i = 0; i < RECENT_WRITERS; i++) {
        Py_VISIT(self->recent[i].info);
        Py_VISIT(self->recent[i].writer);
    }
    Py_VISIT(self->writers);
    Py_VISIT(self->make_writer);
    Py_VISIT(self->fallback);
    return 0;
}

static int RowEncoder_clear(RowEncoder *self)
{
    for (int i = 0; i < RECENT_WRITERS; i++) {
        Py_CLEAR(self->recent[i].info);
        Py_CLEAR(self->recent[i].writer);
    }
    Py_CLEAR(self->writers);
    Py_CLEAR(self->make_writer);
    Py_CLEAR(self->fallback);
    return 0;
}

static void RowEncoder_dealloc(RowEncoder *self)
{
    PyObject_GC_UnTrack(self);
    RowEncoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *RowEncoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"make_writer", "fallback", "event_type", NULL};
    PyObject *make_writer, *fallback, *event_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!:RowEncoder", names, &make_writer, &fallback, &PyType_Type,
                                     &event_type)) {
        return NULL;
    }
    if (event_layout.type == NULL) {
        learn_event_layout((PyTypeObject *)event_type);
    }
    if (!PyCallable_Check(make_writer) || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "RowEncoder: make_writer and fallback are callables");
        return NULL;
    }
    RowEncoder *self = (RowEncoder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->writers = PyDict_New();
    if (self->writers == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->make_writer = Py_NewRef(make_writer);
    self->fallback = Py_NewRef(fallback);
    return (PyObject *)self;
}

static void remember(RowEncoder *self, size_t slot, PyObject *info, PyObject *writer)
{
    PyObject *old_info = self->recent[slot].info, *old_writer = self->recent[slot].writer;
    self->recent[slot].info = Py_NewRef(info);
    self->recent[slot].writer = Py_NewRef(writer);
    Py_XDECREF(old_info);
    Py_XDECREF(old_writer);
}

/* The writer of the event's table (borrowed from the cache), or NULL with no
 * error set when there is none to use. */
static RowWriter *writer_of(RowEncoder *self, PyObject *event)
{
    RowWriter *writer = NULL;
    PyObject *key = NULL, *made = NULL, *entry = NULL;
    /* table_info's value without the property call when the input decoder set it */
    PyObject *info = event_field(event, FIELD_INFO);
    if (info == Py_None) {
        Py_DECREF(info);
        info = PyObject_GetAttr(event, str_table_info);
    }
    if (info == NULL) {
        goto done;
    }
    /* Fibonacci hashing of the address: the top 6 bits of its product */
    size_t slot = (size_t)(((unsigned long long)(uintptr_t)info * 0x9E3779B97F4A7C15ULL) >> 58);
    if (self->recent[slot].info == info) {
        writer = (RowWriter *)self->recent[slot].writer;
        goto done;
    }
    key = PyLong_FromVoidPtr(info);
    if (key == NULL) {
        goto done;
    }
    entry = PyDict_GetItemWithError(self->writers, key);
    if (entry != NULL && PyTuple_GET_ITEM(entry, 0) == info) {
        writer = (RowWriter *)PyTuple_GET_ITEM(entry, 1);
        remember(self, slot, info, (PyObject *)writer);
        goto done;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    made = PyObject_CallOneArg(self->make_writer, event);
    if (made == NULL || !PyObject_TypeCheck(made, &RowWriterType)) {
        goto done;
    }
    entry = PyTuple_Pack(2, info, made);
    if (entry == NULL) {
        goto done;
    }
    if (PyDict_GET_SIZE(self->writers) >= MAX_WRITERS) {
        PyDict_Clear(self->writers);
    }
    if (PyDict_SetItem(self->writers, key, entry) == 0) {
        writer = (RowWriter *)made; /* the cache holds it */
        remember(self, slot, info, made);
    }
    Py_DECREF(entry);

done:
    Py_XDECREF(made);
    Py_XDECREF(key);
    Py_XDECREF(info);
    PyErr_Clear();
    return writer;
}

static PyObject *RowEncoder_encode_row(RowEncoder *self, PyObject *event)
{
    RowWriter *writer = writer_of(self, event);
    if (writer != NULL) {
        Py_INCREF(writer);
        PyObject *value = writer_encode(writer, event);
        Py_DECREF(writer);
        if (value != NULL) {
            PyObject *message = PyTuple_Pack(2, Py_None, value);
            Py_DECREF(value);
            return message;
        }
    }
    return PyObject_CallOneArg(self->fallback, event);
}

static PyMethodDef RowEncoder_methods[] = {
    {"encode_row", (PyCFunction)RowEncoder_encode_row, METH_O,
     "encode_row(event) -> (None, value): the table's writer's message, or the fallback's for a row it does not "
     "take."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RowEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cdcsink.codec.canal_json._speedups.RowEncoder",
    .tp_basicsize = sizeof(RowEncoder),
    .tp_dealloc = (destructor)RowEncoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "CanalJsonEncoder.encode_row through each table's RowWriter, the fallback for rows they do not take.",
    .tp_traverse = (traverseproc)RowEncoder_traverse,
    .tp_clear = (inquiry)RowEncoder_clear,
    .tp_methods = RowEncoder_methods,
    .tp_new = RowEncoder_new,
};

/* --- Module ------------------------------------------------------------------ */

static int intern_names(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&str_op, "op"}, {&str_before, "before"}, {&str_after, "after"}, {&str_commit_ts, "commit_ts"},
        {&str_commit_time_ms, "commit_time_ms"}, {&str_insert, "insert"}, {&str_update, "update"},
        {&str_delete, "delete"}, {&str_info, "_info"}, {&str_table_info, "table_info"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    return 0;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cdcsink.codec.canal_json._speedups",
    .m_doc = "The compiled canal-json row writer (see cdcsink/codec/canal_json/encoder.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    init_escape_table();
    if (intern_names() < 0 || PyType_Ready(&RowWriterType) < 0 || PyType_Ready(&RowEncoderType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "RowWriter", (PyObject *)&RowWriterType) < 0
        || PyModule_AddObjectRef(m, "RowEncoder", (PyObject *)&RowEncoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
