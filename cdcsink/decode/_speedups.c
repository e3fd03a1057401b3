/* The compiled twin of cdcsink.decode's row path: one NDJSON `{"kind":"row",...}`
 * line straight into a RowEvent.
 *
 * decode_row(decoder, raw, line) returns the RowEvent that Decoder.decode's
 * Python path returns for the line, or None ("not taken": the caller then runs
 * the Python path, which decides, and names any problem). It takes the common
 * form only: a row line whose top-level keys are the known ones, each once and
 * without escapes, with values of the types the typed msgspec decoder accepts;
 * integers within int64 (uint64 in images; commit_ts and commit_time_ms up to
 * 2^63-1 as the typed decoder takes them); strings with the standard escapes (no lone
 * surrogates), valid UTF-8. Anything else (resolved and ddl lines included) is
 * declined.
 *
 * A table's `columns` and `pk` are parsed (and checked by
 * Decoder._table_shape) only when their text differs from the table's last
 * one: the decoder's `_compiled_shapes` dict holds, per schema and table, the
 * raw text of both beside the shape _table_shape returned and the table's
 * check plan (ImageRules.plan, compiled to a C array). Image values are
 * checked here where ImageRules.convert would keep them as they are (or where
 * its conversion is simple: binary text to bytes, float to float32); any other
 * value makes the image go through the Python `rules.convert(image, side)`,
 * which gives the same result by construction.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifndef Py_T_OBJECT_EX
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

/* Module-level constants, set once at import. */
static PyObject *RowEvent_type;       /* cdcsink.events.RowEvent */
static PyObject *OP_INSERT, *OP_UPDATE, *OP_DELETE;
static PyObject *S_compiled_shapes, *S_last_resolved_ts, *S_table_shape, *S_plan, *S_convert, *S_before, *S_after;
/* The RowEvent slots, in constructor order; their offsets when they are plain
 * object slots (else the event is built by calling the class). */
#define EVENT_FIELDS 11
static const char *const EVENT_SLOTS[EVENT_FIELDS] = {
    "schema", "table", "commit_ts", "op", "pk", "columns", "before", "after", "commit_time_ms", "line", "_info",
};
static Py_ssize_t event_offsets[EVENT_FIELDS];
static int event_by_offsets;

#define MAX_DEPTH 32

/* ---------------------------------------------------------------- parsing */

typedef struct {
    const char *start;
    const char *p;
    const char *end;
} Parser;

static inline void skip_ws(Parser *ps) {
    const char *p = ps->p, *end = ps->end;
    if (p < end && (unsigned char)*p > ' ')
        return; /* (the usual case: no whitespace) */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A string whose body (between the quotes) is [s, e) with escapes: its str, or
 * NULL (declined; no error set unless out of memory). */
static PyObject *unescape(const char *s, const char *e) {
    Py_ssize_t n = e - s;
    char small[256];
    char *buf = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (buf == NULL)
        return PyErr_NoMemory();
    char *o = buf;
    PyObject *result = NULL;
    while (s < e) {
        char c = *s;
        if (c != '\\') {
            *o++ = c;
            s++;
            continue;
        }
        if (e - s < 2)
            goto done;
        c = s[1];
        s += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, low;
            if (e - s < 4 || hex4(s, &cp) < 0)
                goto done;
            s += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                goto done; /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &low) < 0 || low < 0xDC00 || low > 0xDFFF)
                    goto done; /* a lone high surrogate */
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            /* The UTF-8 form is never longer than the escape it replaces. */
            if (cp < 0x80) {
                *o++ = (char)cp;
            } else if (cp < 0x800) {
                *o++ = (char)(0xC0 | (cp >> 6));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | (cp >> 12));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (cp >> 18));
                *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            goto done;
        }
    }
    result = PyUnicode_DecodeUTF8(buf, o - buf, NULL);
done:
    if (buf != small)
        PyMem_Free(buf);
    return result;
}

/* Short ASCII texts that repeat on every row (object keys, schema and table
 * names) are made into str objects once: a direct-mapped cache of them, by
 * their bytes. Safe to share: a str is immutable, and the GIL is held. */
#define NAME_CACHE_SIZE 1024
#define NAME_CACHE_MAX_LEN 48
static PyObject *name_cache[NAME_CACHE_SIZE];

static PyObject *cached_name(const char *s, Py_ssize_t n) {
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    PyObject **slot = &name_cache[(h ^ (h >> 16)) & (NAME_CACHE_SIZE - 1)];
    PyObject *name = *slot;
    if (name != NULL && PyUnicode_GET_LENGTH(name) == n && memcmp(PyUnicode_1BYTE_DATA(name), s, (size_t)n) == 0)
        return Py_NewRef(name);
    name = PyUnicode_New(n, 127);
    if (name == NULL)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(name), s, (size_t)n);
    if (PyObject_Hash(name) == -1) { /* computed once, kept in the str */
        Py_DECREF(name);
        return NULL;
    }
    Py_XSETREF(*slot, Py_NewRef(name));
    return name;
}

/* The string at ps->p (a '"'): its str, or NULL (declined). ``name``: one of
 * the short texts that repeat (see cached_name). */
