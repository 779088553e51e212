/* ov_signature_check.c - compiled by tests/test_openvino.py against the
 * installed wheel's real openvino/c/openvino.h: every function the backend
 * declares itself (ov_api.h) must have the type OpenVINO declares, or the
 * compiler stops here. Not part of the library. */
#define XO_OV_REAL_HEADER
#include "ov_api.h"

#define CHECK(member, fn) __typeof__(((ov_api *)0)->member) check_##member = fn;

CHECK(core_create, ov_core_create)
CHECK(core_free, ov_core_free)
CHECK(core_get_available_devices, ov_core_get_available_devices)
CHECK(available_devices_free, ov_available_devices_free)
CHECK(core_get_property, ov_core_get_property)
CHECK(free, ov_free)
CHECK(core_read_model_from_memory_buffer, ov_core_read_model_from_memory_buffer)
CHECK(core_compile_model, ov_core_compile_model)
CHECK(compiled_model_create_infer_request,
      ov_compiled_model_create_infer_request)
CHECK(infer_request_set_input_tensor_by_index,
      ov_infer_request_set_input_tensor_by_index)
CHECK(infer_request_set_output_tensor_by_index,
      ov_infer_request_set_output_tensor_by_index)
CHECK(infer_request_infer, ov_infer_request_infer)
CHECK(tensor_create_from_host_ptr, ov_tensor_create_from_host_ptr)
CHECK(tensor_free, ov_tensor_free)
CHECK(shape_create, ov_shape_create)
CHECK(shape_free, ov_shape_free)
CHECK(model_free, ov_model_free)
CHECK(compiled_model_free, ov_compiled_model_free)
CHECK(infer_request_free, ov_infer_request_free)
CHECK(get_last_err_msg, ov_get_last_err_msg)

_Static_assert((int)F16 == (int)XO_OV_F16 && (int)F32 == (int)XO_OV_F32 &&
                   (int)I8 == (int)XO_OV_I8 && (int)U8 == 16,
               "ov_element_type_e values moved");
_Static_assert(OK == 0, "ov_status_e OK moved");
_Static_assert(sizeof(ov_shape_t) == 2 * sizeof(void *), "ov_shape_t layout");
