/* module.c - xpuops._core: the CPython + NumPy binding of the C core.
 *
 * The only file that includes Python.h. Arguments arrive already shaped by
 * the Python layer (python/xpuops/_ops.py), which owns the user-facing
 * validation; this layer converts arrays to borrowed xo_tensor views while
 * holding the GIL, releases the GIL for the whole C call (conversion,
 * quantization and the kernel touch no Python object), and maps xo_status to
 * exceptions. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stddef.h>
#include <string.h>

#include "../xpuops.h"

static PyObject *UnsupportedError, *DeviceUnavailableError;

static PyObject *raise_status(xo_status st) {
  PyObject *type;
  switch (st) {
    case XO_ERR_INVALID_ARG:
    case XO_ERR_OVERFLOW: type = PyExc_ValueError; break;
    case XO_ERR_TYPE: type = PyExc_TypeError; break;
    case XO_ERR_UNSUPPORTED: type = UnsupportedError; break;
    case XO_ERR_UNAVAILABLE: type = DeviceUnavailableError; break;
    case XO_ERR_NO_MEMORY: type = PyExc_MemoryError; break;
    default: type = PyExc_RuntimeError;
  }
  PyErr_SetString(type, xo_last_error());
  return NULL;
}

/* The xo_dtype of an array, or -1 with TypeError set. */
static int dtype_of(PyArrayObject *a, const char *name) {
  switch (PyArray_TYPE(a)) {
    case NPY_FLOAT64: return XO_DTYPE_F64;
    case NPY_FLOAT32: return XO_DTYPE_F32;
    case NPY_FLOAT16: return XO_DTYPE_F16;
    case NPY_INT32: return XO_DTYPE_S32;
    case NPY_INT8: return XO_DTYPE_S8;
    case NPY_UINT8: return XO_DTYPE_U8;
    default: break;
  }
  /* ml_dtypes registers its types as user dtypes; recognise them by name */
  const char *tp = PyArray_DESCR(a)->typeobj->tp_name;
  const char *dot = strrchr(tp, '.');
  const char *base = dot ? dot + 1 : tp;
  if (strcmp(base, "bfloat16") == 0) return XO_DTYPE_BF16;
  if (strcmp(base, "float8_e4m3fn") == 0) return XO_DTYPE_F8E4M3;
  PyErr_Format(PyExc_TypeError, "%s: unsupported dtype %s", name, tp);
  return -1;
}

/* Fill a borrowed view of an ndarray. */
static int to_tensor(PyObject *obj, const char *name, xo_tensor *t) {
  if (!PyArray_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray", name);
    return -1;
  }
  PyArrayObject *a = (PyArrayObject *)obj;
  int nd = PyArray_NDIM(a);
  if (nd > XO_MAX_DIMS) {
    PyErr_Format(PyExc_ValueError,
                 "%s has %d dimensions; at most %d are "
                 "supported",
                 name, nd, XO_MAX_DIMS);
    return -1;
  }
  int dt = dtype_of(a, name);
  if (dt < 0) return -1;
  memset(t, 0, sizeof *t);
  t->dtype = (xo_dtype)dt;
  t->ndim = nd;
  for (int i = 0; i < nd; i++) {
    t->shape[i] = PyArray_DIM(a, i);
    t->strides[i] = PyArray_STRIDE(a, i);
  }
  t->data = PyArray_DATA(a);
  return 0;
}

/* One named integer attribute of a QParams object. */
static int q_int(PyObject *obj, const char *name, long long *v) {
  PyObject *x = PyObject_GetAttrString(obj, name);
  if (x == NULL) return -1;
  *v = PyLong_AsLongLong(x);
  Py_DECREF(x);
  return *v == -1 && PyErr_Occurred() ? -1 : 0;
}

/* A C-contiguous array attribute of the given type, or None when allowed.
 * The object keeps the array alive for the call: *data is borrowed. */
static int q_array(PyObject *obj, const char *name, int type, int allow_none,
                   void **data, npy_intp *size) {
  PyObject *x = PyObject_GetAttrString(obj, name);
  if (x == NULL) return -1;
  *data = NULL;
  *size = 0;
  int ok = (allow_none && x == Py_None) ||
           (PyArray_Check(x) && PyArray_TYPE((PyArrayObject *)x) == type &&
            PyArray_IS_C_CONTIGUOUS((PyArrayObject *)x));
  if (ok && x != Py_None) {
    *data = PyArray_DATA((PyArrayObject *)x);
    *size = PyArray_SIZE((PyArrayObject *)x);
  }
  Py_DECREF(x);
  if (!ok)
    PyErr_Format(PyExc_TypeError, "QParams.%s must be a C-contiguous %s array",
                 name, type == NPY_FLOAT32 ? "float32" : "int32");
  return ok ? 0 : -1;
}

/* An operand: an array and, when quantized, a QParams object (python/xpuops/
 * api/quant.py) read by attribute name: precision, granularity, axis,
 * group_axis, group_size, symmetric, scale (float32), zero_point (int32 or
 * None) and token (the QTensor's cache token). The scale count is checked
 * against the tensor here. */
static int to_operand(PyObject *arr, PyObject *qobj, const char *name,
                      xo_operand *op, xo_qparams *q) {
  if (to_tensor(arr, name, &op->t) < 0) return -1;
  op->q = NULL;
  op->cache_token = 0;
  if (qobj == Py_None) return 0;
  long long prec, gran, axis, gaxis, gsize, sym, token;
  void *scale, *zp;
  npy_intp nscale, nzp;
  if (q_int(qobj, "precision", &prec) < 0 ||
      q_int(qobj, "granularity", &gran) < 0 || q_int(qobj, "axis", &axis) < 0 ||
      q_int(qobj, "group_axis", &gaxis) < 0 ||
      q_int(qobj, "group_size", &gsize) < 0 ||
      q_int(qobj, "symmetric", &sym) < 0 || q_int(qobj, "token", &token) < 0 ||
      q_array(qobj, "scale", NPY_FLOAT32, 0, &scale, &nscale) < 0 ||
      q_array(qobj, "zero_point", NPY_INT32, 1, &zp, &nzp) < 0)
    return -1;
  if (zp != NULL && nzp != nscale) {
    PyErr_SetString(PyExc_ValueError, "scale and zero_point sizes differ");
    return -1;
  }
  memset(q, 0, sizeof *q);
  q->spec = (xo_qspec){(xo_precision)prec,
                       (xo_qgranularity)gran,
                       (int)axis,
                       (int)gaxis,
                       gsize,
                       (int)sym};
  q->scale = scale;
  q->zero_point = zp;
  op->cache_token = (uint64_t)token;
  int64_t ns;
  if (xo_quant_nscales(&op->t, &q->spec, &ns) != XO_OK) {
    raise_status(XO_ERR_INVALID_ARG);
    return -1;
  }
  if (nscale != ns) {
    PyErr_Format(PyExc_ValueError, "%s: %lld scales given, %lld expected", name,
                 (long long)nscale, (long long)ns);
    return -1;
  }
  op->q = q;
  return 0;
}