static PyObject *parse_text(Parser *ps, int name) {
    const char *p = ps->p + 1, *end = ps->end, *s = p;
    int escaped = 0, ascii = 1;
    for (;;) {
        if (p >= end)
            return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = 1;
            p += 2;
            continue;
        }
        if (c < 0x20)
            return NULL;
        if (c >= 0x80)
            ascii = 0;
        p++;
    }
    ps->p = p + 1;
    if (escaped)
        return unescape(s, p);
    if (ascii) {
        if (name && p - s <= NAME_CACHE_MAX_LEN)
            return cached_name(s, p - s);
        PyObject *str = PyUnicode_New(p - s, 127);
        if (str != NULL)
            memcpy(PyUnicode_1BYTE_DATA(str), s, (size_t)(p - s));
        return str;
    }
    return PyUnicode_DecodeUTF8(s, p - s, NULL);
}

static inline PyObject *parse_string(Parser *ps) { return parse_text(ps, 0); }

typedef enum { NUM_BAD, NUM_INT, NUM_UINT, NUM_FLOAT } NumKind;

/* The JSON number at ps->p: an int64 (NUM_INT, in *i), an integer above
 * int64 but within uint64 (NUM_UINT, in *u) or a finite double (NUM_FLOAT, in
 * *d); NUM_BAD declines (not JSON, out of range). */
static NumKind parse_number(Parser *ps, long long *i, unsigned long long *u, double *d) {
    const char *p = ps->p, *end = ps->end, *s = p;
    int negative = 0, is_float = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return NUM_BAD;
    const char *digits = p;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    const char *digits_end = p;
    if (p < end && *p == '.') {
        is_float = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return NUM_BAD;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NUM_BAD;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    ps->p = p;
    if (!is_float) {
        Py_ssize_t n = digits_end - digits;
        if (n > 20)
            return NUM_BAD;
        unsigned long long v = 0;
        for (const char *q = digits; q < digits_end; q++) {
            unsigned next = (unsigned)(*q - '0');
            if (n >= 20 && v > (UINT64_MAX - next) / 10)
                return NUM_BAD; /* beyond uint64 (19 digits cannot be) */
            v = v * 10 + next;
        }
        if (!negative && v > (unsigned long long)INT64_MAX) {
            *u = v;
            return NUM_UINT;
        }
        if (v > (unsigned long long)INT64_MAX + (unsigned long long)negative)
            return NUM_BAD;
        *i = negative ? (long long)(0 - v) : (long long)v;
        return NUM_INT;
    }
    char buf[128];
    Py_ssize_t n = p - s;
    if (n >= (Py_ssize_t)sizeof(buf))
        return NUM_BAD;
    memcpy(buf, s, (size_t)n);
    buf[n] = '\0';
    char *stop = NULL;
    double value = PyOS_string_to_double(buf, &stop, NULL);
    if (value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return NUM_BAD;
    }
    if (stop != buf + n || !isfinite(value))
        return NUM_BAD;
    *d = value;
    return NUM_FLOAT;
}

static PyObject *parse_value(Parser *ps, int depth);

/* Past the '[' or '{' at ps->p and the whitespace after it; then 1 (and past
 * it) when `close` ends the container at once, else 0. */
static inline int opens_empty(Parser *ps, char close) {
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 1;
    }
    return 0;
}

/* After an object's member or an array's item: 1 at a ',' (passed, and the
 * whitespace after it: another one follows), 0 at `close` (passed: the end),
 * -1 at anything else. */
static inline int next_or_close(Parser *ps, char close) {
    skip_ws(ps);
    if (ps->p >= ps->end)
        return -1;
    if (*ps->p == ',') {
        ps->p++;
        skip_ws(ps);
        return 1;
    }
    if (*ps->p == close) {
        ps->p++;
        return 0;
    }
    return -1;
}

/* Past the ':' after an object's key and the whitespace around it; 0 when it
 * is not there. */
static inline int past_colon(Parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return 0;
    ps->p++;
    skip_ws(ps);
    return 1;
}

/* The object at ps->p (a '{') as a dict, keys in order; NULL declines
 * (duplicate keys included). */
static PyObject *parse_object(Parser *ps, int depth);

static PyObject *parse_array(Parser *ps, int depth) {
    if (depth > MAX_DEPTH)
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    if (opens_empty(ps, ']'))
        return list;
    int next;
    do {
        PyObject *value = parse_value(ps, depth + 1);
        if (value == NULL)
            goto fail;
        int rc = PyList_Append(list, value);
        Py_DECREF(value);
        if (rc < 0)
            goto fail;
    } while ((next = next_or_close(ps, ']')) > 0);
    if (next == 0)
        return list;
fail:
    Py_DECREF(list);
    return NULL;
}

