/* ir.h - a small builder of OpenVINO IR v11 (XML text + weights buffer). */
#ifndef XO_OV_IR_H
#define XO_OV_IR_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/internal.h"

enum { IR_MAX_RANK = 6 };

/* An output port of a layer: where an edge starts, and what flows on it. */
typedef struct ir_port {
  int layer, port;
  const char *et; /* "f32", "f16", "i8", "i64" */
  int rank;
  int64_t dims[IR_MAX_RANK];
} ir_port;

typedef struct ir {
  char *layers, *edges;
  size_t nlayers, nedges, cap_layers, cap_edges;
  uint8_t *weights;
  size_t nweights, cap_weights;
  int next_id;
  int failed; /* an allocation failed: the IR is unusable */
} ir;

/* A shape: rank and dims. */
ir_port ir_shape(const char *et, int rank, const int64_t *dims);

ir_port ir_param(ir *g, const char *et, int rank, const int64_t *dims);
/* A constant holding bytes of data (copied into the weights buffer). */
ir_port ir_const(ir *g, const char *et, int rank, const int64_t *dims,
                 const void *data, size_t bytes);
/* An op with inputs and one output described by out; attrs is the inner
 * text of its <data .../> element, or NULL. */
ir_port ir_op(ir *g, const char *type, const char *version, const char *attrs,
              const ir_port *in, int nin, ir_port out);
void ir_result(ir *g, ir_port in);
/* The XML (owned by the caller) and the weights (owned by g). */
xo_status ir_finish(ir *g, char **xml, size_t *len);
void ir_free(ir *g);

#endif /* XO_OV_IR_H */
