/* The compiled twin of cdcsink/codec/open_protocol/encoder.py's row path.
 *
 * RowWriter.encode_row(event) writes a row's key and value JSON bytes
 * directly, exactly as OpenProtocolEncoder._encode_row_py does (orjson's
 * output with json-iterator's escapes, see codec/common/golang.py), and
 * pack(rows, limit, batch_rows) frames them as OpenProtocolEncoder._pack_py
 * does. Whatever this code does not take (a wrong-typed value, an unknown
 * column, a string with a lone surrogate, an int past 64 bits, NaN, an
 * oversized message, a table seen for the first time, ...) goes to the
 * pure-Python reference, which writes the same bytes or raises its error:
 * nothing here raises an error of its own besides MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Column kinds: how "v" is written (encoder.py's _conversion). */
enum {
    KIND_INT = 0,    /* int: the number */
    KIND_FLOAT32,    /* float: format_float32 text */
    KIND_FLOAT64,    /* float: orjson's shortest digits, or format_float64 text */
    KIND_TEXT,       /* str: the JSON string */
    KIND_QUOTE,      /* bytes: strconv.Quote text as a JSON string */
    KIND_BASE64,     /* bytes: base64 as a JSON string */
    KIND_TEXT_BASE64 /* str: base64 of its UTF-8 as a JSON string */
};

#define NEWDECIMAL 246
#define MAX_PLANS 4096