static int find_device(const char *name, xo_device_t *dev) {
  xo_status st = xo_device_find(name, dev);
  if (st != XO_OK) {
    raise_status(st);
    return -1;
  }
  return 0;
}

static PyObject *new_output(int nd, const int64_t *shape, int dtype) {
  npy_intp dims[XO_MAX_DIMS];
  for (int i = 0; i < nd; i++) dims[i] = (npy_intp)shape[i];
  int npy = dtype == XO_DTYPE_F64   ? NPY_FLOAT64
            : dtype == XO_DTYPE_S32 ? NPY_INT32
            : dtype == XO_DTYPE_S8  ? NPY_INT8
                                    : NPY_FLOAT32;
  return PyArray_ZEROS(nd, dims, npy, 0);
}

static PyObject *info_dict(const xo_op_info *i) {
  return Py_BuildValue(
      "{s:d,s:d,s:d,s:O,s:O,s:O,s:d,s:d,s:s,s:s}", "prepare_s", i->prepare_s,
      "plan_s", i->plan_s, "kernel_s", i->kernel_s, "plan_created",
      i->plan_created ? Py_True : Py_False, "native",
      i->native ? Py_True : Py_False, "modeled",
      i->modeled ? Py_True : Py_False, "ops", i->ops, "bytes", i->bytes, "impl",
      i->impl, "timing", i->timing[0] ? i->timing : "wall");
}

static int out_dtype(int prec, int want_int32) {
  if (want_int32) return XO_DTYPE_S32;
  return prec == XO_PREC_FP64 ? XO_DTYPE_F64 : XO_DTYPE_F32;
}

/* What the last op on this thread did: last_info() builds the dict from it
 * on request, so a call itself builds no Python object for it. */
static _Thread_local xo_op_info last;
static _Thread_local int last_valid;

static PyObject *finish(xo_status st, PyObject *out, const xo_op_info *info) {
  if (st != XO_OK) {
    Py_DECREF(out);
    return raise_status(st);
  }
  last = *info;
  last_valid = 1;
  return out;
}

PyDoc_STRVAR(last_info_doc,
             "last_info() -> dict of what the last op on this thread did, or "
             "{} before the first.");
static PyObject *py_last_info(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  return last_valid ? info_dict(&last) : PyDict_New();
}

/* ---- the fast path -------------------------------------------------------
 * xo.matmul(a, b) on two plain 2-d float arrays is what a notebook calls in
 * a loop; NumPy's a @ b costs under a microsecond there. The Python layer's
 * checks and device resolution cost ten times that, so they run once: the
 * first call of a (device string, precision) goes the slow way and registers
 * the device it resolved (fast_register); later calls are parsed, checked
 * and dispatched here. Anything unusual (QTensors, batches, 1-d operands,
 * other dtypes, out_dtype, an unregistered device, an error to explain)
 * returns NotImplemented, and the Python layer takes the slow path, whose
 * checks and messages are the only ones. Touched only with the GIL held. */
enum { FAST_DEVICES = 32, SHAPE_CLASSES = 3 }; /* XO_SHAPE_* */
static struct {
  PyObject *name; /* the device string (owned) */
  xo_device_t dev[XO_PREC_COUNT][SHAPE_CLASSES];
} fast[FAST_DEVICES];
static int nfast;

PyDoc_STRVAR(shape_class_doc,
             "matmul_shape_class(m, k, n) -> 1 for a small matmul (M*N*K <= "
             "2^18: the fixed cost per call dominates), 2 for a skinny one "
             "(M <= 32: decode), else 0.");
static PyObject *py_matmul_shape_class(PyObject *self, PyObject *args) {
  (void)self;
  long long m, k, n;
  if (!PyArg_ParseTuple(args, "LLL", &m, &k, &n)) return NULL;
  return PyLong_FromLong(xo_matmul_shape_class(m, k, n));
}

static int fast_slot(PyObject *name) {
  for (int i = 0; i < nfast; i++)
    if (fast[i].name == name) return i; /* interned: the common case */
  for (int i = 0; i < nfast; i++)
    if (PyUnicode_Compare(fast[i].name, name) == 0) return i;
  return -1;
}

PyDoc_STRVAR(fast_register_doc,
             "fast_register(device, prec, shape_class, resolved): let the fast "
             "path send matmuls naming `device` in precision code `prec` and "
             "of `shape_class` to the device named `resolved` (what the "
             "Python layer resolved it to).");
static PyObject *py_fast_register(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *name;
  int prec, cls;
  const char *resolved;
  xo_device_t dev;
  if (!PyArg_ParseTuple(args, "Uiis", &name, &prec, &cls, &resolved))
    return NULL;
  if (prec < 0 || prec >= XO_PREC_COUNT || cls < 0 || cls >= SHAPE_CLASSES) {
    PyErr_SetString(PyExc_ValueError,
                    "fast_register: unknown precision or shape class");
    return NULL;
  }
  if (find_device(resolved, &dev) < 0) return NULL;
  int i = fast_slot(name);
  if (i < 0) {
    if (nfast == FAST_DEVICES) Py_RETURN_NONE; /* full: the slow path serves */
    i = nfast++;
    Py_INCREF(name);
    fast[i].name = name;
    memset(fast[i].dev, 0, sizeof fast[i].dev);
  }
  fast[i].dev[prec][cls] = dev;
  Py_RETURN_NONE;
}

/* a 2-d array as a [1, rows, cols] view */
static void fast_view(PyArrayObject *a, xo_dtype dt, xo_tensor *t) {
  memset(t, 0, sizeof *t);
  t->dtype = dt;
  t->ndim = 3;
  t->shape[0] = 1;
  t->shape[1] = PyArray_DIM(a, 0);
  t->shape[2] = PyArray_DIM(a, 1);
  t->strides[0] = 0;
  t->strides[1] = PyArray_STRIDE(a, 0);
  t->strides[2] = PyArray_STRIDE(a, 1);
  t->data = PyArray_DATA(a);
}