static int literal(Parser *ps, const char *word, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

/* Any JSON value at ps->p (no leading whitespace), as msgspec's generic decode
 * gives it; NULL declines. */
static PyObject *parse_value(Parser *ps, int depth) {
    if (ps->p >= ps->end)
        return NULL;
    switch (*ps->p) {
    case '"':
        return parse_string(ps);
    case '{':
        return parse_object(ps, depth);
    case '[':
        return parse_array(ps, depth);
    case 'n':
        if (literal(ps, "null", 4))
            Py_RETURN_NONE;
        return NULL;
    case 't':
        if (literal(ps, "true", 4))
            Py_RETURN_TRUE;
        return NULL;
    case 'f':
        if (literal(ps, "false", 5))
            Py_RETURN_FALSE;
        return NULL;
    default: {
        long long i;
        unsigned long long u;
        double d;
        switch (parse_number(ps, &i, &u, &d)) {
        case NUM_INT:
            return PyLong_FromLongLong(i);
        case NUM_UINT:
            return PyLong_FromUnsignedLongLong(u);
        case NUM_FLOAT:
            return PyFloat_FromDouble(d);
        default:
            return NULL;
        }
    }
    }
}

/* Past the object or array at ps->p without building it: only its end is
 * found (its text is compared with the cached one, or parsed after all).
 * 0 when it does not end. */
static int skip_container(Parser *ps) {
    const char *p = ps->p, *end = ps->end;
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            while (p < end && *p != '"')
                p += (*p == '\\') ? 2 : 1;
            if (p >= end)
                return 0;
            p++;
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return 0;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                ps->p = p;
                return 1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------ the table's plan */

enum {
    PLAN_INT, PLAN_TEXT, PLAN_DOUBLE, PLAN_DECIMAL, PLAN_DATE, PLAN_DATETIME, PLAN_TIME, PLAN_YEAR, PLAN_FLOAT,
    PLAN_BINARY, PLAN_OTHER,
};

typedef struct {
    PyObject *name;
    int kind;
    int nullable;
    int plain; /* the name is ASCII without '"', '\\' or control characters: its JSON text is its bytes */
    long long a, b, c;
} ColumnPlan;

typedef struct {
    Py_ssize_t count;
    ColumnPlan columns[];
} Plan;

static const char PLAN_CAPSULE[] = "cdcsink.decode._speedups.Plan";

static void plan_free(PyObject *capsule) {
    Plan *plan = PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
    if (plan == NULL)
        return;
    for (Py_ssize_t i = 0; i < plan->count; i++)
        Py_XDECREF(plan->columns[i].name);
    PyMem_Free(plan);
}

/* ImageRules.plan (a tuple of (name, kind, nullable, a, b, c)) as a capsule of
 * a Plan; NULL with an error when it is not of that form. */
static PyObject *compile_plan(PyObject *rules) {
    PyObject *tuple = PyObject_GetAttr(rules, S_plan);
    if (tuple == NULL)
        return NULL;
    if (!PyTuple_CheckExact(tuple)) {
        Py_DECREF(tuple);
        PyErr_SetString(PyExc_TypeError, "ImageRules.plan is not a tuple");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    Plan *plan = PyMem_Calloc(1, sizeof(Plan) + (size_t)n * sizeof(ColumnPlan));
    if (plan == NULL) {
        Py_DECREF(tuple);
        return PyErr_NoMemory();
    }
    PyObject *capsule = PyCapsule_New(plan, PLAN_CAPSULE, plan_free);
    if (capsule == NULL) {
        PyMem_Free(plan);
        Py_DECREF(tuple);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 6 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0))) {
            PyErr_SetString(PyExc_TypeError, "ImageRules.plan entry is not (name, kind, nullable, a, b, c)");
            goto fail;
        }
        ColumnPlan *column = &plan->columns[i];
        column->name = Py_NewRef(PyTuple_GET_ITEM(item, 0));
        plan->count = i + 1;
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        int nullable = PyObject_IsTrue(PyTuple_GET_ITEM(item, 2));
        column->a = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 3));
        column->b = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 4));
        column->c = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 5));
        if (PyErr_Occurred() || nullable < 0)
            goto fail;
        column->kind = (kind >= PLAN_INT && kind <= PLAN_OTHER) ? (int)kind : PLAN_OTHER;
        column->nullable = nullable;
        column->plain = PyUnicode_IS_ASCII(column->name);
        const char *name = (const char *)PyUnicode_1BYTE_DATA(column->name);
        for (Py_ssize_t k = 0; column->plain && k < PyUnicode_GET_LENGTH(column->name); k++)
            if (name[k] == '"' || name[k] == '\\' || (unsigned char)name[k] < 0x20)
                column->plain = 0;
    }
    Py_DECREF(tuple);
    return capsule;
fail:
    Py_DECREF(tuple);
    Py_DECREF(capsule);
    return NULL;
}

/* ------------------------------------------------- canonical value texts */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

