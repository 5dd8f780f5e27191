/*
 * _rans.c -- rANS entropy coder for edgecodec (CPython extension, portable C99).
 *
 * No numpy headers: arrays arrive through the buffer protocol and must be
 * C-contiguous native int32. Decoded symbols are written into a new bytearray
 * that the Python wrapper views with np.frombuffer (zero copy).
 *
 * ---------------------------------------------------------------------------
 * Model
 * ---------------------------------------------------------------------------
 * Table t is cdfs[t, :cdf_lengths[t]], an integer CDF with precision 16 bits:
 * c[0] = 0 < c[1] < ... < c[L] = 65536, L = cdf_lengths[t] - 1 >= 2 symbols,
 * every frequency c[s+1] - c[s] >= 1. Symbol L-1 is the ESCAPE symbol.
 * A value v coded with table t has s = v - offsets[t] (64-bit arithmetic):
 *   0 <= s < L-1  -> symbol s;
 *   otherwise     -> ESCAPE, then a bypass-coded zig-zag magnitude
 *                    u = 2*(s - (L-1))  if s >= L-1   (even u)
 *                    u = -2*s - 1       if s < 0      (odd u)
 *                    so u < 2^33 for any int32 v and offset, and every u maps
 *                    back to an out-of-range value.
 *
 * ---------------------------------------------------------------------------
 * Coder state and renormalisation
 * ---------------------------------------------------------------------------
 * Two interleaved rANS states ("lanes") x0, x1, each a uint32 kept in the
 * normalised interval [2^16, 2^32). Symbol i of the message (decode order,
 * counted from the start of the stream across decode() calls) uses lane i % 2;
 * the two lanes share one word stream, which lets the CPU overlap the two
 * dependency chains.
 *
 * A coding step is either a modelled symbol (start = c[s], freq = c[s+1]-c[s],
 * scale 2^16) or a bypass nibble (4 bits, uniform: scale 2^4, freq 1):
 *   encode:  if x >= freq << (32 - scale_bits): emit low 16 bits of x, x >>= 16
 *            x = ((x / freq) << scale_bits) + x % freq + start
 *   decode:  cf = x mod 2^scale_bits; find s with start <= cf < start + freq
 *            x = freq * (x >> scale_bits) + cf - start
 *            if x < 2^16: x = (x << 16) | next 16-bit word
 * Because scale_bits <= 16, one 16-bit word always restores the interval, so
 * renormalisation is a single `if`, never a loop. For any input bytes the
 * decoder keeps x in [2^16, 2^32) (no overflow: freq*(x>>16) + freq-1 < 2^32).
 * The encoder runs over the message backwards, writing words backwards, so the
 * decoder reads everything forwards.
 *
 * ---------------------------------------------------------------------------
 * Stream byte layout (bitstream format; all fields little-endian)
 * ---------------------------------------------------------------------------
 *   bytes 0..3   lane-0 state after encoding (uint32)  = decoder's initial x0
 *   bytes 4..7   lane-1 state after encoding (uint32)  = decoder's initial x1
 *   bytes 8..    16-bit renormalisation words (uint16), in the order the
 *                decoder consumes them (both lanes share this sequence).
 * Length is always 8 + 2k bytes. Both lanes start encoding (and must end
 * decoding) at x = 2^16, so an empty message is 00 00 01 00 00 00 01 00.
 * Steps of one value on its lane, in decode order:
 *   symbol s                                  (in range), or
 *   ESCAPE; nibble n = number of 4-bit chunks of u (0..9, minimal: u = 0 has
 *   n = 0, otherwise the first chunk is nonzero); n nibbles of u, most
 *   significant first.
 * Decoder errors ("corrupt rANS stream: ..."): reading past the end, n > 9,
 * non-minimal n, escaped value outside int32; finish() additionally requires
 * that all bytes were consumed and both lanes are back at 2^16.
 *
 * Decode speed: each table gets a lookup table (LUT) indexed by the top bits
 * of cf giving the symbol that contains the slot's first value; a short linear
 * scan finishes the search. The LUT is a private acceleration structure, not
 * part of the format.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PREC 16u
#define TOTAL (1u << PREC)
#define RANS_L (1u << 16)      /* lower end of the normalised state interval */
#define BYPASS_BITS 4u
#define MAX_CHUNKS 9u          /* nibbles of u < 2^33 (ceil(33 / 4)) */
#define STEPS_PER_VALUE (MAX_CHUNKS + 2u) /* symbol + count + chunks */
#ifndef LUT_EXTRA_BITS
#define LUT_EXTRA_BITS 2       /* LUT slots ~ 4x the number of symbols ... */
#endif
#define LUT_MIN_BITS 4         /* ... but at least 16 */
#ifndef LUT_MAX_BITS
#define LUT_MAX_BITS 12        /* ... and at most 4096 (8 KiB) */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define INLINE static inline __attribute__((always_inline))
#define NOINLINE static __attribute__((noinline))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define INLINE static inline
#define NOINLINE static
#endif