PyDoc_STRVAR(matmul_fast_doc,
             "matmul_fast(a, b, device, precision) -> out, or NotImplemented "
             "when the call needs the Python layer's slow path.");
static PyObject *py_matmul_fast(PyObject *self, PyObject *const *argv,
                                Py_ssize_t argc) {
  (void)self;
  if (argc != 4 || !PyArray_CheckExact(argv[0]) ||
      !PyArray_CheckExact(argv[1]) || !PyUnicode_CheckExact(argv[2]))
    Py_RETURN_NOTIMPLEMENTED;
  PyArrayObject *a = (PyArrayObject *)argv[0], *b = (PyArrayObject *)argv[1];
  int ta = PyArray_TYPE(a);
  /* native byte order and aligned, as the slow path's dtype check wants */
  if (PyArray_NDIM(a) != 2 || PyArray_NDIM(b) != 2 || ta != PyArray_TYPE(b) ||
      (ta != NPY_FLOAT32 && ta != NPY_FLOAT64) || !PyArray_ISNOTSWAPPED(a) ||
      !PyArray_ISNOTSWAPPED(b) || !PyArray_ISALIGNED(a) ||
      !PyArray_ISALIGNED(b) || PyArray_DIM(a, 1) != PyArray_DIM(b, 0))
    Py_RETURN_NOTIMPLEMENTED;
  int prec = -1;
  if (argv[3] == Py_None) {
    prec = ta == NPY_FLOAT64 ? XO_PREC_FP64 : XO_PREC_FP32;
  } else if (PyUnicode_CheckExact(argv[3])) {
    for (int i = 0; i < XO_PREC_COUNT && prec < 0; i++)
      if (PyUnicode_CompareWithASCIIString(
              argv[3], xo_precision_name((xo_precision)i)) == 0)
        prec = i;
  }
  if (prec < 0) Py_RETURN_NOTIMPLEMENTED;
  int slot = fast_slot(argv[2]);
  int cls = xo_matmul_shape_class(PyArray_DIM(a, 0), PyArray_DIM(a, 1),
                                  PyArray_DIM(b, 1));
  if (slot < 0 || fast[slot].dev[prec][cls] == NULL) Py_RETURN_NOTIMPLEMENTED;
  xo_device_t dev = fast[slot].dev[prec][cls];
  xo_dtype dt = ta == NPY_FLOAT64 ? XO_DTYPE_F64 : XO_DTYPE_F32;
  xo_operand oa = {0}, ob = {0};
  xo_tensor to;
  fast_view(a, dt, &oa.t);
  fast_view(b, dt, &ob.t);
  npy_intp dims[2] = {PyArray_DIM(a, 0), PyArray_DIM(b, 1)};
  int odt = prec == XO_PREC_FP64 ? NPY_FLOAT64 : NPY_FLOAT32;
  /* the core writes every element, zeros of an empty reduction included */
  PyObject *out = PyArray_EMPTY(2, dims, odt, 0);
  if (out == NULL) return NULL;
  fast_view((PyArrayObject *)out,
            prec == XO_PREC_FP64 ? XO_DTYPE_F64 : XO_DTYPE_F32, &to);
  xo_op_info info;
  xo_status st;
  Py_BEGIN_ALLOW_THREADS st =
      xo_matmul(dev, (xo_precision)prec, &oa, &ob, &to, &info);
  Py_END_ALLOW_THREADS if (st != XO_OK) {
    Py_DECREF(out); /* the slow path reports it, with its own checks */
    Py_RETURN_NOTIMPLEMENTED;
  }
  last = info;
  last_valid = 1;
  return out;
}

PyDoc_STRVAR(matmul_doc,
             "matmul(a, b, device, prec, a_q, b_q, int32, bias=None, "
             "out_scale=None, out_zero_point=0) -> out\n\n"
             "a [batch, M, K] @ b [batch, K, N] (zero batch strides "
             "broadcast). a_q/b_q: QParams or None. bias [N] in the result's "
             "float dtype; out_scale: an int8 result.");
/* The quantized-result request: NULL when out_scale is None. */
static int to_outq(PyObject *scale, int zp, xo_outq *oq, const xo_outq **p) {
  *p = NULL;
  if (scale == Py_None) return 0;
  double v = PyFloat_AsDouble(scale);
  if (v == -1.0 && PyErr_Occurred()) return -1;
  oq->scale = (float)v;
  oq->zero_point = zp;
  *p = oq;
  return 0;
}

static PyObject *py_matmul(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {
      "a",     "b",    "device",    "prec",           "a_q", "b_q",
      "int32", "bias", "out_scale", "out_zero_point", NULL};
  PyObject *pa, *pb, *qa, *qb, *pbias = Py_None, *pscale = Py_None;
  const char *dev_name;
  int prec, want_int32, ozp = 0;
  xo_operand a, b;
  xo_qparams qpa, qpb;
  xo_tensor bias;
  xo_outq oqv;
  const xo_outq *oq;
  xo_device_t dev;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOsiOOp|OOi", names, &pa, &pb,
                                   &dev_name, &prec, &qa, &qb, &want_int32,
                                   &pbias, &pscale, &ozp))
    return NULL;
  if (to_operand(pa, qa, "a", &a, &qpa) < 0 ||
      to_operand(pb, qb, "b", &b, &qpb) < 0 ||
      (pbias != Py_None && to_tensor(pbias, "bias", &bias) < 0) ||
      to_outq(pscale, ozp, &oqv, &oq) < 0 || find_device(dev_name, &dev) < 0)
    return NULL;
  if (a.t.ndim != 3 || b.t.ndim != 3) {
    PyErr_SetString(PyExc_ValueError, "internal: matmul takes 3-d views");
    return NULL;
  }
  int64_t shape[3] = {a.t.shape[0], a.t.shape[1], b.t.shape[2]};
  PyObject *out =
      new_output(3, shape, oq ? XO_DTYPE_S8 : out_dtype(prec, want_int32));
  if (out == NULL) return NULL;
  xo_tensor to;
  if (to_tensor(out, "out", &to) < 0) {
    Py_DECREF(out);
    return NULL;
  }
  xo_op_info info;
  xo_status st;
  const xo_tensor *bp = pbias == Py_None ? NULL : &bias;
  Py_BEGIN_ALLOW_THREADS st =
      xo_matmul_ex(dev, (xo_precision)prec, &a, &b, bp, oq, &to, &info);
  Py_END_ALLOW_THREADS return finish(st, out, &info);
}