/* [s, e) matches `[0-9]{n}` */
static int digits(const char *s, long long n) {
    for (long long i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

/* `(?!-[<zeros>]*\Z)`: a '-' followed by nothing but the characters of zeros
 * (a negative zero, written without its sign). */
static int negative_zero(const char *s, Py_ssize_t n, const char *zeros) {
    if (n == 0 || s[0] != '-')
        return 0;
    for (Py_ssize_t i = 1; i < n; i++)
        if (strchr(zeros, s[i]) == NULL || s[i] == '\0')
            return 0;
    return 1;
}

/* canonical_text() of decimal(whole + scale, scale) */
static int decimal_is_canonical(const char *s, Py_ssize_t n, long long whole, long long scale, int is_unsigned) {
    const char *e = s + n;
    if (!is_unsigned) {
        if (negative_zero(s, n, "0."))
            return 0;
        if (s < e && *s == '-')
            s++;
    }
    if (whole > 0) {
        if (s >= e)
            return 0;
        if (*s == '0') {
            s++;
        } else if (*s >= '1' && *s <= '9') {
            const char *first = s++;
            while (s < e && is_digit(*s))
                s++;
            if (s - first > whole)
                return 0;
        } else {
            return 0;
        }
    } else {
        if (s >= e || *s != '0')
            return 0;
        s++;
    }
    if (scale > 0) {
        if (e - s != scale + 1 || *s != '.')
            return 0;
        return digits(s + 1, scale);
    }
    return s == e;
}

/* `[0-9]{4}-(?:0[0-9]|1[0-2])-(?:[0-2][0-9]|3[01])` at s (10 characters there) */
static int date_at(const char *s) {
    return digits(s, 4) && s[4] == '-' &&
           ((s[5] == '0' && is_digit(s[6])) || (s[5] == '1' && s[6] >= '0' && s[6] <= '2')) && s[7] == '-' &&
           ((s[8] >= '0' && s[8] <= '2' && is_digit(s[9])) || (s[8] == '3' && (s[9] == '0' || s[9] == '1')));
}

/* `:[0-5][0-9]:[0-5][0-9]` at s (6 characters there) */
static int minutes_seconds_at(const char *s) {
    return s[0] == ':' && s[1] >= '0' && s[1] <= '5' && is_digit(s[2]) && s[3] == ':' && s[4] >= '0' && s[4] <= '5' &&
           is_digit(s[5]);
}

/* `(?:\.[0-9]{fsp})?` (present exactly when fsp) for the n characters at s */
static int fraction_is(const char *s, Py_ssize_t n, long long fsp) {
    if (fsp == 0)
        return n == 0;
    return n == fsp + 1 && s[0] == '.' && digits(s + 1, fsp);
}

static int datetime_is_canonical(const char *s, Py_ssize_t n, long long fsp) {
    if (n < 19 || !date_at(s) || s[10] != ' ')
        return 0;
    if (!((s[11] == '0' || s[11] == '1') ? is_digit(s[12]) : (s[11] == '2' && s[12] >= '0' && s[12] <= '3')))
        return 0;
    return minutes_seconds_at(s + 13) && fraction_is(s + 19, n - 19, fsp);
}

static int time_is_canonical(const char *s, Py_ssize_t n, long long fsp) {
    if (negative_zero(s, n, "0:."))
        return 0;
    if (n > 0 && s[0] == '-') {
        s++;
        n--;
    }
    return n >= 8 && is_digit(s[0]) && is_digit(s[1]) && minutes_seconds_at(s + 2) && fraction_is(s + 8, n - 8, fsp);
}

/* ------------------------------------------------------------ the images */

/* The column's value in the image replaced with its conversion (a new
 * reference, taken; NULL: the conversion failed); 1: done, -1: an error. */
static int store_converted(PyObject *image, const ColumnPlan *column, PyObject *converted) {
    if (converted == NULL)
        return -1;
    int rc = PyDict_SetItem(image, column->name, converted);
    Py_DECREF(converted);
    return rc < 0 ? -1 : 1;
}

/* Check a value as ImageRules.convert does, converting it in place where that
 * is simple; 1: done, 0: the Python convert must see the image, -1: an error. */
static int check_value(PyObject *image, const ColumnPlan *column, PyObject *value) {
    if (value == Py_None)
        return column->nullable;
    switch (column->kind) {
    case PLAN_INT:
    case PLAN_YEAR: {
        if (!PyLong_CheckExact(value))
            return 0;
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        if (column->kind == PLAN_INT ? (v < column->a || v > column->b) : (v != 0 && (v < 1901 || v > 2155)))
            return 0;
        break;
    }
    case PLAN_TEXT:
        if (!PyUnicode_CheckExact(value))
            return 0;
        break;
    case PLAN_DOUBLE:
        if (!PyFloat_CheckExact(value))
            return 0;
        break;
    case PLAN_DECIMAL:
    case PLAN_DATE:
    case PLAN_DATETIME:
    case PLAN_TIME: {
        if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value))
            return 0;
        const char *s = (const char *)PyUnicode_1BYTE_DATA(value);
        Py_ssize_t n = PyUnicode_GET_LENGTH(value);
        int ok;
        if (column->kind == PLAN_DECIMAL)
            ok = decimal_is_canonical(s, n, column->a, column->b, column->c != 0);
        else if (column->kind == PLAN_DATE)
            ok = n == 10 && date_at(s);
        else if (column->kind == PLAN_DATETIME)
            ok = datetime_is_canonical(s, n, column->a);
        else
            ok = time_is_canonical(s, n, column->a);
        if (!ok)
            return 0;
        break;
    }
    case PLAN_FLOAT: {
        double d;
        if (PyFloat_CheckExact(value)) {
            d = PyFloat_AS_DOUBLE(value);
        } else if (PyLong_CheckExact(value)) {
            d = PyLong_AsDouble(value);
            if (d == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                return 0;
            }
        } else {
            return 0;
        }
        if (!(fabs(d) <= (double)FLT_MAX))
            return 0;
        return store_converted(image, column, PyFloat_FromDouble((double)(float)d));
    }
    case PLAN_BINARY:
        if (!PyUnicode_CheckExact(value))
            return 0;
        return store_converted(image, column, PyUnicode_AsUTF8String(value));
    default:
        return 0;
    }
    return 1;
}

/* check_value for each column of an image; ``ordered``: its keys are the
 * plan's names in the plan's order (found so as it was read), so its values
 * are taken in order rather than looked up. */
static int check_image(PyObject *image, const Plan *plan, int ordered) {
    if (PyDict_GET_SIZE(image) != plan->count)
        return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        const ColumnPlan *column = &plan->columns[i];
        if (ordered) {
            if (!PyDict_Next(image, &pos, &key, &value) || key != column->name)
                return 0;
        } else if ((value = PyDict_GetItemWithError(image, column->name)) == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        int done = check_value(image, column, value);
        if (done <= 0)
            return done;
    }
    return 1;
}