/* Error codes of the GIL-free loops, turned into exceptions afterwards. */
enum {
    E_OK = 0,
    E_INDEX,     /* table index outside [0, T) */
    E_NOMEM,
    E_EOF,       /* decoder read past the end of the stream */
    E_COUNT,     /* escape chunk count > MAX_CHUNKS */
    E_CANON,     /* non-minimal escape chunk count */
    E_RANGE      /* escaped value outside int32 */
};

/* ------------------------------------------------------------------------ */
/* Validated private copy of the tables                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    const uint32_t *cdf;   /* L + 1 entries, cdf[L] = 65536 */
    const uint16_t *lut;   /* decode only: slot -> first candidate symbol */
    uint32_t nsym;         /* L; the escape symbol is L - 1 */
    uint32_t shift;        /* slot = cf >> shift */
    int32_t offset;
    uint32_t pad_;
} table_t;

typedef struct {
    Py_ssize_t ntables;
    table_t *tables;
    uint32_t *cdf_store;
    uint16_t *lut_store;
} model_t;

static void model_free(model_t *m)
{
    PyMem_Free(m->tables);
    PyMem_Free(m->cdf_store);
    PyMem_Free(m->lut_store);
    memset(m, 0, sizeof(*m));
}

/* True if the buffer format string denotes a native int32. */
static int is_native_int32(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    const uint16_t probe = 1;
    const int little = *(const uint8_t *)&probe == 1;
    if (v->itemsize != 4)
        return 0;
    if (*f == '@' || *f == '=')
        f++;
    else if (*f == '<') {
        if (!little) return 0;
        f++;
    } else if (*f == '>' || *f == '!') {
        if (little) return 0;
        f++;
    }
    return (f[0] == 'i' || f[0] == 'l') && f[1] == '\0';
}