PyDoc_STRVAR(conv2d_doc,
             "conv2d(x, w, bias, device, prec, x_q, w_q, stride, dilation, "
             "pad_begin, pad_end, groups, int32, out_scale=None, "
             "out_zero_point=0) -> out\n\n"
             "x is an NCHW view; pairs are (h, w) tuples; out_scale: an int8 "
             "result.");
static PyObject *py_conv2d(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {
      "x",     "w",         "bias",           "device",    "prec",    "x_q",
      "w_q",   "stride",    "dilation",       "pad_begin", "pad_end", "groups",
      "int32", "out_scale", "out_zero_point", NULL};
  PyObject *px, *pw, *pbias, *qx, *qw, *pscale = Py_None;
  const char *dev_name;
  int prec, want_int32, ozp = 0;
  xo_outq oqv;
  const xo_outq *oq;
  long long s[2], d[2], pb[2], pe[2], groups;
  xo_operand x, w;
  xo_qparams qpx, qpw;
  xo_tensor bias, to;
  xo_device_t dev;
  if (!PyArg_ParseTupleAndKeywords(
          args, kw, "OOOsiOO(LL)(LL)(LL)(LL)Lp|Oi", names, &px, &pw, &pbias,
          &dev_name, &prec, &qx, &qw, &s[0], &s[1], &d[0], &d[1], &pb[0],
          &pb[1], &pe[0], &pe[1], &groups, &want_int32, &pscale, &ozp))
    return NULL;
  if (to_outq(pscale, ozp, &oqv, &oq) < 0) return NULL;
  if (to_operand(px, qx, "x", &x, &qpx) < 0 ||
      to_operand(pw, qw, "w", &w, &qpw) < 0 ||
      (pbias != Py_None && to_tensor(pbias, "bias", &bias) < 0) ||
      find_device(dev_name, &dev) < 0)
    return NULL;
  xo_conv_params cp = {
      {s[0], s[1]}, {d[0], d[1]}, {pb[0], pb[1]}, {pe[0], pe[1]}, groups};
  if (x.t.ndim != 4 || w.t.ndim != 4) {
    PyErr_SetString(PyExc_ValueError, "internal: conv2d takes 4-d views");
    return NULL;
  }
  /* the output shape from the core, which checks the geometry */
  int64_t shape[4];
  xo_status shape_st = xo_conv2d_output_shape(x.t.shape, w.t.shape, &cp, shape);
  if (shape_st != XO_OK) return raise_status(shape_st);
  PyObject *out =
      new_output(4, shape, oq ? XO_DTYPE_S8 : out_dtype(prec, want_int32));
  if (out == NULL) return NULL;
  if (to_tensor(out, "out", &to) < 0) {
    Py_DECREF(out);
    return NULL;
  }
  xo_op_info info;
  xo_status st;
  const xo_tensor *bp = pbias == Py_None ? NULL : &bias;
  Py_BEGIN_ALLOW_THREADS st =
      xo_conv2d_ex(dev, (xo_precision)prec, &x, &w, bp, &cp, oq, &to, &info);
  Py_END_ALLOW_THREADS return finish(st, out, &info);
}

PyDoc_STRVAR(attention_doc,
             "attention(q, k, v, device, prec, k_q, v_q, causal, window, "
             "softcap, kv_lengths, mask, scale) -> out");
static PyObject *py_attention(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *names[] = {"q",          "k",    "v",      "device", "prec",
                          "k_q",        "v_q",  "causal", "window", "softcap",
                          "kv_lengths", "mask", "scale",  NULL};
  PyObject *pq, *pk, *pv, *qk, *qv, *pwin, *plen, *pmask;
  const char *dev_name;
  int prec, causal;
  double softcap, scale;
  xo_tensor q, mask, to;
  xo_operand k, v;
  xo_qparams qpk, qpv;
  xo_device_t dev;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOsiOOiOdOOd", names, &pq, &pk,
                                   &pv, &dev_name, &prec, &qk, &qv, &causal,
                                   &pwin, &softcap, &plen, &pmask, &scale))
    return NULL;
  xo_attn_params ap;
  memset(&ap, 0, sizeof ap);
  ap.scale = scale;
  ap.causal = causal;
  ap.softcap = softcap;
  if (pwin != Py_None) {
    long long l, r;
    if (!PyArg_ParseTuple(pwin, "LL", &l, &r)) return NULL;
    ap.has_window = 1;
    ap.window[0] = l;
    ap.window[1] = r;
  }
  if (to_tensor(pq, "q", &q) < 0 || to_operand(pk, qk, "k", &k, &qpk) < 0 ||
      to_operand(pv, qv, "v", &v, &qpv) < 0 ||
      (pmask != Py_None && to_tensor(pmask, "mask", &mask) < 0) ||
      find_device(dev_name, &dev) < 0)
    return NULL;
  if (plen != Py_None) {
    if (!PyArray_Check(plen) ||
        PyArray_TYPE((PyArrayObject *)plen) != NPY_INT64 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)plen) ||
        PyArray_NDIM((PyArrayObject *)plen) != 1 || q.ndim < 1 ||
        PyArray_DIM((PyArrayObject *)plen, 0) != q.shape[0]) {
      PyErr_SetString(PyExc_ValueError,
                      "internal: kv_lengths is a contiguous int64 [B] array");
      return NULL;
    }
    ap.kv_lengths = PyArray_DATA((PyArrayObject *)plen);
  }
  if (pmask != Py_None) ap.mask = &mask;
  if (q.ndim != 4 || v.t.ndim != 4) {
    PyErr_SetString(PyExc_ValueError, "internal: attention takes 4-d views");
    return NULL;
  }
  int64_t shape[4] = {q.shape[0], q.shape[1], q.shape[2], v.t.shape[3]};
  PyObject *out = new_output(4, shape, out_dtype(prec, 0));
  if (out == NULL) return NULL;
  if (to_tensor(out, "out", &to) < 0) {
    Py_DECREF(out);
    return NULL;
  }
  xo_op_info info;
  xo_status st;
  Py_BEGIN_ALLOW_THREADS st =
      xo_attention(dev, (xo_precision)prec, &q, &k, &v, &ap, &to, &info);
  Py_END_ALLOW_THREADS return finish(st, out, &info);
}

PyDoc_STRVAR(quantize_doc,
             "quantize(x, prec, granularity, axis, group_axis, group_size, "
             "symmetric) -> (q, scale, zero_point or None)");