/* -- a growable byte buffer -------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char local[2048];
} Buf;

static void buf_init(Buf *b) {
    b->data = b->local;
    b->len = 0;
    b->cap = (Py_ssize_t)sizeof(b->local);
}

static void buf_free(Buf *b) {
    if (b->data != b->local) {
        PyMem_Free(b->data);
    }
    b->data = b->local;
}

/* Room for n more bytes; -1 with MemoryError set. */
static int buf_reserve(Buf *b, Py_ssize_t n) {
    if (b->len + n <= b->cap) {
        return 0;
    }
    if (n > PY_SSIZE_T_MAX / 2 - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = b->cap * 2;
    if (cap < b->len + n) {
        cap = b->len + n;
    }
    char *data;
    if (b->data == b->local) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL) {
            memcpy(data, b->local, (size_t)b->len);
        }
    } else {
        data = PyMem_Realloc(b->data, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int buf_write(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static inline int buf_byte(Buf *b, char c) {
    if (buf_reserve(b, 1) < 0) {
        return -1;
    }
    b->data[b->len++] = c;
    return 0;
}

#define buf_lit(b, s) buf_write((b), (s), (Py_ssize_t)(sizeof(s) - 1))

static int buf_bytes(Buf *b, PyObject *bytes) {
    return buf_write(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

static int buf_long(Buf *b, long long v) {
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    return buf_write(b, p, end - p);
}

static int buf_ulong(Buf *b, unsigned long long u) {
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return buf_write(b, p, end - p);
}

/* -- JSON strings: orjson's escapes, then json-iterator's \u0008 and \u000c ---- */

/* 0: as is; 'u': \u00XX; else the character after the backslash. */
static char ESCAPE[256];

static void init_escapes(void) {
    for (int c = 0; c < 0x20; c++) {
        ESCAPE[c] = 'u';
    }
    ESCAPE['\n'] = 'n';
    ESCAPE['\r'] = 'r';
    ESCAPE['\t'] = 't';
    ESCAPE['"'] = '"';
    ESCAPE['\\'] = '\\';
}

static const char HEX[] = "0123456789abcdef";

/* The UTF-8 bytes s[0:n] as a JSON string, quotes included. */
static int write_json_utf8(Buf *b, const char *s, Py_ssize_t n) {
    /* At most 6 bytes out per byte in, plus the quotes. */
    if (n > (PY_SSIZE_T_MAX - 2) / 6 || buf_reserve(b, n * 6 + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    char *out = b->data + b->len;
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;
    *out++ = '"';
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !ESCAPE[*p]) {
            p++;
        }
        if (p > run) {
            memcpy(out, run, (size_t)(p - run));
            out += p - run;
        }
        if (p == end) {
            break;
        }
        char e = ESCAPE[*p];
        *out++ = '\\';
        if (e == 'u') {
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = HEX[*p >> 4];
            *out++ = HEX[*p & 15];
        } else {
            *out++ = e;
        }
        p++;
    }
    *out++ = '"';
    b->len = out - b->data;
    return 0;
}

/* -1 with an error set: the caller declines (a lone surrogate) or fails. */
static int write_json_str(Buf *b, PyObject *str) {
    if (PyUnicode_IS_COMPACT_ASCII(str)) { /* its characters are its UTF-8 bytes */
        return write_json_utf8(b, (const char *)PyUnicode_DATA(str), PyUnicode_GET_LENGTH(str));
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(str, &n);
    if (s == NULL) {
        return -1;
    }
    return write_json_utf8(b, s, n);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 (standard alphabet, padded) of s[0:n] as a JSON string. */
static int write_base64(Buf *b, const char *s, Py_ssize_t n) {
    if (n > (PY_SSIZE_T_MAX / 4 - 3) * 3 / 2 || buf_reserve(b, (n + 2) / 3 * 4 + 2) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s;
    char *out = b->data + b->len;
    *out++ = '"';
    Py_ssize_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = ((unsigned)p[i] << 16) | ((unsigned)p[i + 1] << 8) | p[i + 2];
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = B64[(v >> 6) & 63];
        *out++ = B64[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        unsigned v = ((unsigned)p[i] << 16) | ((unsigned)p[i + 1] << 8);
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = B64[(v >> 6) & 63];
        *out++ = '=';
    }
    *out++ = '"';
    b->len = out - b->data;
    return 0;
}

/* -- table plans ------------------------------------------------------------------ */

typedef struct {
    PyObject *name;    /* str */
    PyObject *prefix;  /* bytes: "name":{"t":..,["h":true,]"f":..,"v": */
    PyObject *convert; /* str-returning callable for the kinds that need one, or None */
    int kind;
    int tp;
} Col;

/* What RowWriter needs of one table model (built once per table by the
 * encoder's _plan). */
typedef struct {
    PyObject_HEAD
    PyObject *info;
    PyObject *key_tail; /* bytes: ,"scm":..,"tbl":..,"t":1 */
    Py_ssize_t ncols;
    Py_ssize_t nhandle;
    Col *cols;
    Py_ssize_t *handle; /* indexes of the handle-key columns, declared order */
} PlanObject;

static PyTypeObject Plan_Type;

static void Plan_dealloc(PlanObject *self) {
    if (self->cols != NULL) {
        for (Py_ssize_t i = 0; i < self->ncols; i++) {
            Py_XDECREF(self->cols[i].name);
            Py_XDECREF(self->cols[i].prefix);
            Py_XDECREF(self->cols[i].convert);
        }
        PyMem_Free(self->cols);
    }
    PyMem_Free(self->handle);
    Py_XDECREF(self->info);
    Py_XDECREF(self->key_tail);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Plan(info, key_tail, columns): columns a tuple of
 * (name: str, prefix: bytes, kind: int, convert, tp: int, handle: bool). */
static PyObject *Plan_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *info, *key_tail, *columns;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Plan() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OO!O!:Plan", &info, &PyBytes_Type, &key_tail, &PyTuple_Type, &columns)) {
        return NULL;
    }
    PlanObject *self = (PlanObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->info = Py_NewRef(info);
    self->key_tail = Py_NewRef(key_tail);
    Py_ssize_t n = PyTuple_GET_SIZE(columns);
    self->cols = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Col));
    self->handle = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_ssize_t));
    if (self->cols == NULL || self->handle == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *prefix, *convert;
        int kind, tp, handle;
        PyObject *item = PyTuple_GET_ITEM(columns, i);
        if (!PyTuple_Check(item) ||
            !PyArg_ParseTuple(item, "O!O!iOip:Plan column", &PyUnicode_Type, &name, &PyBytes_Type, &prefix, &kind,
                              &convert, &tp, &handle)) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "Plan(): a column is not a tuple");
            }
            Py_DECREF(self);
            return NULL;
        }
        if (kind < KIND_INT || kind > KIND_TEXT_BASE64) {
            PyErr_Format(PyExc_ValueError, "Plan(): unknown column kind %d", kind);
            Py_DECREF(self);
            return NULL;
        }
        self->cols[i].name = Py_NewRef(name);
        self->cols[i].prefix = Py_NewRef(prefix);
        self->cols[i].convert = Py_NewRef(convert);
        self->cols[i].kind = kind;
        self->cols[i].tp = tp;
        self->ncols = i + 1;
        if (handle) {
            self->handle[self->nhandle++] = i;
        }
    }
    return (PyObject *)self;
}

static PyTypeObject Plan_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cdcsink.codec.open_protocol._speedups.Plan",
    .tp_basicsize = sizeof(PlanObject),
    .tp_dealloc = (destructor)Plan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Plan(info, key_tail, columns): one table's columns as RowWriter writes them.",
    .tp_new = Plan_new,
};