/* The image checked and converted (natively, else by rules.convert); -1 on
 * an error (a ValueError from convert declines). */
static int convert_image(PyObject *image, const Plan *plan, int ordered, PyObject *rules, PyObject *side) {
    int done = check_image(image, plan, ordered);
    if (done != 0)
        return done < 0 ? -1 : 0;
    PyObject *result = PyObject_CallMethodObjArgs(rules, S_convert, image, side, NULL);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* --------------------------------------------------------- the row line */

enum {
    F_KIND, F_SCHEMA, F_TABLE, F_COMMIT_TS, F_OP, F_PK, F_COLUMNS, F_BEFORE, F_AFTER, F_COMMIT_TIME_MS, F_COUNT,
};
static const char *const FIELD_NAMES[F_COUNT] = {
    "kind", "schema", "table", "commit_ts", "op", "pk", "columns", "before", "after", "commit_time_ms",
};

static int field_of(const char *s, Py_ssize_t n) {
    int f;
    switch (n) {
    case 2: f = s[0] == 'o' ? F_OP : F_PK; break;
    case 4: f = F_KIND; break;
    case 5: f = s[0] == 't' ? F_TABLE : F_AFTER; break;
    case 6: f = s[0] == 's' ? F_SCHEMA : F_BEFORE; break;
    case 7: f = F_COLUMNS; break;
    case 9: f = F_COMMIT_TS; break;
    case 14: f = F_COMMIT_TIME_MS; break;
    default: return -1;
    }
    return memcmp(s, FIELD_NAMES[f], (size_t)n) == 0 ? f : -1;
}

typedef struct {
    PyObject *schema, *table, *op, *before, *after, *commit_time_ms;
    long long commit_ts;
    const char *columns, *columns_end, *pk, *pk_end;
    /* The decoder's _compiled_shapes; the table's entry there, looked up as
     * soon as schema and table are known (before columns, pk and the
     * images, in the usual key order), and whether columns and pk have its
     * text, and the images its column names in its order. */
    PyObject *shapes, *entry;
    int looked_up, columns_cached, pk_cached, before_ordered, after_ordered;
} Row;

static void row_clear(Row *row) {
    Py_CLEAR(row->shapes);
    Py_CLEAR(row->entry);
    Py_CLEAR(row->schema);
    Py_CLEAR(row->table);
    Py_CLEAR(row->before);
    Py_CLEAR(row->after);
    Py_CLEAR(row->commit_time_ms);
}

/* The cached entry of (schema, table): borrowed, or NULL (none). */
static PyObject *cached_entry(PyObject *shapes, PyObject *schema, PyObject *table) {
    PyObject *tables = PyDict_GetItemWithError(shapes, schema); /* (str keys: no error) */
    if (tables == NULL || !PyDict_CheckExact(tables))
        return NULL;
    PyObject *entry = PyDict_GetItemWithError(tables, table);
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4)
        return NULL;
    return entry;
}

/* The table's entry as known so far (see Row); borrowed, or NULL. */
static PyObject *early_entry(Row *row) {
    if (!row->looked_up && row->schema != NULL && row->table != NULL) {
        row->looked_up = 1;
        row->entry = Py_XNewRef(cached_entry(row->shapes, row->schema, row->table));
    }
    return row->entry;
}

/* The object at ps->p (a '{') as parse_object reads it; with the plan of an
 * image's table as far as known (or NULL), keys that are its column names in
 * its order are matched as such (their own str objects are used), and
 * *ordered says whether all were. */
