// edge-infer's own C shim over llama.cpp: C forms of C++-only APIs, and exception-catching
// wrappers of the llama.h entry points that can throw. A C++ exception must never cross
// into Rust (it would abort the process, or worse), so the safe crate calls these instead
// of the plain entry points.
//
// Conventions: a wrapper returns 0 when the call completed and writes the call's own
// result to its out-pointer; it returns -1 when llama.cpp threw, and then writes the
// exception's message (NUL-terminated, truncated to err_len) to err. err may be NULL.
#pragma once
#include <stddef.h>
#include <stdint.h>
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
// *token, or -1 and writes the exception's message to err.
int edge_llama_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx,
                              int32_t idx, llama_token * token, char * err, size_t err_len);

// llama_sampler_accept on a chain. With a grammar sampler (a member of the chain, or NULL),
// the token is first offered to the grammar as a one-token candidate list: if the grammar
// would not let sampling pick it, nothing is accepted and 1 is returned. (Accepting such a
// token throws inside llama.cpp after emptying the grammar's stacks, and an end-of-generation
// token before the grammar is complete hits GGML_ABORT.) The id must be in the vocabulary.
// Returns 0 when accepted, 1 when the grammar refuses, -1 if llama.cpp threw.
int edge_llama_sampler_accept(struct llama_sampler * chain, struct llama_sampler * grammar,
                              llama_token token, char * err, size_t err_len);

// llama_init_from_model, or llama_init_from_model_kv_layers when type_k is not NULL
// (type_k and type_v then hold n_layer entries). *ctx is NULL when llama.cpp refused
// (the reason is logged).
int edge_llama_init_from_model(struct llama_model * model, struct llama_context_params params,
                               const enum ggml_type * type_k, const enum ggml_type * type_v,
                               size_t n_layer, struct llama_context ** ctx,
                               char * err, size_t err_len);

// llama_decode; *ret is its return value.
int edge_llama_decode(struct llama_context * ctx, struct llama_batch batch, int32_t * ret,
                      char * err, size_t err_len);

// llama_tokenize; *n_tokens is its return value.
int edge_llama_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                        llama_token * tokens, int32_t n_tokens_max, bool add_special,
                        bool parse_special, int32_t * n_tokens, char * err, size_t err_len);

// llama_token_to_piece; *n is its return value.
int edge_llama_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf,
                              int32_t length, int32_t lstrip, bool special, int32_t * n,
                              char * err, size_t err_len);

// llama_detokenize; *n is its return value.
int edge_llama_detokenize(const struct llama_vocab * vocab, const llama_token * tokens,
                          int32_t n_tokens, char * text, int32_t text_len_max,
                          bool remove_special, bool unparse_special, int32_t * n,
                          char * err, size_t err_len);

// llama_state_seq_get_data; *written is its return value.
int edge_llama_state_seq_get_data(struct llama_context * ctx, uint8_t * dst, size_t size,
                                  llama_seq_id seq_id, size_t * written,
                                  char * err, size_t err_len);

// llama_state_seq_set_data; *read is its return value (0 when refused).
int edge_llama_state_seq_set_data(struct llama_context * ctx, const uint8_t * src, size_t size,
                                  llama_seq_id dest_seq_id, size_t * read,
                                  char * err, size_t err_len);

// llama_chat_apply_template; *n is its return value.
int edge_llama_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat,
                                   size_t n_msg, bool add_ass, char * buf, int32_t length,
                                   int32_t * n, char * err, size_t err_len);

#ifdef __cplusplus
}
#endif