static PyObject *py_quantize(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *px, *q = NULL, *scale = NULL, *zp = NULL;
  int prec, gran, axis, gaxis, sym;
  long long gsize;
  xo_tensor x;
  if (!PyArg_ParseTuple(args, "OiiiiLp", &px, &prec, &gran, &axis, &gaxis,
                        &gsize, &sym))
    return NULL;
  if (to_tensor(px, "x", &x) < 0) return NULL;
  xo_qspec spec = {
      (xo_precision)prec, (xo_qgranularity)gran, axis, gaxis, gsize, sym};
  int64_t ns;
  xo_status st = xo_quant_nscales(&x, &spec, &ns);
  if (st != XO_OK) return raise_status(st);
  npy_intp dims[XO_MAX_DIMS], nsd = (npy_intp)ns;
  for (int i = 0; i < x.ndim; i++) dims[i] = (npy_intp)x.shape[i];
  q = PyArray_ZEROS(x.ndim, dims, sym ? NPY_INT8 : NPY_UINT8, 0);
  scale = PyArray_ZEROS(1, &nsd, NPY_FLOAT32, 0);
  zp = sym ? Py_NewRef(Py_None) : PyArray_ZEROS(1, &nsd, NPY_INT32, 0);
  if (q == NULL || scale == NULL || zp == NULL) goto fail;
  int8_t *qd = PyArray_DATA((PyArrayObject *)q);
  float *sd = PyArray_DATA((PyArrayObject *)scale);
  int32_t *zd = sym ? NULL : PyArray_DATA((PyArrayObject *)zp);
  Py_BEGIN_ALLOW_THREADS st = xo_quantize(&x, &spec, qd, sd, zd);
  Py_END_ALLOW_THREADS if (st != XO_OK) {
    raise_status(st);
    goto fail;
  }
  return Py_BuildValue("(NNN)", q, scale, zp);
fail:
  Py_XDECREF(q);
  Py_XDECREF(scale);
  Py_XDECREF(zp);
  return NULL;
}

PyDoc_STRVAR(quantize_given_doc,
             "quantize_given(x, prec, granularity, axis, group_axis, "
             "group_size, scale, zero_point or None, lo, hi, unsigned) -> q"
             "\n\nONNX QuantizeLinear with the given float32 scales and int32 "
             "zero points: saturate(rint(x / scale) + zero_point) into "
             "[lo, hi]; q is int8, or uint8 when unsigned.");
static PyObject *py_quantize_given(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *px, *pscale, *pzp, *q;
  int prec, gran, axis, gaxis, lo, hi, is_unsigned;
  long long gsize;
  xo_tensor x, ts, tz;
  if (!PyArg_ParseTuple(args, "OiiiiLOOiip", &px, &prec, &gran, &axis, &gaxis,
                        &gsize, &pscale, &pzp, &lo, &hi, &is_unsigned))
    return NULL;
  if (to_tensor(px, "x", &x) < 0 || to_tensor(pscale, "scale", &ts) < 0 ||
      (pzp != Py_None && to_tensor(pzp, "zero_point", &tz) < 0))
    return NULL;
  if (ts.dtype != XO_DTYPE_F32 ||
      !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)pscale) ||
      (pzp != Py_None && (tz.dtype != XO_DTYPE_S32 ||
                          !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)pzp)))) {
    PyErr_SetString(PyExc_TypeError,
                    "internal: scale must be C-contiguous float32 and "
                    "zero_point int32");
    return NULL;
  }
  xo_qspec spec = {
      (xo_precision)prec, (xo_qgranularity)gran, axis, gaxis, gsize, 1};
  int64_t ns;
  xo_status st = xo_quant_nscales(&x, &spec, &ns);
  if (st != XO_OK) return raise_status(st);
  if (PyArray_SIZE((PyArrayObject *)pscale) != ns ||
      (pzp != Py_None && PyArray_SIZE((PyArrayObject *)pzp) != ns)) {
    PyErr_Format(PyExc_ValueError,
                 "scale and zero_point need %lld values for this layout",
                 (long long)ns);
    return NULL;
  }
  npy_intp dims[XO_MAX_DIMS];
  for (int i = 0; i < x.ndim; i++) dims[i] = (npy_intp)x.shape[i];
  q = PyArray_ZEROS(x.ndim, dims, is_unsigned ? NPY_UINT8 : NPY_INT8, 0);
  if (q == NULL) return NULL;
  int8_t *qd = PyArray_DATA((PyArrayObject *)q);
  const float *sd = ts.data;
  const int32_t *zd = pzp == Py_None ? NULL : tz.data;
  Py_BEGIN_ALLOW_THREADS st = xo_quantize_given(&x, &spec, sd, zd, lo, hi, qd);
  Py_END_ALLOW_THREADS if (st != XO_OK) {
    Py_DECREF(q);
    return raise_status(st);
  }
  return q;
}

PyDoc_STRVAR(
    convert_doc,
    "convert(x, target) -> contiguous array of the target format's "
    "bits: target 0 f64, 1 f32, 2 f16 (uint16), 3 bf16 (uint16), 4 fp8 "
    "(uint8).");
static PyObject *py_convert(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *px;
  int target;
  xo_tensor x;
  if (!PyArg_ParseTuple(args, "Oi", &px, &target)) return NULL;
  if (to_tensor(px, "x", &x) < 0) return NULL;
  static const int npy[] = {NPY_FLOAT64, NPY_FLOAT32, NPY_UINT16, NPY_UINT16,
                            NPY_UINT8};
  if (target < 0 || target > 4) {
    PyErr_SetString(PyExc_ValueError, "target must be 0..4");
    return NULL;
  }
  npy_intp dims[XO_MAX_DIMS];
  for (int i = 0; i < x.ndim; i++) dims[i] = (npy_intp)x.shape[i];
  PyObject *out = PyArray_ZEROS(x.ndim, dims, npy[target], 0);
  if (out == NULL) return NULL;
  xo_status st;
  void *od = PyArray_DATA((PyArrayObject *)out);
  Py_BEGIN_ALLOW_THREADS st = xo_convert(&x, (xo_dtype)target, od);
  Py_END_ALLOW_THREADS if (st != XO_OK) {
    Py_DECREF(out);
    return raise_status(st);
  }
  return out;
}

PyDoc_STRVAR(pack_int4_doc,
             "pack_int4(values int8/uint8 C-contiguous, unsigned) -> uint8 "
             "array of (n + 1) // 2 bytes, element 2i in the low nibble.");
