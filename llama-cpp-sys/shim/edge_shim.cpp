#include "edge_shim.h"
#include "llama-ext.h"

#include <cstring>
#include <exception>

extern "C" int edge_llama_memory_breakdown(const struct llama_context * ctx,
                                           size_t * model, size_t * context, size_t * compute) {
    // Never let a C++ exception cross into Rust.
    try {
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
        return 0;
    } catch (...) {
        return -1;
    }
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

static void copy_message(char * err, size_t err_len, const char * msg) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    std::strncpy(err, msg, err_len - 1);
    err[err_len - 1] = '\0';
}

extern "C" int edge_llama_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx,
                                         int32_t idx, llama_token * token, char * err, size_t err_len) {
    try {
        *token = llama_sampler_sample(smpl, ctx, idx);
        return 0;
    } catch (const std::exception & e) {
        copy_message(err, err_len, e.what());
    } catch (...) {
        copy_message(err, err_len, "unknown C++ exception");
    }
    return -1;
}