/* -- values ---------------------------------------------------------------------- */

/* Results of the writers below: written, declined (the Python path takes the
 * row; no error set), or failed (MemoryError set). */
#define OK 0
#define DECLINE 1
#define FAIL -1

/* After a call that set an error: decline unless memory ran out. */
static int decline_error(void) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
        return FAIL;
    }
    PyErr_Clear();
    return DECLINE;
}

/* A str from a conversion callable, written as it is (float text) or as a JSON string. */
static int write_converted(Buf *b, const Col *col, PyObject *value, int as_string) {
    if (col->convert == Py_None) {
        return DECLINE;
    }
    PyObject *text = PyObject_CallOneArg(col->convert, value);
    if (text == NULL) {
        return decline_error();
    }
    if (!PyUnicode_CheckExact(text)) {
        Py_DECREF(text);
        return DECLINE;
    }
    int rc;
    if (as_string) {
        rc = write_json_str(b, text) < 0 ? decline_error() : OK;
    } else {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(text, &n);
        if (s == NULL) {
            rc = decline_error();
        } else if (memchr(s, '\\', (size_t)n) != NULL || memchr(s, '"', (size_t)n) != NULL) {
            rc = DECLINE; /* float text never has these */
        } else {
            rc = buf_write(b, s, n) < 0 ? FAIL : OK;
        }
    }
    Py_DECREF(text);
    return rc;
}

/* Whether data is strconv.Quote's text of itself (printable ASCII but '"' and '\\'). */
static int quote_is_plain(const unsigned char *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            return 0;
        }
    }
    return 1;
}

/* A column's "v" for a present value (None included). */
static int write_value(Buf *b, const Col *col, PyObject *value) {
    if (value == Py_None) {
        return buf_lit(b, "null") < 0 ? FAIL : OK;
    }
    switch (col->kind) {
    case KIND_INT: {
        if (!PyLong_CheckExact(value)) {
            return DECLINE;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow == 0) {
            if (v == -1 && PyErr_Occurred()) {
                return decline_error();
            }
            return buf_long(b, v) < 0 ? FAIL : OK;
        }
        if (overflow < 0) {
            return DECLINE; /* below -2**63: orjson refuses it */
        }
        unsigned long long u = PyLong_AsUnsignedLongLong(value);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            return decline_error(); /* past 2**64 - 1 */
        }
        return buf_ulong(b, u) < 0 ? FAIL : OK;
    }
    case KIND_FLOAT64: {
        if (!PyFloat_CheckExact(value)) {
            return DECLINE;
        }
        double v = PyFloat_AS_DOUBLE(value);
        double magnitude = v > 0 ? v : -v;
        if (magnitude >= 1e-4 && magnitude < 1e16) {
            /* Python's repr without ".0" (no exponent here): orjson's shortest digits for a
             * fraction, format_float64's text for a whole number. */
            char *text = PyOS_double_to_string(v, 'r', 0, 0, NULL);
            if (text == NULL) {
                return FAIL;
            }
            int rc = strchr(text, 'e') != NULL ? DECLINE : (buf_write(b, text, (Py_ssize_t)strlen(text)) < 0 ? FAIL : OK);
            PyMem_Free(text);
            return rc;
        }
        return write_converted(b, col, value, 0);
    }
    case KIND_FLOAT32:
        if (!PyFloat_CheckExact(value)) {
            return DECLINE;
        }
        return write_converted(b, col, value, 0);
    case KIND_TEXT:
        if (!PyUnicode_CheckExact(value)) {
            return DECLINE;
        }
        return write_json_str(b, value) < 0 ? decline_error() : OK;
    case KIND_QUOTE: {
        if (!PyBytes_CheckExact(value)) {
            return DECLINE;
        }
        const char *s = PyBytes_AS_STRING(value);
        Py_ssize_t n = PyBytes_GET_SIZE(value);
        if (quote_is_plain((const unsigned char *)s, n)) {
            return write_json_utf8(b, s, n) < 0 ? FAIL : OK;
        }
        return write_converted(b, col, value, 1);
    }
    case KIND_BASE64:
        if (!PyBytes_CheckExact(value)) {
            return DECLINE;
        }
        return write_base64(b, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)) < 0 ? FAIL : OK;
    case KIND_TEXT_BASE64: {
        if (!PyUnicode_CheckExact(value)) {
            return DECLINE;
        }
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(value, &n);
        if (s == NULL) {
            return decline_error();
        }
        return write_base64(b, s, n) < 0 ? FAIL : OK;
    }
    default:
        return DECLINE;
    }
}