/* Get a C-contiguous native int32 buffer of the given ndim. */
static int get_i32(PyObject *obj, Py_buffer *view, const char *name, int ndim)
{
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int32 array (buffer protocol), got %.100s",
                     name, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) < 0)
        return -1;
    if (!is_native_int32(view)) {
        PyErr_Format(PyExc_TypeError, "%s must have dtype int32, got buffer format '%.20s' itemsize %zd",
                     name, view->format ? view->format : "B", view->itemsize);
        goto fail;
    }
    if (view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got %d-D", name, ndim, view->ndim);
        goto fail;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s must be C-contiguous", name);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int ceil_log2(uint32_t v)
{
    int b = 0;
    while ((1u << b) < v)
        b++;
    return b;
}

/* Build the slot -> symbol LUT of one table: lut[j] is the symbol containing
 * cumulative frequency j << shift. */
static void build_lut(uint16_t *lut, const uint32_t *cdf, uint32_t bits)
{
    const uint32_t shift = PREC - bits, nslots = 1u << bits;
    uint32_t j = 0;
    for (uint32_t s = 0; j < nslots; s++) {
        /* slots starting inside [cdf[s], cdf[s+1]) belong to s; cdf[L] = 2^16 ends the loop */
        const uint32_t end = (cdf[s + 1] + (1u << shift) - 1) >> shift;
        for (; j < end; j++)
            lut[j] = (uint16_t)s;
    }
}

/*
 * Validate the three table arrays and copy them into *m (with LUTs if
 * with_lut). Every value is read exactly once from the caller's buffers, so
 * the copy is consistent even if the caller mutates them concurrently.
 */
static int model_build(model_t *m, PyObject *cdfs_o, PyObject *len_o, PyObject *off_o, int with_lut)
{
    Py_buffer cb, lb, ob;
    int32_t *lens = NULL;
    int ok = 0;
    memset(m, 0, sizeof(*m));
    if (get_i32(cdfs_o, &cb, "cdfs", 2) < 0)
        return -1;
    if (get_i32(len_o, &lb, "cdf_lengths", 1) < 0) {
        PyBuffer_Release(&cb);
        return -1;
    }
    if (get_i32(off_o, &ob, "offsets", 1) < 0) {
        PyBuffer_Release(&cb);
        PyBuffer_Release(&lb);
        return -1;
    }
    const Py_ssize_t T = cb.shape[0], W = cb.shape[1];
    const int32_t *cdfs = (const int32_t *)cb.buf;
    const int32_t *offs = (const int32_t *)ob.buf;
    if (lb.shape[0] != T || ob.shape[0] != T) {
        PyErr_Format(PyExc_ValueError,
                     "cdf_lengths and offsets must have shape (T,) = (%zd,), got (%zd,) and (%zd,)",
                     T, lb.shape[0], ob.shape[0]);
        goto done;
    }
    lens = PyMem_Malloc((size_t)(T ? T : 1) * sizeof(int32_t));
    m->tables = PyMem_Calloc((size_t)(T ? T : 1), sizeof(table_t));
    if (!lens || !m->tables) {
        PyErr_NoMemory();
        goto done;
    }
    size_t total = 0, lut_total = 0;
    for (Py_ssize_t t = 0; t < T; t++) {
        int32_t n = ((const int32_t *)lb.buf)[t];
        if (n < 3 || (Py_ssize_t)n > W) {
            PyErr_Format(PyExc_ValueError, "table %zd: cdf length %d outside [3, W=%zd]", t, (int)n, W);
            goto done;
        }
        if (n > (int32_t)TOTAL + 1) { /* cannot have all frequencies >= 1 */
            PyErr_Format(PyExc_ValueError, "table %zd: cdf length %d exceeds %u", t, (int)n, TOTAL + 1);
            goto done;
        }
        lens[t] = n;
        total += (size_t)n;
        if (with_lut) {
            int bits = ceil_log2((uint32_t)n - 1) + LUT_EXTRA_BITS;
            bits = bits < LUT_MIN_BITS ? LUT_MIN_BITS : bits > LUT_MAX_BITS ? LUT_MAX_BITS : bits;
            m->tables[t].shift = PREC - (uint32_t)bits;
            lut_total += (size_t)1 << bits;
        }
    }
    m->cdf_store = PyMem_Malloc((total ? total : 1) * sizeof(uint32_t));
    if (with_lut)
        m->lut_store = PyMem_Malloc((lut_total ? lut_total : 1) * sizeof(uint16_t));
    if (!m->cdf_store || (with_lut && !m->lut_store)) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t *dst = m->cdf_store;
    uint16_t *lut = m->lut_store;
    for (Py_ssize_t t = 0; t < T; t++) {
        const int32_t *row = cdfs + t * W;
        const int32_t n = lens[t];
        int32_t prev = row[0];
        if (prev != 0) {
            PyErr_Format(PyExc_ValueError, "table %zd: cdf must start at 0, got %d", t, (int)prev);
            goto done;
        }
        dst[0] = 0;
        for (int32_t k = 1; k < n; k++) {
            const int32_t c = row[k];
            if (c <= prev) {
                PyErr_Format(PyExc_ValueError,
                             "table %zd: symbol %d has frequency %lld (must be >= 1)", t, (int)(k - 1),
                             (long long)c - (long long)prev);
                goto done;
            }
            dst[k] = (uint32_t)c;
            prev = c;
        }
        if (prev != (int32_t)TOTAL) {
            PyErr_Format(PyExc_ValueError, "table %zd: cdf must end at %u, got %d", t, TOTAL, (int)prev);
            goto done;
        }
        const int32_t off = offs[t];
        if ((int64_t)off + (n - 3) > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "table %zd: offset %d + %d symbols overflows int32", t,
                         (int)off, (int)(n - 2));
            goto done;
        }
        table_t *tb = &m->tables[t];
        tb->cdf = dst;
        tb->nsym = (uint32_t)n - 1;
        tb->offset = off;
        if (with_lut) {
            build_lut(lut, dst, PREC - tb->shift);
            tb->lut = lut;
            lut += (size_t)1 << (PREC - tb->shift);
        }
        dst += n;
    }
    m->ntables = T;
    ok = 1;
done:
    PyMem_Free(lens);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&lb);
    PyBuffer_Release(&ob);
    if (!ok) {
        model_free(m);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                  */
/* ------------------------------------------------------------------------ */

/* Output grows downwards from `end`; `ptr` is the first used byte. */
typedef struct {
    uint8_t *base, *ptr, *end;
} outbuf_t;

/* Make room for at least `need` more bytes below ptr (amortised doubling). */
NOINLINE int outbuf_grow(outbuf_t *o, size_t need)
{
    size_t used = (size_t)(o->end - o->ptr);
    size_t cap = (size_t)(o->end - o->base);
    size_t ncap = cap * 2 + need;
    uint8_t *nb = malloc(ncap);
    if (!nb)
        return -1;
    memcpy(nb + ncap - used, o->ptr, used);
    free(o->base);
    o->base = nb;
    o->end = nb + ncap;
    o->ptr = o->end - used;
    return 0;
}

INLINE uint32_t enc_put(uint32_t x, uint8_t **pp, uint32_t start, uint32_t freq)
{
    if (x >= (freq << 16)) {        /* x_max = ((RANS_L >> PREC) << 16) * freq */
        *pp -= 2;
        (*pp)[0] = (uint8_t)x;
        (*pp)[1] = (uint8_t)(x >> 8);
        x >>= 16;
    }
    return ((x / freq) << PREC) + (x % freq) + start;
}

INLINE uint32_t enc_nibble(uint32_t x, uint8_t **pp, uint32_t nib)
{
    if (x >= (1u << (32 - BYPASS_BITS))) { /* freq 1 at scale 4 */
        *pp -= 2;
        (*pp)[0] = (uint8_t)x;
        (*pp)[1] = (uint8_t)(x >> 8);
        x >>= 16;
    }
    return (x << BYPASS_BITS) | nib;
}

/* Escape path (rare): bypass chunks, chunk count, then the escape symbol. */
NOINLINE uint32_t enc_escape(uint32_t x, uint8_t **pp, const table_t *tb, int64_t s)
{
    const uint32_t esc = tb->nsym - 1;
    uint64_t u = s < 0 ? ((uint64_t)(-s) << 1) - 1u : (uint64_t)(s - (int64_t)esc) << 1;
    uint32_t n = 0;
    for (uint64_t r = u; r; r >>= BYPASS_BITS)
        n++;
    for (uint32_t k = 0; k < n; k++) /* reverse of decode order: least significant first */
        x = enc_nibble(x, pp, (uint32_t)(u >> (BYPASS_BITS * k)) & 15u);
    x = enc_nibble(x, pp, n);
    return enc_put(x, pp, tb->cdf[esc], TOTAL - tb->cdf[esc]);
}

INLINE int enc_one(uint32_t *x, uint8_t **pp, const model_t *m, int32_t v, int32_t t)
{
    if (UNLIKELY((uint32_t)t >= (uint64_t)m->ntables))
        return E_INDEX;
    const table_t *tb = &m->tables[t];
    const int64_t s = (int64_t)v - tb->offset;
    if (LIKELY((uint64_t)s < (uint64_t)(tb->nsym - 1))) {
        const uint32_t start = tb->cdf[s];
        *x = enc_put(*x, pp, start, tb->cdf[s + 1] - start);
    } else {
        *x = enc_escape(*x, pp, tb, s);
    }
    return E_OK;
}

/* Encode n values backwards (GIL released). On error *bad is the position. */
static int encode_run(const model_t *m, const int32_t *sym, const int32_t *idx, Py_ssize_t n,
                      outbuf_t *o, Py_ssize_t *bad)
{
    const size_t reserve = 2 * 2 * STEPS_PER_VALUE; /* bytes two values can emit */
    uint32_t x0 = RANS_L, x1 = RANS_L;
    uint8_t *p = o->ptr;
    Py_ssize_t i = n - 1;
    int err = E_OK;
    if (i >= 0 && (i & 1) == 0) { /* odd count: last value is on lane 0 */
        if ((err = enc_one(&x0, &p, m, sym[i], idx[i])) != E_OK)
            goto out;
        i--;
    }
    for (; i > 0; i -= 2) { /* i odd: lane 1, then i - 1 on lane 0 */
        if (UNLIKELY((size_t)(p - o->base) < reserve)) {
            o->ptr = p;
            if (outbuf_grow(o, reserve) < 0) {
                err = E_NOMEM;
                goto out;
            }
            p = o->ptr;
        }
        if ((err = enc_one(&x1, &p, m, sym[i], idx[i])) != E_OK)
            goto out;
        if ((err = enc_one(&x0, &p, m, sym[i - 1], idx[i - 1])) != E_OK) {
            i--;
            goto out;
        }
    }
    /* Flush: lane 1 then lane 0, so lane 0 comes first in the stream. */
    if ((size_t)(p - o->base) < 8) {
        o->ptr = p;
        if (outbuf_grow(o, 8) < 0) {
            err = E_NOMEM;
            goto out;
        }
        p = o->ptr;
    }
    p -= 8;
    for (int k = 0; k < 4; k++) {
        p[k] = (uint8_t)(x0 >> (8 * k));
        p[4 + k] = (uint8_t)(x1 >> (8 * k));
    }
out:
    o->ptr = p;
    *bad = i;
    return err;
}

static PyObject *py_encode(PyObject *self, PyObject *args)
{
    PyObject *sym_o, *idx_o, *cdfs_o, *len_o, *off_o;
    Py_buffer sb, ib;
    model_t m;
    outbuf_t o = {NULL, NULL, NULL};
    PyObject *res = NULL;
    Py_ssize_t bad = -1;
    int err;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOO:encode", &sym_o, &idx_o, &cdfs_o, &len_o, &off_o))
        return NULL;
    if (get_i32(sym_o, &sb, "symbols", 1) < 0)
        return NULL;
    if (get_i32(idx_o, &ib, "indexes", 1) < 0) {
        PyBuffer_Release(&sb);
        return NULL;
    }
    const Py_ssize_t n = sb.shape[0];
    if (ib.shape[0] != n) {
        PyErr_Format(PyExc_ValueError, "symbols and indexes must have the same length, got %zd and %zd",
                     n, ib.shape[0]);
        goto release;
    }
    if (model_build(&m, cdfs_o, len_o, off_o, 0) < 0)
        goto release;
    /* One word per value covers everything but escapes; the loop grows it. */
    size_t cap = (size_t)n * 2 + 2 * 2 * STEPS_PER_VALUE + 64;
    o.base = malloc(cap);
    if (!o.base) {
        PyErr_NoMemory();
        goto free_model;
    }
    o.end = o.base + cap;
    o.ptr = o.end;
    Py_BEGIN_ALLOW_THREADS
    err = encode_run(&m, (const int32_t *)sb.buf, (const int32_t *)ib.buf, n, &o, &bad);
    Py_END_ALLOW_THREADS
    if (err == E_INDEX)
        PyErr_Format(PyExc_ValueError, "indexes[%zd] = %d is outside [0, %zd)", bad,
                     (int)((const int32_t *)ib.buf)[bad], m.ntables);
    else if (err == E_NOMEM)
        PyErr_NoMemory();
    else
        res = PyBytes_FromStringAndSize((const char *)o.ptr, o.end - o.ptr);
    free(o.base);
free_model:
    model_free(&m);
release:
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ib);
    return res;
}

