#include "edge_shim.h"
#include "llama-ext.h"

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