/* -- row writer ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *plan_of;  /* event -> Plan or None (may raise) */
    PyObject *fallback; /* event -> (key, value): the pure-Python encode_row */
    PyObject *differs;  /* (tp, old, new) -> bool, for decimals */
    PyObject *compress; /* bytes -> bytes, or None */
    PyObject *plans;    /* dict: id(info) -> Plan */
    long long limit;
    long long overhead;
    int changed_only;
    int delete_keys_only;
} RowWriterObject;

static PyObject *str_info, *str_table_info, *str_commit_ts, *str_op, *str_before, *str_after;

/* The columns cols[idx[i]] (or all, idx NULL) of image as a JSON object; whole:
 * the columns are all of the table's, so an image column not among them declines. */
static int write_image(Buf *b, const PlanObject *plan, const Py_ssize_t *idx, Py_ssize_t n, PyObject *image,
                       int whole) {
    if (!PyDict_CheckExact(image)) {
        return DECLINE;
    }
    if (buf_byte(b, '{') < 0) {
        return FAIL;
    }
    Py_ssize_t present = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Col *col = &plan->cols[idx != NULL ? idx[i] : i];
        PyObject *value = PyDict_GetItemWithError(image, col->name); /* borrowed */
        if (value == NULL) {
            if (PyErr_Occurred()) {
                return decline_error();
            }
            continue;
        }
        if (present++ && buf_byte(b, ',') < 0) {
            return FAIL;
        }
        if (buf_bytes(b, col->prefix) < 0) {
            return FAIL;
        }
        Py_INCREF(value); /* a conversion callable could change the dict */
        int rc = write_value(b, col, value);
        Py_DECREF(value);
        if (rc != OK) {
            return rc;
        }
        if (buf_byte(b, '}') < 0) {
            return FAIL;
        }
    }
    if (whole && present != PyDict_GET_SIZE(image)) {
        return DECLINE;
    }
    return buf_byte(b, '}') < 0 ? FAIL : OK;
}

/* The error set while comparing, as differs returns it: DECLINE/FAIL as -2/-3. */
static int differs_error(void) {
    return decline_error() == FAIL ? -3 : -2;
}

/* The truth of a comparison's result r (a new reference, taken; NULL: the
 * comparison raised), as differs returns it. */
static int differs_truth(PyObject *r) {
    int truth = r == NULL ? -1 : PyObject_IsTrue(r);
    Py_XDECREF(r);
    return truth < 0 ? differs_error() : truth;
}

/* encoder.py's _differs: 1, 0, or DECLINE/FAIL as -2/-3. */
static int differs(RowWriterObject *self, int tp, PyObject *old, PyObject *new) {
    if (Py_TYPE(old) != Py_TYPE(new)) {
        return 1;
    }
    if (tp == NEWDECIMAL && PyUnicode_CheckExact(old)) {
        int eq = PyUnicode_Compare(old, new);
        if (eq == -1 && PyErr_Occurred()) {
            return differs_error();
        }
        if (eq == 0) {
            return 0;
        }
        PyObject *tpo = PyLong_FromLong(tp);
        if (tpo == NULL) {
            return -3;
        }
        PyObject *r = PyObject_CallFunctionObjArgs(self->differs, tpo, old, new, NULL);
        Py_DECREF(tpo);
        return differs_truth(r);
    }
    /* `old != new` as Python evaluates it (no identity shortcut: NaN != NaN). */
    return differs_truth(PyObject_RichCompare(old, new, Py_NE));
}

