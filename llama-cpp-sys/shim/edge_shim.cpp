#include "edge_shim.h"
#include "llama-ext.h"

#include <cmath>
#include <cstring>
#include <exception>

static void copy_message(char * err, size_t err_len, const char * msg) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    std::strncpy(err, msg, err_len - 1);
    err[err_len - 1] = '\0';
}

// Runs `f`, turning any C++ exception into -1 and its message in `err`.
template <typename F>
static int guarded(char * err, size_t err_len, F && f) {
    try {
        f();
        return 0;
    } catch (const std::exception & e) {
        copy_message(err, err_len, e.what());
    } catch (...) {
        copy_message(err, err_len, "unknown C++ exception");
    }
    return -1;
}

extern "C" int edge_llama_memory_breakdown(const struct llama_context * ctx,
                                           size_t * model, size_t * context, size_t * compute) {
    return guarded(nullptr, 0, [&] {
        size_t m = 0, c = 0, k = 0;
        for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
            (void) buft;
            m += mb.model;
            c += mb.context;
            k += mb.compute;
        }
        *model = m;
        *context = c;
        *compute = k;
    });
}

extern "C" struct llama_sampler * edge_llama_sampler_init_grammar(const struct llama_vocab * vocab,
                                                                  const char * grammar_str,
                                                                  const char * grammar_root) {
    try {
        return llama_sampler_init_grammar(vocab, grammar_str, grammar_root);
    } catch (...) {
        return nullptr;
    }
}

extern "C" int edge_llama_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx,
                                         int32_t idx, llama_token * token, char * err, size_t err_len) {
    return guarded(err, err_len, [&] { *token = llama_sampler_sample(smpl, ctx, idx); });
}

extern "C" int edge_llama_sampler_accept(struct llama_sampler * chain, struct llama_sampler * grammar,
                                         llama_token token, char * err, size_t err_len) {
    bool refused = false;
    const int rc = guarded(err, err_len, [&] {
        if (grammar != nullptr) {
            // Applying only filters the candidates; the grammar's state is untouched.
            llama_token_data data = { token, 0.0f, 0.0f };
            llama_token_data_array cur = { &data, 1, -1, false };
            llama_sampler_apply(grammar, &cur);
            if (std::isinf(data.logit) && data.logit < 0) {
                refused = true;
                return;
            }
        }
        llama_sampler_accept(chain, token);
    });
    return rc == 0 && refused ? 1 : rc;
}

extern "C" int edge_llama_init_from_model(struct llama_model * model, struct llama_context_params params,
                                          const enum ggml_type * type_k, const enum ggml_type * type_v,
                                          size_t n_layer, struct llama_context ** ctx,
                                          char * err, size_t err_len) {
    *ctx = nullptr;
    return guarded(err, err_len, [&] {
        *ctx = type_k != nullptr
            ? llama_init_from_model_kv_layers(model, params, type_k, type_v, n_layer)
            : llama_init_from_model(model, params);
    });
}

extern "C" int edge_llama_decode(struct llama_context * ctx, struct llama_batch batch, int32_t * ret,
                                 char * err, size_t err_len) {
    return guarded(err, err_len, [&] { *ret = llama_decode(ctx, batch); });
}

extern "C" int edge_llama_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                                   llama_token * tokens, int32_t n_tokens_max, bool add_special,
                                   bool parse_special, int32_t * n_tokens, char * err, size_t err_len) {
    return guarded(err, err_len, [&] {
        *n_tokens = llama_tokenize(vocab, text, text_len, tokens, n_tokens_max, add_special, parse_special);
    });
}

extern "C" int edge_llama_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf,
                                         int32_t length, int32_t lstrip, bool special, int32_t * n,
                                         char * err, size_t err_len) {
    return guarded(err, err_len, [&] { *n = llama_token_to_piece(vocab, token, buf, length, lstrip, special); });
}

extern "C" int edge_llama_detokenize(const struct llama_vocab * vocab, const llama_token * tokens,
                                     int32_t n_tokens, char * text, int32_t text_len_max,
                                     bool remove_special, bool unparse_special, int32_t * n,
                                     char * err, size_t err_len) {
    return guarded(err, err_len, [&] {
        *n = llama_detokenize(vocab, tokens, n_tokens, text, text_len_max, remove_special, unparse_special);
    });
}

extern "C" int edge_llama_state_seq_get_data(struct llama_context * ctx, uint8_t * dst, size_t size,
                                             llama_seq_id seq_id, size_t * written,
                                             char * err, size_t err_len) {
    *written = 0;
    return guarded(err, err_len, [&] { *written = llama_state_seq_get_data(ctx, dst, size, seq_id); });
}

extern "C" int edge_llama_state_seq_set_data(struct llama_context * ctx, const uint8_t * src, size_t size,
                                             llama_seq_id dest_seq_id, size_t * read,
                                             char * err, size_t err_len) {
    *read = 0;
    return guarded(err, err_len, [&] { *read = llama_state_seq_set_data(ctx, src, size, dest_seq_id); });
}

extern "C" int edge_llama_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat,
                                              size_t n_msg, bool add_ass, char * buf, int32_t length,
                                              int32_t * n, char * err, size_t err_len) {
    return guarded(err, err_len, [&] { *n = llama_chat_apply_template(tmpl, chat, n_msg, add_ass, buf, length); });
}
