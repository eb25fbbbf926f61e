// edge-infer's own C shim over llama.cpp C++ APIs that have no C form yet.
#pragma once
#include <stddef.h>
#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

// Memory that llama.cpp accounts to a context, summed over buffer types (bytes):
// the model's weights, the context's own memory (KV cache / recurrent state) and the
// compute buffers. Returns 0 on success, -1 if llama.cpp threw.
int edge_llama_memory_breakdown(const struct llama_context * ctx,
                                size_t * model, size_t * context, size_t * compute);

#ifdef __cplusplus
}
#endif