/* only-output-updated-columns: the old values of the columns an update changed
 * (encoder.py's _changed_image). */
static int write_changed_image(RowWriterObject *self, Buf *b, const PlanObject *plan, PyObject *before,
                               PyObject *after) {
    if (!PyDict_CheckExact(before) || !PyDict_CheckExact(after)) {
        return DECLINE;
    }
    if (buf_byte(b, '{') < 0) {
        return FAIL;
    }
    Py_ssize_t present = 0;
    for (Py_ssize_t i = 0; i < plan->ncols; i++) {
        const Col *col = &plan->cols[i];
        PyObject *old = PyDict_GetItemWithError(before, col->name);
        if (old == NULL) {
            if (PyErr_Occurred()) {
                return decline_error();
            }
            continue;
        }
        Py_INCREF(old);
        PyObject *new = PyDict_GetItemWithError(after, col->name);
        if (new == NULL && PyErr_Occurred()) {
            Py_DECREF(old);
            return decline_error();
        }
        Py_XINCREF(new);
        int skip;
        if (old == Py_None) {
            skip = new == NULL || new == Py_None;
        } else if (new == NULL || new == Py_None) {
            skip = 0;
        } else {
            int d = differs(self, col->tp, old, new);
            if (d < 0) {
                Py_DECREF(old);
                Py_DECREF(new);
                return d == -3 ? FAIL : DECLINE;
            }
            skip = !d;
        }
        Py_XDECREF(new);
        if (skip) {
            Py_DECREF(old);
            continue;
        }
        int rc = OK;
        if (present++ && buf_byte(b, ',') < 0) {
            rc = FAIL;
        } else if (buf_bytes(b, col->prefix) < 0) {
            rc = FAIL;
        } else {
            rc = write_value(b, col, old);
            if (rc == OK && buf_byte(b, '}') < 0) {
                rc = FAIL;
            }
        }
        Py_DECREF(old);
        if (rc != OK) {
            return rc;
        }
    }
    return buf_byte(b, '}') < 0 ? FAIL : OK;
}

/* The plan of the event's table: cached by id(info), else from plan_of. New
 * reference, or NULL: declined (no error) or failed (error set). */