static PyObject *py_pack_int4(PyObject *self, PyObject *args) {
  (void)self;
  PyArrayObject *a;
  int is_unsigned;
  if (!PyArg_ParseTuple(args, "O!p", &PyArray_Type, &a, &is_unsigned))
    return NULL;
  if (PyArray_ITEMSIZE(a) != 1 || !PyArray_IS_C_CONTIGUOUS(a)) {
    PyErr_SetString(PyExc_TypeError, "values must be C-contiguous int8/uint8");
    return NULL;
  }
  npy_intp n = PyArray_SIZE(a), nb = (n + 1) / 2;
  PyObject *out = PyArray_ZEROS(1, &nb, NPY_UINT8, 0);
  if (out == NULL) return NULL;
  xo_status st = xo_pack_int4(PyArray_DATA(a), n, is_unsigned,
                              PyArray_DATA((PyArrayObject *)out));
  if (st != XO_OK) {
    Py_DECREF(out);
    return raise_status(st);
  }
  return out;
}

PyDoc_STRVAR(unpack_int4_doc,
             "unpack_int4(packed uint8, n, unsigned) -> int8/uint8 array of n "
             "values.");
static PyObject *py_unpack_int4(PyObject *self, PyObject *args) {
  (void)self;
  PyArrayObject *a;
  Py_ssize_t n;
  int is_unsigned;
  if (!PyArg_ParseTuple(args, "O!np", &PyArray_Type, &a, &n, &is_unsigned))
    return NULL;
  if (PyArray_TYPE(a) != NPY_UINT8 || !PyArray_IS_C_CONTIGUOUS(a) || n < 0 ||
      PyArray_SIZE(a) < (n + 1) / 2) {
    PyErr_SetString(PyExc_ValueError,
                    "packed must be C-contiguous uint8 "
                    "with at least (n + 1) // 2 bytes");
    return NULL;
  }
  npy_intp dn = n;
  PyObject *out = PyArray_ZEROS(1, &dn, is_unsigned ? NPY_UINT8 : NPY_INT8, 0);
  if (out == NULL) return NULL;
  xo_status st = xo_unpack_int4(PyArray_DATA(a), n, is_unsigned,
                                PyArray_DATA((PyArrayObject *)out));
  if (st != XO_OK) {
    Py_DECREF(out);
    return raise_status(st);
  }
  return out;
}

static PyObject *py_devices(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  int n = xo_device_count();
  PyObject *list = PyList_New(0);
  if (list == NULL) return NULL;
  for (int i = 0; i < n; i++) {
    xo_device_desc d;
    if (xo_device_describe(i, &d) != XO_OK) continue;
    PyObject *prec = PyDict_New();
    if (prec == NULL) goto fail;
    for (int p = 0; p < XO_PREC_COUNT; p++) {
      if (d.precisions[p] == XO_SUPPORT_NONE) continue;
      PyObject *v = PyUnicode_FromString(
          d.precisions[p] == XO_SUPPORT_NATIVE ? "native" : "emulated");
      if (v == NULL ||
          PyDict_SetItemString(prec, xo_precision_name(p), v) < 0) {
        Py_XDECREF(v);
        Py_DECREF(prec);
        goto fail;
      }
      Py_DECREF(v);
    }
    /* precision -> the backend's own peak figure and its formula */
    PyObject *peak = PyDict_New();
    if (peak == NULL) {
      Py_DECREF(prec);
      goto fail;
    }
    for (int p = 0; p < XO_PREC_COUNT; p++) {
      const xo_peak *pk = &d.peak[p];
      if (!pk->source[0]) continue;
      PyObject *v = Py_BuildValue("{s:d,s:d,s:s,s:s}", "ops_per_cycle",
                                  pk->ops_per_cycle, "ops_per_s", pk->ops_per_s,
                                  "source", pk->source, "formula", pk->formula);
      if (v == NULL ||
          PyDict_SetItemString(peak, xo_precision_name(p), v) < 0) {
        Py_XDECREF(v);
        Py_DECREF(prec);
        Py_DECREF(peak);
        goto fail;
      }
      Py_DECREF(v);
    }
    PyObject *item = Py_BuildValue(
        "{s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:s,s:N,s:i,s:i,s:i,s:i,s:O,s:s,s:N,s:i,"
        "s:d,s:d,s:d}",
        "name", d.name, "backend", d.backend, "kind", d.kind, "full_name",
        d.full_name, "available", d.available ? Py_True : Py_False, "simulated",
        d.simulated ? Py_True : Py_False, "exact_integer",
        d.exact_integer ? Py_True : Py_False, "reason", d.reason, "precisions",
        prec, "compute_units", d.compute_units, "clock_mhz", d.clock_mhz,
        "vector_f32", d.vector_f32, "vector_i32", d.vector_i32,
        "follows_threads", d.follows_threads ? Py_True : Py_False, "threads",
        d.threads, "peak", peak, "peak_cores", d.peak_cores, "bandwidth_gbs",
        d.bandwidth_gbs, "model_utilisation", d.model_utilisation,
        "model_dispatch_s", d.model_dispatch_s);
    if (item == NULL || PyList_Append(list, item) < 0) {
      Py_XDECREF(item);
      goto fail;
    }
    Py_DECREF(item);
  }
  return list;
fail:
  Py_DECREF(list);
  return NULL;
}