static PyObject *py_validate(PyObject *self, PyObject *args)
{
    PyObject *cdfs_o, *len_o, *off_o;
    model_t m;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:validate", &cdfs_o, &len_o, &off_o))
        return NULL;
    if (model_build(&m, cdfs_o, len_o, off_o, 0) < 0)
        return NULL;
    model_free(&m);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t x;
    size_t pos;
} lane_t;

/* Escape path (rare): chunk count and chunks after an ESCAPE symbol. */
NOINLINE int dec_escape(lane_t *st, const uint8_t *buf, size_t len, const table_t *tb, int32_t *out)
{
    uint32_t x = st->x;
    size_t pos = st->pos;
    uint64_t u = 0;
    uint32_t n = 0;
    for (uint32_t k = 0; k <= n; k++) { /* k = 0 reads the count n */
        const uint32_t nib = x & 15u;
        x >>= BYPASS_BITS;
        if (x < RANS_L) {
            if (pos + 2 > len)
                return E_EOF;
            x = (x << 16) | (uint32_t)buf[pos] | ((uint32_t)buf[pos + 1] << 8);
            pos += 2;
        }
        if (k == 0) {
            n = nib;
            if (n > MAX_CHUNKS)
                return E_COUNT;
        } else {
            if (k == 1 && nib == 0)
                return E_CANON;
            u = (u << BYPASS_BITS) | nib;
        }
    }
    const int64_t s = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(tb->nsym - 1) + (int64_t)(u >> 1);
    const int64_t v = (int64_t)tb->offset + s;
    if (v < INT32_MIN || v > INT32_MAX)
        return E_RANGE;
    *out = (int32_t)v;
    st->x = x;
    st->pos = pos;
    return E_OK;
}