static PlanObject *plan_for(RowWriterObject *self, PyObject *event) {
    /* RowEvent.table_info is its _info slot once set (a plain read, no property call). */
    PyObject *info = PyObject_GetAttr(event, str_info);
    if (info == Py_None) {
        Py_DECREF(info);
        info = PyObject_GetAttr(event, str_table_info);
    }
    if (info == NULL) {
        decline_error();
        return NULL;
    }
    PyObject *id = PyLong_FromVoidPtr(info);
    if (id == NULL) {
        Py_DECREF(info);
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(self->plans, id);
    if (found != NULL && ((PlanObject *)found)->info == info) {
        Py_DECREF(id);
        Py_DECREF(info);
        return (PlanObject *)Py_NewRef(found);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(id);
        Py_DECREF(info);
        return NULL;
    }
    PyObject *plan = PyObject_CallOneArg(self->plan_of, event);
    if (plan == NULL || !PyObject_TypeCheck(plan, &Plan_Type) || ((PlanObject *)plan)->info != info) {
        if (plan == NULL) {
            decline_error();
        }
        Py_XDECREF(plan);
        Py_DECREF(id);
        Py_DECREF(info);
        return NULL;
    }
    Py_DECREF(info);
    if (PyDict_GET_SIZE(self->plans) >= MAX_PLANS) {
        PyDict_Clear(self->plans);
    }
    int rc = PyDict_SetItem(self->plans, id, plan);
    Py_DECREF(id);
    if (rc < 0) {
        Py_DECREF(plan);
        return NULL;
    }
    return (PlanObject *)plan;
}

/* The row's value JSON into b. */
static int write_value_doc(RowWriterObject *self, Buf *b, const PlanObject *plan, PyObject *event) {
    PyObject *op = PyObject_GetAttr(event, str_op);
    if (op == NULL) {
        return decline_error();
    }
    int is_delete = 0, is_insert = 0;
    if (PyUnicode_CheckExact(op)) {
        is_delete = PyUnicode_CompareWithASCIIString(op, "delete") == 0;
        is_insert = !is_delete && PyUnicode_CompareWithASCIIString(op, "insert") == 0;
    } else {
        Py_DECREF(op);
        return DECLINE; /* `op == DELETE` could run anything */
    }
    Py_DECREF(op);
    int rc;
    if (is_delete) {
        PyObject *before = PyObject_GetAttr(event, str_before);
        if (before == NULL) {
            return decline_error();
        }
        if (buf_lit(b, "{\"d\":") < 0) {
            rc = FAIL;
        } else if (self->delete_keys_only && plan->nhandle) {
            rc = write_image(b, plan, plan->handle, plan->nhandle, before, 0);
        } else {
            rc = write_image(b, plan, NULL, plan->ncols, before, 1);
        }
        Py_DECREF(before);
    } else {
        PyObject *after = PyObject_GetAttr(event, str_after);
        if (after == NULL) {
            return decline_error();
        }
        rc = buf_lit(b, "{\"u\":") < 0 ? FAIL : write_image(b, plan, NULL, plan->ncols, after, 1);
        if (rc == OK && !is_insert) {
            PyObject *before = PyObject_GetAttr(event, str_before);
            if (before == NULL) {
                rc = decline_error();
            } else {
                if (buf_lit(b, ",\"p\":") < 0) {
                    rc = FAIL;
                } else if (self->changed_only) {
                    rc = write_changed_image(self, b, plan, before, after);
                } else {
                    rc = write_image(b, plan, NULL, plan->ncols, before, 1);
                }
                Py_DECREF(before);
            }
        }
        Py_DECREF(after);
    }
    if (rc == OK && buf_byte(b, '}') < 0) {
        rc = FAIL;
    }
    return rc;
}

/* (key, value), or Py_None (declined), or NULL (MemoryError). New reference. */
static PyObject *try_encode(RowWriterObject *self, PyObject *event) {
    PlanObject *plan = plan_for(self, event);
    if (plan == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *result = NULL, *key = NULL, *value = NULL;
    Buf b;
    buf_init(&b);
    int rc = DECLINE;
    PyObject *ts = PyObject_GetAttr(event, str_commit_ts);
    if (ts == NULL) {
        rc = decline_error();
        goto done;
    }
    if (!PyLong_CheckExact(ts)) {
        Py_DECREF(ts);
        goto done;
    }
    int overflow;
    long long commit_ts = PyLong_AsLongLongAndOverflow(ts, &overflow);
    unsigned long long commit_uts = 0;
    if (overflow > 0) { /* a uint64 TSO past 2**63 - 1 */
        commit_uts = PyLong_AsUnsignedLongLong(ts);
    }
    Py_DECREF(ts);
    if (overflow < 0 || PyErr_Occurred()) {
        rc = PyErr_Occurred() ? decline_error() : DECLINE;
        goto done;
    }
    if (buf_lit(&b, "{\"ts\":") < 0 ||
        (overflow ? buf_ulong(&b, commit_uts) : buf_long(&b, commit_ts)) < 0 || buf_bytes(&b, plan->key_tail) < 0 ||
        buf_byte(&b, '}') < 0) {
        rc = FAIL;
        goto done;
    }
    key = PyBytes_FromStringAndSize(b.data, b.len);
    if (key == NULL) {
        rc = FAIL;
        goto done;
    }
    b.len = 0;
    rc = write_value_doc(self, &b, plan, event);
    if (rc != OK) {
        goto done;
    }
    value = PyBytes_FromStringAndSize(b.data, b.len);
    if (value == NULL) {
        rc = FAIL;
        goto done;
    }
    if (self->compress != Py_None) {
        PyObject *packed = PyObject_CallOneArg(self->compress, value);
        Py_SETREF(value, packed);
        if (value == NULL) {
            rc = decline_error();
            goto done;
        }
        if (!PyBytes_CheckExact(value)) {
            rc = DECLINE;
            goto done;
        }
    }
    if ((long long)PyBytes_GET_SIZE(key) + (long long)PyBytes_GET_SIZE(value) + self->overhead > self->limit) {
        rc = DECLINE; /* oversized: handled by the Python path as configured */
        goto done;
    }
    result = PyTuple_Pack(2, key, value);
    if (result == NULL) {
        rc = FAIL;
    }
done:
    buf_free(&b);
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_DECREF(plan);
    if (result != NULL) {
        return result;
    }
    return rc == FAIL ? NULL : Py_NewRef(Py_None);
}

static PyObject *RowWriter_encode_row(RowWriterObject *self, PyObject *event) {
    PyObject *r = try_encode(self, event);
    if (r != Py_None) {
        return r;
    }
    Py_DECREF(r);
    return PyObject_CallOneArg(self->fallback, event);
}

static PyObject *RowWriter_try_encode_row(RowWriterObject *self, PyObject *event) {
    return try_encode(self, event);
}

static int RowWriter_traverse(RowWriterObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->plan_of);
    Py_VISIT(self->fallback);
    Py_VISIT(self->differs);
    Py_VISIT(self->compress);
    Py_VISIT(self->plans);
    return 0;
}

static int RowWriter_clear(RowWriterObject *self) {
    Py_CLEAR(self->plan_of);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->differs);
    Py_CLEAR(self->compress);
    Py_CLEAR(self->plans);
    return 0;
}