static PyObject *py_set_library_path(PyObject *self, PyObject *args) {
  (void)self;
  const char *backend, *path;
  if (!PyArg_ParseTuple(args, "ss", &backend, &path)) return NULL;
  xo_status st = xo_set_library_path(backend, path);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

/* xo_cpu_features members by their /proc/cpuinfo names: what
 * cpu_features() reports and cpu_peak() takes. */
static const struct {
  const char *name;
  size_t offset;
} kFeatures[] = {
    {"avx2", offsetof(xo_cpu_features, avx2)},
    {"avx512f", offsetof(xo_cpu_features, avx512f)},
    {"avx512_bf16", offsetof(xo_cpu_features, avx512_bf16)},
    {"avx512_fp16", offsetof(xo_cpu_features, avx512_fp16)},
    {"avx512_vnni", offsetof(xo_cpu_features, avx512_vnni)},
    {"avx_vnni", offsetof(xo_cpu_features, avx_vnni)},
    {"amx_int8", offsetof(xo_cpu_features, amx_int8)},
    {"amx_bf16", offsetof(xo_cpu_features, amx_bf16)},
    {"amx_fp16", offsetof(xo_cpu_features, amx_fp16)},
};

PyDoc_STRVAR(cpu_peak_doc,
             "cpu_peak(flags, prec) -> (ops_per_cycle, formula): the core's "
             "table for a CPU with these /proc/cpuinfo flags (a set of "
             "names); (0.0, '') where no instruction qualifies.");
static PyObject *py_cpu_peak(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *flags;
  int prec;
  if (!PyArg_ParseTuple(args, "Oi", &flags, &prec)) return NULL;
  if (prec < 0 || prec >= XO_PREC_COUNT) {
    PyErr_SetString(PyExc_ValueError, "cpu_peak: unknown precision code");
    return NULL;
  }
  xo_cpu_features f;
  memset(&f, 0, sizeof f);
  for (size_t i = 0; i < sizeof kFeatures / sizeof kFeatures[0]; i++) {
    PyObject *key = PyUnicode_FromString(kFeatures[i].name);
    if (key == NULL) return NULL;
    int has = PySequence_Contains(flags, key);
    Py_DECREF(key);
    if (has < 0) return NULL;
    *(int *)((char *)&f + kFeatures[i].offset) = has;
  }
  xo_peak pk;
  xo_cpu_peak_of(&f, (xo_precision)prec, &pk);
  return Py_BuildValue("(ds)", pk.ops_per_cycle, pk.formula);
}

PyDoc_STRVAR(set_search_roots_doc,
             "set_search_roots(dirs): where Python wheels put files "
             "(site-packages, sys.prefix), for the backends to find their "
             "own libraries; before the first device query.");
static PyObject *py_set_search_roots(PyObject *self, PyObject *arg) {
  (void)self;
  PyObject *seq = PySequence_Fast(arg, "set_search_roots takes a sequence");
  if (seq == NULL) return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  const char *dirs[8];
  int k = 0;
  for (Py_ssize_t i = 0; i < n && k < 8; i++) {
    const char *d = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
    if (d == NULL) {
      Py_DECREF(seq);
      return NULL;
    }
    dirs[k++] = d;
  }
  xo_status st = xo_set_search_roots(dirs, k);
  Py_DECREF(seq);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

PyDoc_STRVAR(device_resolve_doc,
             "device_resolve(name, prec, shape_class=0) -> the name of the "
             "device `name` (a device or an alias) means for precision code "
             "`prec` (-1: any) and a problem of shape_class, by the "
             "registry's preference (xo_device_resolve_shape).");
static PyObject *py_device_resolve(PyObject *self, PyObject *args) {
  (void)self;
  const char *name;
  int prec, cls = XO_SHAPE_ANY;
  xo_device_t dev;
  xo_device_desc desc;
  if (!PyArg_ParseTuple(args, "si|i", &name, &prec, &cls)) return NULL;
  xo_status st = xo_device_resolve_shape(name, (xo_precision)prec, cls, &dev);
  if (st == XO_OK) st = xo_device_describe(xo_device_index(dev), &desc);
  if (st != XO_OK) return raise_status(st);
  return PyUnicode_FromString(desc.name);
}

PyDoc_STRVAR(npusim_add_chip_doc,
             "npusim_add_chip(slug, label, tops, gbs): a simulated NPU "
             "profile from a rated chip (the model's assumptions are "
             "npusim's own).");
static PyObject *py_npusim_add_chip(PyObject *self, PyObject *args) {
  (void)self;
  const char *slug, *label;
  double tops, gbs;
  if (!PyArg_ParseTuple(args, "ssdd", &slug, &label, &tops, &gbs)) return NULL;
  xo_status st = xo_npusim_add_chip(slug, label, tops, gbs);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

static PyObject *py_npusim_add_profile(PyObject *self, PyObject *args) {
  (void)self;
  const char *slug, *label;
  double tops, gbs, util, latency;
  if (!PyArg_ParseTuple(args, "ssdddd", &slug, &label, &tops, &gbs, &util,
                        &latency))
    return NULL;
  xo_status st = xo_npusim_add_profile(slug, label, tops, gbs, util, latency);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

static PyObject *py_quantize_multiplier(PyObject *self, PyObject *arg) {
  (void)self;
  double real = PyFloat_AsDouble(arg);
  if (real == -1.0 && PyErr_Occurred()) return NULL;
  int32_t mult;
  int shift;
  xo_status st = xo_quantize_multiplier(real, &mult, &shift);
  if (st != XO_OK) return raise_status(st);
  return Py_BuildValue("(ii)", (int)mult, shift);
}

static PyObject *py_requantize(PyObject *self, PyObject *args) {
  (void)self;
  long long acc;
  int mult, shift, zp, single;
  if (!PyArg_ParseTuple(args, "Liiip", &acc, &mult, &shift, &zp, &single))
    return NULL;
  if (acc < INT32_MIN || acc > INT32_MAX) {
    PyErr_SetString(PyExc_ValueError, "acc must fit in int32");
    return NULL;
  }
  return PyLong_FromLong(
      xo_requantize((int32_t)acc, (int32_t)mult, shift, zp, single));
}

static PyObject *py_set_num_threads(PyObject *self, PyObject *arg) {
  (void)self;
  long n = PyLong_AsLong(arg);
  if (n == -1 && PyErr_Occurred()) return NULL;
  if (n < 1 || n > 4096) {
    PyErr_Format(PyExc_ValueError, "n must be between 1 and 4096, got %ld", n);
    return NULL;
  }
  xo_status st = xo_set_num_threads((int)n);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

static PyObject *py_get_num_threads(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  return PyLong_FromLong(xo_get_num_threads());
}

static PyObject *py_measure_clock(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  double ghz = 0;
  xo_status st;
  Py_BEGIN_ALLOW_THREADS st = xo_measure_clock(&ghz);
  Py_END_ALLOW_THREADS if (st != XO_OK) return raise_status(st);
  return PyFloat_FromDouble(ghz);
}

static PyObject *py_check_accumulator(PyObject *self, PyObject *args) {
  (void)self;
  long long k;
  int amag, bmag;
  const char *what;
  if (!PyArg_ParseTuple(args, "Liis", &k, &amag, &bmag, &what)) return NULL;
  xo_status st = xo_check_accumulator(k, amag, bmag, what);
  if (st != XO_OK) return raise_status(st);
  Py_RETURN_NONE;
}

static PyObject *py_memory_available(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  return PyLong_FromLongLong(xo_memory_available());
}

static PyObject *py_cpu_features(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  xo_cpu_features f = xo_cpu_features_get();
  PyObject *d = PyDict_New();
  for (size_t i = 0; d && i < sizeof kFeatures / sizeof kFeatures[0]; i++) {
    int has = *(const int *)((const char *)&f + kFeatures[i].offset);
    if (PyDict_SetItemString(d, kFeatures[i].name, has ? Py_True : Py_False)) {
      Py_CLEAR(d);
    }
  }
  return d;
}

static PyObject *py_measure_bandwidth(PyObject *self, PyObject *args) {
  (void)self;
  long long bytes;
  int threads;
  if (!PyArg_ParseTuple(args, "Li", &bytes, &threads)) return NULL;
  double bps = 0;
  xo_status st;
  Py_BEGIN_ALLOW_THREADS st = xo_measure_bandwidth(bytes, threads, &bps);
  Py_END_ALLOW_THREADS if (st != XO_OK) return raise_status(st);
  return PyFloat_FromDouble(bps);
}

static PyObject *py_cache_stats(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  xo_cache_stats s;
  xo_cache_stats_get(&s);
  return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L}", "plans_created",
                       (long long)s.plans_created, "hits", (long long)s.hits,
                       "evictions", (long long)s.evictions, "entries",
                       (long long)s.entries, "capacity", (long long)s.capacity);
}

static PyObject *py_cache_clear(PyObject *self, PyObject *noargs) {
  (void)self;
  (void)noargs;
  xo_cache_clear();
  Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"matmul", (PyCFunction)(void (*)(void))py_matmul,
     METH_VARARGS | METH_KEYWORDS, matmul_doc},
    {"matmul_fast", (PyCFunction)(void (*)(void))py_matmul_fast, METH_FASTCALL,
     matmul_fast_doc},
    {"fast_register", py_fast_register, METH_VARARGS, fast_register_doc},
    {"matmul_shape_class", py_matmul_shape_class, METH_VARARGS,
     shape_class_doc},
    {"last_info", py_last_info, METH_NOARGS, last_info_doc},
    {"conv2d", (PyCFunction)(void (*)(void))py_conv2d,
     METH_VARARGS | METH_KEYWORDS, conv2d_doc},
    {"attention", (PyCFunction)(void (*)(void))py_attention,
     METH_VARARGS | METH_KEYWORDS, attention_doc},
    {"quantize", py_quantize, METH_VARARGS, quantize_doc},
    {"quantize_given", py_quantize_given, METH_VARARGS, quantize_given_doc},
    {"convert", py_convert, METH_VARARGS, convert_doc},
    {"pack_int4", py_pack_int4, METH_VARARGS, pack_int4_doc},
    {"unpack_int4", py_unpack_int4, METH_VARARGS, unpack_int4_doc},
    {"devices", py_devices, METH_NOARGS, "Every device entry as a dict."},
    {"set_library_path", py_set_library_path, METH_VARARGS,
     "set_library_path(backend, path): where a backend's library is; before "
     "the first device query."},
    {"cpu_peak", py_cpu_peak, METH_VARARGS, cpu_peak_doc},
    {"device_resolve", py_device_resolve, METH_VARARGS, device_resolve_doc},
    {"set_search_roots", py_set_search_roots, METH_O, set_search_roots_doc},
    {"npusim_add_chip", py_npusim_add_chip, METH_VARARGS, npusim_add_chip_doc},
    {"npusim_add_profile", py_npusim_add_profile, METH_VARARGS,
     "npusim_add_profile(slug, label, tops, gbs, utilisation, latency_s)."},
    {"quantize_multiplier", py_quantize_multiplier, METH_O,
     "quantize_multiplier(real) -> (multiplier, shift), TFLite's rule."},
    {"requantize", py_requantize, METH_VARARGS,
     "requantize(acc, multiplier, shift, zero_point, single_rounding) -> "
     "int8 value."},
    {"set_num_threads", py_set_num_threads, METH_O,
     "One thread count for every CPU-side pool."},
    {"get_num_threads", py_get_num_threads, METH_NOARGS,
     "The thread count set_num_threads set."},
    {"measure_clock", py_measure_clock, METH_NOARGS,
     "Sustained clock of one core in GHz (dependent-add chain)."},
    {"check_accumulator", py_check_accumulator, METH_VARARGS,
     "check_accumulator(k, amag, bmag, what): ValueError unless k * amag * "
     "bmag fits an s32 accumulator (the core's own check and message)."},
    {"memory_available", py_memory_available, METH_NOARGS,
     "Bytes of memory the system can give now (MemAvailable); 0: unknown."},
    {"cpu_features", py_cpu_features, METH_NOARGS,
     "ISA features the core detected (CPUID + XCR0), named as in "
     "/proc/cpuinfo."},
    {"measure_bandwidth", py_measure_bandwidth, METH_VARARGS,
     "measure_bandwidth(bytes, threads) -> read bandwidth in bytes/s."},
    {"cache_stats", py_cache_stats, METH_NOARGS, "Plan cache counters."},
    {"cache_clear", py_cache_clear, METH_NOARGS, "Drop idle cached plans."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "xpuops._core",
                                    "The xpuops C core.",
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__core(void) {
  import_array();
  PyObject *m = PyModule_Create(&module);
  if (m == NULL) return NULL;
  UnsupportedError = PyErr_NewExceptionWithDoc(
      "xpuops.UnsupportedError",
      "The device cannot run this op in this precision; the message names "
      "the devices that can.",
      PyExc_NotImplementedError, NULL);
  DeviceUnavailableError = PyErr_NewExceptionWithDoc(
      "xpuops.DeviceUnavailableError",
      "The device exists in this build but is not usable on this machine; "
      "the message says why.",
      PyExc_RuntimeError, NULL);
  if (UnsupportedError == NULL || DeviceUnavailableError == NULL ||
      PyModule_AddObjectRef(m, "UnsupportedError", UnsupportedError) < 0 ||
      PyModule_AddObjectRef(m, "DeviceUnavailableError",
                            DeviceUnavailableError) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  PyModule_AddIntConstant(m, "MAX_DIMS", XO_MAX_DIMS);
  PyModule_AddIntConstant(m, "Q_TENSOR", XO_Q_TENSOR);
  PyModule_AddIntConstant(m, "Q_AXIS", XO_Q_AXIS);
  PyModule_AddIntConstant(m, "Q_GROUP", XO_Q_GROUP);
  /* the precision names in the order of xo_precision: Python never retypes
   * the enum */
  PyObject *names = PyTuple_New(XO_PREC_COUNT);
  if (names == NULL) {
    Py_DECREF(m);
    return NULL;
  }
  for (int i = 0; i < XO_PREC_COUNT; i++)
    PyTuple_SET_ITEM(names, i,
                     PyUnicode_FromString(xo_precision_name((xo_precision)i)));
  if (PyModule_AddObject(m, "PRECISIONS", names) < 0) {
    Py_DECREF(names);
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