/* Decode one value on lane state *x. */
INLINE int dec_one(uint32_t *px, size_t *ppos, const uint8_t *buf, size_t len, const model_t *m,
                   int32_t t, int32_t *out)
{
    if (UNLIKELY((uint32_t)t >= (uint64_t)m->ntables))
        return E_INDEX;
    const table_t *tb = &m->tables[t];
    const uint32_t *c = tb->cdf;
    uint32_t x = *px;
    const uint32_t cf = x & (TOTAL - 1);
    uint32_t s = tb->lut[cf >> tb->shift];
    while (c[s + 1] <= cf) /* terminates: c[L] = 65536 > cf */
        s++;
    const uint32_t start = c[s];
    x = (c[s + 1] - start) * (x >> PREC) + cf - start;
    if (x < RANS_L) {
        if (UNLIKELY(*ppos + 2 > len))
            return E_EOF;
        x = (x << 16) | (uint32_t)buf[*ppos] | ((uint32_t)buf[*ppos + 1] << 8);
        *ppos += 2;
    }
    if (LIKELY(s + 1 < tb->nsym)) {
        *out = (int32_t)((uint32_t)tb->offset + s); /* validated: no int32 overflow */
    } else {
        lane_t st = {x, *ppos};
        int err = dec_escape(&st, buf, len, tb, out);
        if (err != E_OK)
            return err;
        x = st.x;
        *ppos = st.pos;
    }
    *px = x;
    return E_OK;
}