static PyObject *parse_members(Parser *ps, int depth, const Plan *plan, int *ordered) {
    if (depth > MAX_DEPTH)
        return NULL;
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return NULL;
    int in_order = plan != NULL;
    if (opens_empty(ps, '}')) {
        *ordered = 0;
        return dict;
    }
    int next;
    do {
        if (ps->p >= ps->end || *ps->p != '"')
            goto fail;
        PyObject *key = NULL;
        Py_ssize_t size = PyDict_GET_SIZE(dict);
        if (in_order && size < plan->count && plan->columns[size].plain) {
            PyObject *name = plan->columns[size].name;
            Py_ssize_t n = PyUnicode_GET_LENGTH(name);
            if (ps->end - ps->p > n + 1 && ps->p[n + 1] == '"' && memcmp(ps->p + 1, PyUnicode_1BYTE_DATA(name), (size_t)n) == 0) {
                key = Py_NewRef(name);
                ps->p += n + 2;
            }
        }
        if (key == NULL) {
            in_order = 0;
            if ((key = parse_text(ps, 1)) == NULL)
                goto fail;
        }
        if (!past_colon(ps)) {
            Py_DECREF(key);
            goto fail;
        }
        PyObject *value = parse_value(ps, depth + 1);
        if (value == NULL) {
            Py_DECREF(key);
            goto fail;
        }
        int rc = PyDict_SetItem(dict, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0 || PyDict_GET_SIZE(dict) == size) /* a duplicate key */
            goto fail;
    } while ((next = next_or_close(ps, '}')) > 0);
    if (next == 0) {
        *ordered = in_order;
        return dict;
    }
fail:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *parse_object(Parser *ps, int depth) {
    int ordered;
    return parse_members(ps, depth, NULL, &ordered);
}

/* The top-level object into *row; 0 declines (the caller clears *row). */
static int parse_row(Parser *ps, Row *row) {
    unsigned seen = 0;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '{')
        return 0;
    ps->p++;
    skip_ws(ps);
    for (;;) {
        /* A key: a known field's name, without escapes, once. */
        if (ps->p >= ps->end || *ps->p != '"')
            return 0;
        const char *name = ps->p + 1, *q = name;
        while (q < ps->end && *q != '"' && *q != '\\')
            q++;
        if (q >= ps->end || *q != '"')
            return 0;
        int field = field_of(name, q - name);
        if (field < 0 || (seen & (1u << field)))
            return 0;
        seen |= 1u << field;
        ps->p = q + 1;
        if (!past_colon(ps) || ps->p >= ps->end)
            return 0;
        const char *v = ps->p;
        switch (field) {
        case F_KIND:
            if (!literal(ps, "\"row\"", 5))
                return 0;
            break;
        case F_SCHEMA:
        case F_TABLE: {
            if (*v != '"')
                return 0;
            PyObject *text = parse_text(ps, 1);
            if (text == NULL)
                return 0;
            if (PyUnicode_GET_LENGTH(text) == 0) {
                Py_DECREF(text);
                return 0;
            }
            *(field == F_SCHEMA ? &row->schema : &row->table) = text;
            break;
        }
        case F_COMMIT_TS:
        case F_COMMIT_TIME_MS: {
            long long i;
            unsigned long long u;
            double d;
            if (field == F_COMMIT_TIME_MS && literal(ps, "null", 4))
                break;
            if (parse_number(ps, &i, &u, &d) != NUM_INT || i < 0)
                return 0;
            if (field == F_COMMIT_TS) {
                row->commit_ts = i;
            } else if ((row->commit_time_ms = PyLong_FromLongLong(i)) == NULL) {
                return 0;
            }
            break;
        }
        case F_OP:
            if (literal(ps, "\"insert\"", 8))
                row->op = OP_INSERT;
            else if (literal(ps, "\"update\"", 8))
                row->op = OP_UPDATE;
            else if (literal(ps, "\"delete\"", 8))
                row->op = OP_DELETE;
            else
                return 0;
            break;
        case F_PK:
        case F_COLUMNS: {
            early_entry(row);
            /* The table's last text here is the same JSON value (a valid one
             * ends where its text ends): no need to find its end. */
            PyObject *cached = row->entry != NULL ? PyTuple_GET_ITEM(row->entry, field == F_PK ? 1 : 0) : NULL;
            if (cached != NULL && PyBytes_CheckExact(cached) && PyBytes_GET_SIZE(cached) <= ps->end - v &&
                memcmp(PyBytes_AS_STRING(cached), v, (size_t)PyBytes_GET_SIZE(cached)) == 0) {
                ps->p = v + PyBytes_GET_SIZE(cached);
                *(field == F_PK ? &row->pk_cached : &row->columns_cached) = 1;
            } else if (*v != (field == F_PK ? '[' : '{') || !skip_container(ps)) {
                return 0;
            }
            if (field == F_PK) {
                row->pk = v;
                row->pk_end = ps->p;
            } else {
                row->columns = v;
                row->columns_end = ps->p;
            }
            break;
        }
        case F_BEFORE:
        case F_AFTER: {
            if (literal(ps, "null", 4))
                break;
            if (*v != '{')
                return 0;
            PyObject *entry = early_entry(row);
            const Plan *plan = entry != NULL ? PyCapsule_GetPointer(PyTuple_GET_ITEM(entry, 3), PLAN_CAPSULE) : NULL;
            if (plan == NULL)
                PyErr_Clear();
            PyObject *image = parse_members(ps, 2, plan, field == F_BEFORE ? &row->before_ordered : &row->after_ordered);
            if (image == NULL)
                return 0;
            *(field == F_BEFORE ? &row->before : &row->after) = image;
            break;
        }
        }
        int next = next_or_close(ps, '}');
        if (next < 0)
            return 0;
        if (next == 0)
            break;
    }
    skip_ws(ps);
    const unsigned required = (1u << F_KIND) | (1u << F_SCHEMA) | (1u << F_TABLE) | (1u << F_COMMIT_TS) | (1u << F_OP) |
                              (1u << F_COLUMNS);
    return ps->p == ps->end && (seen & required) == required;
}

/* `columns` (span [s, e)) parsed and of the typed form: a non-empty object of
 * string or object; NULL declines. */
static PyObject *parse_columns(const char *s, const char *e) {
    Parser ps = {s, s, e};
    PyObject *columns = parse_object(&ps, 2);
    if (columns == NULL)
        return NULL;
    if (ps.p != e || PyDict_GET_SIZE(columns) == 0)
        goto fail;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(columns, &pos, &key, &value))
        if (!PyUnicode_CheckExact(value) && !PyDict_CheckExact(value))
            goto fail;
    return columns;
fail:
    Py_DECREF(columns);
    return NULL;
}

/* `pk` (span [s, e), or absent: an empty list) parsed: a list of strings; NULL declines. */
static PyObject *parse_pk(const char *s, const char *e) {
    if (s == NULL)
        return PyList_New(0);
    Parser ps = {s, s, e};
    PyObject *pk = parse_array(&ps, 2);
    if (pk == NULL)
        return NULL;
    if (ps.p != e)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pk); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(pk, i)))
            goto fail;
    return pk;
fail:
    Py_DECREF(pk);
    return NULL;
}