static void RowWriter_dealloc(RowWriterObject *self) {
    PyObject_GC_UnTrack(self);
    RowWriter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *RowWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"plan_of",  "fallback",     "differs",          "compress", "limit",
                             "overhead", "changed_only", "delete_keys_only", NULL};
    PyObject *plan_of, *fallback, *differs_, *compress;
    long long limit, overhead;
    int changed_only, delete_keys_only;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOLLpp:RowWriter", kwlist, &plan_of, &fallback, &differs_,
                                     &compress, &limit, &overhead, &changed_only, &delete_keys_only)) {
        return NULL;
    }
    RowWriterObject *self = (RowWriterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->plans = PyDict_New();
    if (self->plans == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->plan_of = Py_NewRef(plan_of);
    self->fallback = Py_NewRef(fallback);
    self->differs = Py_NewRef(differs_);
    self->compress = Py_NewRef(compress);
    self->limit = limit;
    self->overhead = overhead;
    self->changed_only = changed_only;
    self->delete_keys_only = delete_keys_only;
    return (PyObject *)self;
}

static PyMethodDef RowWriter_methods[] = {
    {"encode_row", (PyCFunction)RowWriter_encode_row, METH_O,
     "encode_row(event) -> (key, value): compiled, or the pure-Python fallback's result."},
    {"try_encode_row", (PyCFunction)RowWriter_try_encode_row, METH_O,
     "try_encode_row(event) -> (key, value) or None when the compiled path declines the row."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RowWriter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cdcsink.codec.open_protocol._speedups.RowWriter",
    .tp_basicsize = sizeof(RowWriterObject),
    .tp_dealloc = (destructor)RowWriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RowWriter(plan_of, fallback, differs, compress, limit, overhead, changed_only, delete_keys_only)",
    .tp_traverse = (traverseproc)RowWriter_traverse,
    .tp_clear = (inquiry)RowWriter_clear,
    .tp_methods = RowWriter_methods,
    .tp_new = RowWriter_new,
};

/* -- framing ----------------------------------------------------------------------- */

static void put_be64(char *p, unsigned long long v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

/* One message of rows[start:end]: (HEADER + [len][key]..., [len][value]...). */
static PyObject *pack_one(PyObject *rows, Py_ssize_t start, Py_ssize_t end, Py_ssize_t keys_size,
                          Py_ssize_t values_size) {
    PyObject *key = PyBytes_FromStringAndSize(NULL, keys_size);
    PyObject *value = key != NULL ? PyBytes_FromStringAndSize(NULL, values_size) : NULL;
    if (value == NULL) {
        Py_XDECREF(key);
        return NULL;
    }
    char *k = PyBytes_AS_STRING(key);
    char *v = PyBytes_AS_STRING(value);
    put_be64(k, 1); /* the version */
    k += 8;
    for (Py_ssize_t i = start; i < end; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        PyObject *rk = PyTuple_GET_ITEM(row, 0), *rv = PyTuple_GET_ITEM(row, 1);
        Py_ssize_t nk = PyBytes_GET_SIZE(rk), nv = PyBytes_GET_SIZE(rv);
        put_be64(k, (unsigned long long)nk);
        memcpy(k + 8, PyBytes_AS_STRING(rk), (size_t)nk);
        k += 8 + nk;
        put_be64(v, (unsigned long long)nv);
        memcpy(v + 8, PyBytes_AS_STRING(rv), (size_t)nv);
        v += 8 + nv;
    }
    PyObject *message = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return message;
}

/* pack(rows, limit, batch_rows, empty): encoder.py's _pack_py for a list of
 * (bytes, bytes) tuples; None for anything else. empty: the bytes of a message
 * without entries as the size check counts them (header + record overhead). */
static PyObject *pack(PyObject *module, PyObject *args) {
    PyObject *rows;
    long long limit, batch_rows, empty;
    (void)module;
    if (!PyArg_ParseTuple(args, "OLLL:pack", &rows, &limit, &batch_rows, &empty)) {
        return NULL;
    }
    if (!PyList_CheckExact(rows)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(row, 0)) ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(row, 1))) {
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t start = 0, keys_size = 8, values_size = 0;
    long long size = empty, count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        Py_ssize_t nk = PyBytes_GET_SIZE(PyTuple_GET_ITEM(row, 0));
        Py_ssize_t nv = PyBytes_GET_SIZE(PyTuple_GET_ITEM(row, 1));
        long long entry = 16 + (long long)nk + (long long)nv;
        if (count && (count >= batch_rows || size + entry > limit)) {
            PyObject *message = pack_one(rows, start, i, keys_size, values_size);
            if (message == NULL || PyList_Append(out, message) < 0) {
                Py_XDECREF(message);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(message);
            start = i;
            keys_size = 8;
            values_size = 0;
            size = empty;
            count = 0;
        }
        keys_size += 8 + nk;
        values_size += 8 + nv;
        size += entry;
        count++;
    }
    if (count) {
        PyObject *message = pack_one(rows, start, n, keys_size, values_size);
        if (message == NULL || PyList_Append(out, message) < 0) {
            Py_XDECREF(message);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(message);
    }
    return out;
}

/* -- module ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"pack", pack, METH_VARARGS, "pack(rows, limit, batch_rows, empty) -> messages, or None when not taken."},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *module) {
    init_escapes();
    if (str_table_info == NULL) {
        str_info = PyUnicode_InternFromString("_info");
        str_table_info = PyUnicode_InternFromString("table_info");
        str_commit_ts = PyUnicode_InternFromString("commit_ts");
        str_op = PyUnicode_InternFromString("op");
        str_before = PyUnicode_InternFromString("before");
        str_after = PyUnicode_InternFromString("after");
        if (!str_info || !str_table_info || !str_commit_ts || !str_op || !str_before || !str_after) {
            return -1;
        }
    }
    if (PyType_Ready(&Plan_Type) < 0 || PyType_Ready(&RowWriter_Type) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Plan", (PyObject *)&Plan_Type) < 0 ||
        PyModule_AddObjectRef(module, "RowWriter", (PyObject *)&RowWriter_Type) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "KIND_INT", KIND_INT) < 0 ||
        PyModule_AddIntConstant(module, "KIND_FLOAT32", KIND_FLOAT32) < 0 ||
        PyModule_AddIntConstant(module, "KIND_FLOAT64", KIND_FLOAT64) < 0 ||
        PyModule_AddIntConstant(module, "KIND_TEXT", KIND_TEXT) < 0 ||
        PyModule_AddIntConstant(module, "KIND_QUOTE", KIND_QUOTE) < 0 ||
        PyModule_AddIntConstant(module, "KIND_BASE64", KIND_BASE64) < 0 ||
        PyModule_AddIntConstant(module, "KIND_TEXT_BASE64", KIND_TEXT_BASE64) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cdcsink.codec.open_protocol._speedups",
    .m_doc = "The compiled twin of the open-protocol row encoder (cdcsink.codec.open_protocol.encoder).",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    return PyModuleDef_Init(&module_def);
}