typedef struct {
    PyObject_HEAD
    PyObject *data;      /* bytes object holding the stream */
    const uint8_t *buf;
    size_t len, pos;
    uint32_t x[2];
    unsigned long long count; /* values decoded so far: lane of the next one */
    int failed;          /* a previous call hit corruption */
    int busy;            /* a decode() is running (GIL released) */
} DecoderObject;

/* Decode n values (GIL released); on error *bad is the failing position. */
static int decode_run(DecoderObject *d, const model_t *m, const int32_t *idx, Py_ssize_t n,
                      int32_t *out, Py_ssize_t *bad)
{
    const uint8_t *buf = d->buf;
    const size_t len = d->len;
    size_t pos = d->pos;
    uint32_t x0 = d->x[0], x1 = d->x[1];
    Py_ssize_t i = 0;
    int err = E_OK;
    if (n > 0 && (d->count & 1)) { /* resume on lane 1 */
        if ((err = dec_one(&x1, &pos, buf, len, m, idx[0], &out[0])) != E_OK)
            goto out;
        i = 1;
    }
    for (; i + 1 < n; i += 2) {
        if ((err = dec_one(&x0, &pos, buf, len, m, idx[i], &out[i])) != E_OK)
            goto out;
        if ((err = dec_one(&x1, &pos, buf, len, m, idx[i + 1], &out[i + 1])) != E_OK) {
            i++;
            goto out;
        }
    }
    if (i < n) {
        if ((err = dec_one(&x0, &pos, buf, len, m, idx[i], &out[i])) != E_OK)
            goto out;
        i++;
    }
out:
    d->x[0] = x0;
    d->x[1] = x1;
    d->pos = pos;
    d->count += (unsigned long long)n;
    *bad = i;
    return err;
}