static int span_is(PyObject *cached, const char *s, const char *e) {
    if (cached == Py_None)
        return s == NULL;
    return s != NULL && PyBytes_GET_SIZE(cached) == e - s && memcmp(PyBytes_AS_STRING(cached), s, (size_t)(e - s)) == 0;
}

static PyObject *span_bytes(const char *s, const char *e) {
    if (s == NULL)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(s, e - s);
}

/* The table's (raw columns, raw pk, shape, plan) entry for this row: the cached
 * one when the row's text is the same, else parsed through
 * decoder._table_shape. A borrowed reference; NULL declines (or an error). */
static PyObject *table_entry(PyObject *decoder, const Row *row) {
    PyObject *entry = row->entry;
    if (entry != NULL && row->columns_cached && (row->pk != NULL ? row->pk_cached : PyTuple_GET_ITEM(entry, 1) == Py_None))
        return entry; /* found while parsing */
    entry = cached_entry(row->shapes, row->schema, row->table);
    if (entry != NULL && span_is(PyTuple_GET_ITEM(entry, 0), row->columns, row->columns_end) &&
        span_is(PyTuple_GET_ITEM(entry, 1), row->pk, row->pk_end))
        return entry;
    PyObject *shapes, *tables;
    PyObject *columns = parse_columns(row->columns, row->columns_end);
    if (columns == NULL)
        return NULL;
    PyObject *pk = parse_pk(row->pk, row->pk_end);
    if (pk == NULL) {
        Py_DECREF(columns);
        return NULL;
    }
    PyObject *shape = PyObject_CallMethodObjArgs(decoder, S_table_shape, row->schema, row->table, columns, pk, NULL);
    Py_DECREF(columns);
    Py_DECREF(pk);
    if (shape == NULL)
        return NULL;
    if (!PyTuple_CheckExact(shape) || PyTuple_GET_SIZE(shape) != 4) {
        Py_DECREF(shape);
        return NULL;
    }
    PyObject *plan = compile_plan(PyTuple_GET_ITEM(shape, 3));
    if (plan == NULL) {
        Py_DECREF(shape);
        return NULL;
    }
    PyObject *raw_columns = span_bytes(row->columns, row->columns_end);
    PyObject *raw_pk = span_bytes(row->pk, row->pk_end);
    entry = NULL;
    if (raw_columns != NULL && raw_pk != NULL)
        entry = PyTuple_Pack(4, raw_columns, raw_pk, shape, plan);
    Py_XDECREF(raw_columns);
    Py_XDECREF(raw_pk);
    Py_DECREF(shape);
    Py_DECREF(plan);
    if (entry == NULL)
        return NULL;
    /* Re-read: _table_shape ran Python code. */
    shapes = PyObject_GetAttr(decoder, S_compiled_shapes);
    if (shapes == NULL || !PyDict_CheckExact(shapes)) {
        Py_XDECREF(shapes);
        Py_DECREF(entry);
        return NULL;
    }
    tables = PyDict_GetItemWithError(shapes, row->schema);
    if (tables == NULL) {
        if (PyErr_Occurred() || (tables = PyDict_New()) == NULL || PyDict_SetItem(shapes, row->schema, tables) < 0) {
            Py_XDECREF(tables);
            Py_DECREF(shapes);
            Py_DECREF(entry);
            return NULL;
        }
        Py_DECREF(tables); /* held by shapes */
    }
    int rc = PyDict_SetItem(tables, row->table, entry);
    Py_DECREF(shapes);
    Py_DECREF(entry); /* held by tables */
    return rc < 0 ? NULL : entry;
}

/* The ordering check of Decoder._fast: 1 when commit_ts may follow the last
 * resolved ts, 0 declines, -1 on an error. */
static int after_last_resolved(PyObject *decoder, long long ts) {
    PyObject *last = PyObject_GetAttr(decoder, S_last_resolved_ts);
    if (last == NULL)
        return -1;
    int ok = 0;
    if (PyLong_CheckExact(last)) {
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(last, &overflow);
        if (value == -1 && PyErr_Occurred())
            ok = -1;
        else if (overflow > 0)
            ok = 0;
        else
            ok = overflow < 0 || value == 0 || ts > value;
    }
    Py_DECREF(last);
    return ok;
}

static PyObject *new_event(PyObject *values[EVENT_FIELDS]) {
    if (!event_by_offsets)
        return PyObject_Vectorcall(RowEvent_type, values, EVENT_FIELDS, NULL);
    PyTypeObject *tp = (PyTypeObject *)RowEvent_type;
    PyObject *event = tp->tp_alloc(tp, 0);
    if (event == NULL)
        return NULL;
    for (int i = 0; i < EVENT_FIELDS; i++)
        *(PyObject **)((char *)event + event_offsets[i]) = Py_NewRef(values[i]);
    return event;
}

