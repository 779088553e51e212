/* simd_attention.h - private to the simd backend: the attention op's entry
 * (simd_attention.c), filled into simd.c's table. */
#ifndef XO_SIMD_ATTENTION_H
#define XO_SIMD_ATTENTION_H

#include "simd.h"

/* XO_OK for fp32, bf16 and int8 attention with the fields this file
 * handles; XO_ERR_UNSUPPORTED naming what it does not. */
xo_status xo_simd_attention_supports(int index, const xo_problem *p);
/* Chooses the kernel for the CPU's ISA levels under XPUOPS_MAX_ISA. */
xo_status xo_simd_attention_plan(void *plan);
/* Runs the plan's kernel on xo_get_num_threads() OpenMP threads. */
xo_status xo_simd_attention_run(void *plan, const xo_args *args,
                                xo_run_stats *stats);

/* Query rows at or below which the split-K decode kernel runs. */
enum { XO_SIMD_DECODE_LQ = 16 };

#endif /* XO_SIMD_ATTENTION_H */