static const char *corrupt_reason(int err)
{
    switch (err) {
    case E_EOF: return "read past the end of the stream";
    case E_COUNT: return "escape chunk count too large";
    case E_CANON: return "non-minimal escape chunk count";
    case E_RANGE: return "escaped value outside int32";
    default: return "unknown error";
    }
}

static int Decoder_init(DecoderObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"data", NULL};
    PyObject *data;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Decoder", kwlist, &data))
        return -1;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is in use by another thread");
        return -1;
    }
    if (PyBytes_CheckExact(data)) {
        Py_INCREF(data);
    } else if (PyObject_CheckBuffer(data)) {
        data = PyBytes_FromObject(data); /* private immutable copy */
        if (!data)
            return -1;
    } else {
        PyErr_Format(PyExc_TypeError, "data must be bytes-like, got %.100s", Py_TYPE(data)->tp_name);
        return -1;
    }
    PyObject *prev = self->data;
    self->data = data;
    Py_XDECREF(prev);
    self->buf = (const uint8_t *)PyBytes_AS_STRING(data);
    self->len = (size_t)PyBytes_GET_SIZE(data);
    self->pos = 8;
    self->count = 0;
    self->failed = 1;
    if (self->len < 8 || (self->len & 1)) {
        PyErr_Format(PyExc_ValueError, "corrupt rANS stream: length %zu is not 8 + 2k bytes", self->len);
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        const uint8_t *p = self->buf + 4 * k;
        self->x[k] = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        if (self->x[k] < RANS_L) {
            PyErr_Format(PyExc_ValueError, "corrupt rANS stream: initial state of lane %d below 2^16", k);
            return -1;
        }
    }
    self->failed = 0;
    return 0;
}

static void Decoder_dealloc(DecoderObject *self)
{
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_usable(DecoderObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder is in use by another thread");
        return -1;
    }
    if (!self->data) {
        PyErr_SetString(PyExc_ValueError, "Decoder not initialised");
        return -1;
    }
    if (self->failed) {
        PyErr_SetString(PyExc_ValueError, "corrupt rANS stream: decoder already failed");
        return -1;
    }
    return 0;
}

