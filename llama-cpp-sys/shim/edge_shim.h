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

// llama_sampler_init_grammar, returning NULL instead of throwing.
struct llama_sampler * edge_llama_sampler_init_grammar(const struct llama_vocab * vocab,
                                                       const char * grammar_str,
                                                       const char * grammar_root);

// llama_sampler_sample, which throws when a grammar allows no token. Returns 0 and sets
// *token, or -1 and writes the exception's message (NUL-terminated, truncated) to err.
int edge_llama_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx,
                              int32_t idx, llama_token * token, char * err, size_t err_len);

#ifdef __cplusplus
}
#endif