static PyObject *decode_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decode_row(decoder, raw, line)");
        return NULL;
    }
    PyObject *decoder = args[0], *raw = args[1], *line = args[2];
    const char *data;
    Py_ssize_t size;
    if (PyBytes_CheckExact(raw)) {
        data = PyBytes_AS_STRING(raw);
        size = PyBytes_GET_SIZE(raw);
    } else if (PyUnicode_CheckExact(raw) && PyUnicode_IS_ASCII(raw)) {
        data = (const char *)PyUnicode_1BYTE_DATA(raw);
        size = PyUnicode_GET_LENGTH(raw);
    } else {
        Py_RETURN_NONE;
    }
    Parser ps = {data, data, data + size};
    Row row = {0};
    PyObject *event = NULL;
    row.shapes = PyObject_GetAttr(decoder, S_compiled_shapes);
    if (row.shapes == NULL || !PyDict_CheckExact(row.shapes) || !parse_row(&ps, &row))
        goto decline;
    int ordered = after_last_resolved(decoder, row.commit_ts);
    if (ordered <= 0)
        goto decline;
    int need_before = row.op != OP_INSERT, need_after = row.op != OP_DELETE;
    if ((need_before && row.before == NULL) || (need_after && row.after == NULL))
        goto decline;
    if (!need_before)
        Py_CLEAR(row.before);
    if (!need_after)
        Py_CLEAR(row.after);
    PyObject *entry = table_entry(decoder, &row);
    if (entry == NULL)
        goto decline;
    const Plan *plan = PyCapsule_GetPointer(PyTuple_GET_ITEM(entry, 3), PLAN_CAPSULE);
    if (plan == NULL)
        goto decline;
    Py_INCREF(entry); /* held while convert (Python code) may run */
    PyObject *shape = PyTuple_GET_ITEM(entry, 2);
    PyObject *rules = PyTuple_GET_ITEM(shape, 3);
    int same = entry == row.entry; /* the images were read with this plan */
    if ((row.before != NULL && convert_image(row.before, plan, same && row.before_ordered, rules, S_before) < 0) ||
        (row.after != NULL && convert_image(row.after, plan, same && row.after_ordered, rules, S_after) < 0)) {
        Py_DECREF(entry);
        goto decline;
    }
    PyObject *commit_ts = PyLong_FromLongLong(row.commit_ts);
    if (commit_ts != NULL) {
        PyObject *values[EVENT_FIELDS] = {
            row.schema, row.table, commit_ts, row.op,
            PyTuple_GET_ITEM(shape, 1), PyTuple_GET_ITEM(shape, 0),
            row.before ? row.before : Py_None, row.after ? row.after : Py_None,
            row.commit_time_ms ? row.commit_time_ms : Py_None, line, PyTuple_GET_ITEM(shape, 2),
        };
        event = new_event(values);
        Py_DECREF(commit_ts);
    }
    Py_DECREF(entry);
    if (event == NULL)
        goto decline;
    row_clear(&row);
    return event;
decline:
    row_clear(&row);
    /* Ordinary exceptions (a ValueError from the checks) leave the line to
     * the Python path, which raises what it raises; others go up. */
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------ the module */

static PyMethodDef methods[] = {
    {"decode_row", (PyCFunction)(void (*)(void))decode_row, METH_FASTCALL,
     "decode_row(decoder, raw, line) -> RowEvent | None\n\n"
     "The RowEvent of a row line, exactly as Decoder.decode's Python path builds it; "
     "None when the line is not of the common form (the Python path then decides)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "cdcsink.decode._speedups", "The compiled row-line decoder (see cdcsink.decode).", -1, methods,
    NULL, NULL, NULL, NULL,
};

/* Whether RowEvent is exactly the slotted class whose slots new_event fills. */
static int find_event_offsets(void) {
    PyTypeObject *tp = (PyTypeObject *)RowEvent_type;
    if (!PyType_Check(RowEvent_type) || tp->tp_dictoffset != 0 || tp->tp_base != &PyBaseObject_Type)
        return 0;
    PyObject *slots = PyObject_GetAttrString(RowEvent_type, "__slots__");
    if (slots == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t count = PyTuple_Check(slots) ? PyTuple_GET_SIZE(slots) : -1;
    Py_DECREF(slots);
    if (count != EVENT_FIELDS)
        return 0;
    for (int i = 0; i < EVENT_FIELDS; i++) {
        PyObject *descr = PyObject_GetAttrString(RowEvent_type, EVENT_SLOTS[i]);
        if (descr == NULL) {
            PyErr_Clear();
            return 0;
        }
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type);
        if (ok) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            ok = member->type == Py_T_OBJECT_EX && !(member->flags & Py_READONLY);
            event_offsets[i] = member->offset;
        }
        Py_DECREF(descr);
        if (!ok)
            return 0;
    }
    return 1;
}

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *events = PyImport_ImportModule("cdcsink.events");
    if (events == NULL)
        return NULL;
    RowEvent_type = PyObject_GetAttrString(events, "RowEvent");
    OP_INSERT = PyObject_GetAttrString(events, "INSERT");
    OP_UPDATE = PyObject_GetAttrString(events, "UPDATE");
    OP_DELETE = PyObject_GetAttrString(events, "DELETE");
    Py_DECREF(events);
    if (RowEvent_type == NULL || OP_INSERT == NULL || OP_UPDATE == NULL || OP_DELETE == NULL)
        return NULL;
    if (!(S_compiled_shapes = PyUnicode_InternFromString("_compiled_shapes")) ||
        !(S_last_resolved_ts = PyUnicode_InternFromString("last_resolved_ts")) ||
        !(S_table_shape = PyUnicode_InternFromString("_table_shape")) || !(S_plan = PyUnicode_InternFromString("plan")) ||
        !(S_convert = PyUnicode_InternFromString("convert")) || !(S_before = PyUnicode_InternFromString("before")) ||
        !(S_after = PyUnicode_InternFromString("after")))
        return NULL;
    event_by_offsets = find_event_offsets();
    return PyModule_Create(&module_def);
}