static PyObject *Decoder_decode(DecoderObject *self, PyObject *args)
{
    PyObject *idx_o, *cdfs_o, *len_o, *off_o;
    Py_buffer ib;
    model_t m;
    PyObject *out = NULL;
    Py_ssize_t bad = 0;
    int err;
    if (!PyArg_ParseTuple(args, "OOOO:decode", &idx_o, &cdfs_o, &len_o, &off_o))
        return NULL;
    if (check_usable(self) < 0)
        return NULL;
    if (get_i32(idx_o, &ib, "indexes", 1) < 0)
        return NULL;
    const Py_ssize_t n = ib.shape[0];
    if (model_build(&m, cdfs_o, len_o, off_o, 1) < 0)
        goto release;
    if (n > PY_SSIZE_T_MAX / 4) {
        PyErr_NoMemory();
        goto free_model;
    }
    out = PyByteArray_FromStringAndSize(NULL, n * 4);
    if (!out)
        goto free_model;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    err = decode_run(self, &m, (const int32_t *)ib.buf, n, (int32_t *)PyByteArray_AS_STRING(out), &bad);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (err != E_OK) {
        self->failed = 1;
        if (err == E_INDEX)
            PyErr_Format(PyExc_ValueError, "indexes[%zd] = %d is outside [0, %zd)", bad,
                         (int)((const int32_t *)ib.buf)[bad], m.ntables);
        else
            PyErr_Format(PyExc_ValueError, "corrupt rANS stream: %s (value %zd of this call)",
                         corrupt_reason(err), bad);
        Py_CLEAR(out);
    }
free_model:
    model_free(&m);
release:
    PyBuffer_Release(&ib);
    return out;
}

static PyObject *Decoder_finish(DecoderObject *self, PyObject *Py_UNUSED(ignored))
{
    if (check_usable(self) < 0)
        return NULL;
    if (self->pos != self->len) {
        PyErr_Format(PyExc_ValueError, "corrupt rANS stream: %zu trailing bytes", self->len - self->pos);
        return NULL;
    }
    if (self->x[0] != RANS_L || self->x[1] != RANS_L) {
        PyErr_SetString(PyExc_ValueError, "corrupt rANS stream: final state mismatch");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Decoder_position(DecoderObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->pos);
}

static PyMethodDef Decoder_methods[] = {
    {"decode", (PyCFunction)Decoder_decode, METH_VARARGS,
     "decode(indexes, cdfs, cdf_lengths, offsets) -> bytearray of native int32 values"},
    {"finish", (PyCFunction)Decoder_finish, METH_NOARGS,
     "finish() -> None; ValueError unless the stream was consumed exactly"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Decoder_getset[] = {
    {"position", (getter)Decoder_position, NULL, "bytes consumed so far", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "edgecodec.codec.entropy._rans.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Decoder(data): stateful rANS decoder over one stream",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

/* ------------------------------------------------------------------------ */
/* Module                                                                   */
/* ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"encode", py_encode, METH_VARARGS,
     "encode(symbols, indexes, cdfs, cdf_lengths, offsets) -> bytes"},
    {"validate", py_validate, METH_VARARGS,
     "validate(cdfs, cdf_lengths, offsets) -> None; raises on malformed tables"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef rans_module = {
    PyModuleDef_HEAD_INIT, "_rans", "rANS entropy coder (see the comment at the top of _rans.c).", -1,
    module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__rans(void)
{
    if (PyType_Ready(&DecoderType) < 0)
        return NULL;
    PyObject *mod = PyModule_Create(&rans_module);
    if (!mod)
        return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(mod, "Decoder", (PyObject *)&DecoderType) < 0 ||
        PyModule_AddIntConstant(mod, "PRECISION", PREC) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
