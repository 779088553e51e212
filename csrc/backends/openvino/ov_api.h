/* ov_api.h - the few OpenVINO C API functions this backend calls, declared
 * here (as in openvino/c/openvino.h) so the build never needs the wheel;
 * libopenvino_c.so is dlopen'ed at run time. tests/ compile a check against
 * the wheel's real header to catch signature drift (ov_signature_check.c). */
#ifndef XO_OV_API_H
#define XO_OV_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef XO_OV_REAL_HEADER
/* the signature check: the same table, typed with OpenVINO's own types */
#include <openvino/c/openvino.h>
typedef ov_element_type_e xo_ov_element_type;
#else
typedef int ov_status_e; /* OK = 0, errors < 0 */
typedef int xo_ov_element_type;
typedef struct ov_core ov_core_t;
typedef struct ov_model ov_model_t;
typedef struct ov_compiled_model ov_compiled_model_t;
typedef struct ov_infer_request ov_infer_request_t;
typedef struct ov_tensor ov_tensor_t;

typedef struct {
  int64_t rank;
  int64_t *dims;
} ov_shape_t;

typedef struct {
  char **devices;
  size_t size;
} ov_available_devices_t;
#endif

/* ov_element_type_e values used here */
enum { XO_OV_F16 = 3, XO_OV_F32 = 4, XO_OV_I8 = 7 };

typedef struct ov_api {
  ov_status_e (*core_create)(ov_core_t **);
  void (*core_free)(ov_core_t *);
  ov_status_e (*core_get_available_devices)(const ov_core_t *,
                                            ov_available_devices_t *);
  void (*available_devices_free)(ov_available_devices_t *);
  ov_status_e (*core_get_property)(const ov_core_t *, const char *,
                                   const char *, char **);
  void (*free)(const char *);
  ov_status_e (*core_read_model_from_memory_buffer)(const ov_core_t *,
                                                    const char *, size_t,
                                                    const ov_tensor_t *,
                                                    ov_model_t **);
  /* variadic: property_args_size key/value strings follow */
  ov_status_e (*core_compile_model)(const ov_core_t *, const ov_model_t *,
                                    const char *, size_t,
                                    ov_compiled_model_t **, ...);
  ov_status_e (*compiled_model_create_infer_request)(
      const ov_compiled_model_t *, ov_infer_request_t **);
  ov_status_e (*infer_request_set_input_tensor_by_index)(ov_infer_request_t *,
                                                         size_t,
                                                         const ov_tensor_t *);
  ov_status_e (*infer_request_set_output_tensor_by_index)(ov_infer_request_t *,
                                                          size_t,
                                                          const ov_tensor_t *);
  ov_status_e (*infer_request_infer)(ov_infer_request_t *);
  ov_status_e (*tensor_create_from_host_ptr)(xo_ov_element_type, ov_shape_t,
                                             void *, ov_tensor_t **);
  void (*tensor_free)(ov_tensor_t *);
  ov_status_e (*shape_create)(int64_t, const int64_t *, ov_shape_t *);
  ov_status_e (*shape_free)(ov_shape_t *);
  void (*model_free)(ov_model_t *);
  void (*compiled_model_free)(ov_compiled_model_t *);
  void (*infer_request_free)(ov_infer_request_t *);
  const char *(*get_last_err_msg)(void);
} ov_api;

#endif /* XO_OV_API_H */
