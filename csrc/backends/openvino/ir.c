/* ir.c - OpenVINO IR v11 written by hand: layers with typed, shaped ports,
 * edges between them, constants in one weights buffer. Enough for the
 * graphs this backend emits (Parameter, Const, Convert, arithmetic,
 * MatMul, (Group)Convolution, Reshape, Broadcast, Tanh, SoftMax, SDPA,
 * Result). */
#include "ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(ir *g, char **buf, size_t *len, size_t *cap, const char *fmt,
                   ...) {
  if (g->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = *cap - *len;
    int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      g->failed = 1;
      return;
    }
    if (*buf && (size_t)n < room) {
      *len += (size_t)n;
      return;
    }
    size_t want = (*cap ? *cap * 2 : 4096) + (size_t)n;
    char *p = realloc(*buf, want);
    if (p == NULL) {
      g->failed = 1;
      return;
    }
    *buf = p;
    *cap = want;
  }
}

#define LAYER(...) \
  append(g, &g->layers, &g->nlayers, &g->cap_layers, __VA_ARGS__)
#define EDGE(...) append(g, &g->edges, &g->nedges, &g->cap_edges, __VA_ARGS__)

ir_port ir_shape(const char *et, int rank, const int64_t *dims) {
  ir_port p = {.et = et, .rank = rank};
  for (int i = 0; i < rank; i++) p.dims[i] = dims[i];
  return p;
}

static const char *precision_of(const char *et) {
  return strcmp(et, "f32") == 0   ? "FP32"
         : strcmp(et, "f16") == 0 ? "FP16"
         : strcmp(et, "i8") == 0  ? "I8"
                                  : "I64";
}

static void port_xml(ir *g, int id, const ir_port *p, int with_precision) {
  if (with_precision)
    LAYER("<port id=\"%d\" precision=\"%s\">", id, precision_of(p->et));
  else
    LAYER("<port id=\"%d\">", id);
  for (int i = 0; i < p->rank; i++)
    LAYER("<dim>%lld</dim>", (long long)p->dims[i]);
  LAYER("</port>");
}

static void shape_attr(ir *g, const ir_port *p) {
  LAYER(" shape=\"");
  for (int i = 0; i < p->rank; i++)
    LAYER("%s%lld", i ? "," : "", (long long)p->dims[i]);
  LAYER("\"");
}

ir_port ir_param(ir *g, const char *et, int rank, const int64_t *dims) {
  ir_port out = ir_shape(et, rank, dims);
  out.layer = g->next_id++;
  out.port = 0;
  LAYER(
      "<layer id=\"%d\" name=\"in%d\" type=\"Parameter\" version=\"opset1\">"
      "<data element_type=\"%s\"",
      out.layer, out.layer, et);
  shape_attr(g, &out);
  LAYER("/><output>");
  port_xml(g, 0, &out, 1);
  LAYER("</output></layer>\n");
  return out;
}

ir_port ir_const(ir *g, const char *et, int rank, const int64_t *dims,
                 const void *data, size_t bytes) {
  ir_port out = ir_shape(et, rank, dims);
  out.layer = g->next_id++;
  out.port = 0;
  size_t offset = (g->nweights + 63) & ~(size_t)63; /* aligned constants */
  if (!g->failed && offset + bytes > g->cap_weights) {
    size_t want = (offset + bytes) * 2 + 4096;
    uint8_t *p = realloc(g->weights, want);
    if (p == NULL)
      g->failed = 1;
    else {
      g->weights = p;
      g->cap_weights = want;
    }
  }
  if (!g->failed) {
    /* guarded: weights is still NULL for a first, empty constant */
    if (offset > g->nweights)
      memset(g->weights + g->nweights, 0, offset - g->nweights);
    if (bytes) memcpy(g->weights + offset, data, bytes);
    g->nweights = offset + bytes;
  }
  LAYER(
      "<layer id=\"%d\" name=\"c%d\" type=\"Const\" version=\"opset1\">"
      "<data element_type=\"%s\"",
      out.layer, out.layer, et);
  shape_attr(g, &out);
  LAYER(" offset=\"%zu\" size=\"%zu\"/><output>", offset, bytes);
  port_xml(g, 0, &out, 1);
  LAYER("</output></layer>\n");
  return out;
}

ir_port ir_op(ir *g, const char *type, const char *version, const char *attrs,
              const ir_port *in, int nin, ir_port out) {
  out.layer = g->next_id++;
  out.port = nin;
  LAYER("<layer id=\"%d\" name=\"op%d\" type=\"%s\" version=\"%s\">", out.layer,
        out.layer, type, version);
  if (attrs) LAYER("<data %s/>", attrs);
  LAYER("<input>");
  for (int i = 0; i < nin; i++) {
    port_xml(g, i, &in[i], 0);
    EDGE(
        "<edge from-layer=\"%d\" from-port=\"%d\" to-layer=\"%d\" "
        "to-port=\"%d\"/>\n",
        in[i].layer, in[i].port, out.layer, i);
  }
  LAYER("</input><output>");
  port_xml(g, nin, &out, 1);
  LAYER("</output></layer>\n");
  return out;
}

void ir_result(ir *g, ir_port in) {
  int id = g->next_id++;
  LAYER(
      "<layer id=\"%d\" name=\"out%d\" type=\"Result\" version=\"opset1\">"
      "<input>",
      id, id);
  port_xml(g, 0, &in, 0);
  LAYER("</input></layer>\n");
  EDGE(
      "<edge from-layer=\"%d\" from-port=\"%d\" to-layer=\"%d\" "
      "to-port=\"0\"/>\n",
      in.layer, in.port, id);
}

xo_status ir_finish(ir *g, char **xml, size_t *len) {
  *xml = NULL;
  char *out = NULL;
  size_t n = 0, cap = 0;
  append(g, &out, &n, &cap,
         "<?xml version=\"1.0\"?>\n<net name=\"xpuops\" version=\"11\">\n"
         "<layers>\n%s</layers>\n<edges>\n%s</edges>\n</net>\n",
         g->layers ? g->layers : "", g->edges ? g->edges : "");
  if (g->failed) {
    free(out);
    return xo_fail(XO_ERR_NO_MEMORY, "openvino: no memory for the IR");
  }
  *xml = out;
  *len = n;
  return XO_OK;
}

void ir_free(ir *g) {
  free(g->layers);
  free(g->edges);
  free(g->weights);
  memset(g, 0, sizeof *g);
}
