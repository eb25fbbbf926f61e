/*
 * edge-infer RKLLM TEST DOUBLE: a fake librkllmrt.so.
 *
 * This is NOT Rockchip's NPU runtime and runs no model. It implements the RKLLM
 * C ABI (1.2.x or 1.3.x, chosen with TD_ABI_MINOR) as described in
 * shared/rkllm/ABI.md so that the Rust binding can be tested on machines without
 * an NPU. It reads tiny "fake model" files (see ../src/lib.rs) and streams a
 * deterministic reply.
 *
 * Where ABI.md states how the real runtime behaves, the double does the same by
 * default: the version only in init's log lines (the binary holds a %s format, no
 * version literal), an abort that takes 1.3 s to take effect, logits and hidden-state
 * runs that call back until the callback returns 1, a bad input that returns 0 and
 * never calls back (run_async), rkllm_createDefaultParam leaving reserved bytes and
 * padding unwritten, init's error lines for a too-large context, another target
 * platform or a runtime older than the toolkit, 1.3.0's "driver too low" warning
 * followed by failing runs, and 1.2.1's run_async that never returns. Where the real
 * behaviour is unknown, a key of the fake model file selects the variant (see lib.rs).
 */
#define _GNU_SOURCE
#include "td_abi.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TD_VERSION
#error "define TD_VERSION, e.g. \"1.3.0\""
#endif

#define API __attribute__((visibility("default")))
#define TD_MAGIC 0x7E57D0B1u
#define TD_FILE_MAGIC "RKLLM-TEST-DOUBLE\n"
#define TD_CACHE_MAGIC "RKLLM-TEST-DOUBLE-PROMPT-CACHE\n"
#define TD_MAX_LORA 8
#define TD_MAX_BATCH 8

#ifdef TD_MARKER
/* Identifies the double to edge-infer-rkllm (never a version: the real runtime's file has
 * none either). The "anonymous" builds leave it out and pass for an unknown vendor build. */
__attribute__((used)) static const char td_marker[] = "edge-infer RKLLM TEST DOUBLE abi=1." TD_MARKER;
#endif

static atomic_int g_overlaps;
static atomic_int g_destroyed_while_running;
static atomic_int g_live_handles;
static atomic_int g_freed_buffers;
static atomic_int g_run_async_defect_calls;
static atomic_int g_late_callbacks;
static atomic_int g_hung_runs;
static atomic_int g_idle_aborts;
static pthread_mutex_t g_hang_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_hang_cv = PTHREAD_COND_INITIALIZER;
static int g_hang_released;

enum { FINAL_NONE = 0, FINAL_FINISH = 1, FINAL_ERROR = 2 };
enum { WAIT_SPLIT = 0, WAIT_CUMULATIVE = 1, WAIT_EMPTY = 2 };

typedef struct td_model {
    uint32_t magic;
    pthread_mutex_t mu; /* guards everything below that is not atomic */
    atomic_int running;
    atomic_int abort_flag;
    atomic_int sticky_abort;
    long long abort_at_ms;
    RKLLMParam param;
    LLMResultCallback cb;
#if TD_ABI_MINOR >= 3
    RKLLMCallback cbs;
#endif
    /* fake model file */
    char reply[8192];
    int model_max_ctx, vocab_size, embd_size, token_delay_ms;
    int abort_delay_ms, abort_final, abort_sticky, pause_final, waiting, bad_input_error, internal_tokenizer,
        hang_after_abort, log_stdout, no_npu;
    char runtime_version[32], driver_version[32], platform[16], target_platform[16], toolkit_version[32];
    int driver_too_low;
    /* state */
    int kv_tokens[TD_MAX_BATCH], system_tokens, prompt_cache_tokens;
    char *pending; /* rest of a paused reply */
    char *tmpl_system, *tmpl_prefix, *tmpl_postfix;
    char *tools_system, *tools_json, *tools_tag;
    char lora_names[TD_MAX_LORA][64];
    int n_lora;
    /* observations for tests (rkllm_test_double_query) */
    int runs, last_top_k, last_temperature_milli, last_max_new_tokens, last_keep_history, last_prefill_tokens,
        last_mode, last_role_tool, last_enable_thinking, tokenizer_calls, last_clear_keep, last_clear_start,
        last_clear_end, cross_attn_set, cross_attn_num_tokens, cross_attn_sum_milli, init_reserved_nonzero,
        init_padding_nonzero, init_bad_bool, last_n_image, last_n_image_tokens, last_image_sum_milli,
        last_image_tags_len, last_embed_sum_milli, embed_callback_calls, last_embed_cb_sum_milli,
        last_bad_token_ids, last_steps, generated_after_abort, last_batch;
    pthread_t thread;
    int thread_valid;
} td_model;

typedef struct td_entry {
    int input_type;
    char *prompt;
    size_t n_input_tokens;
    int role_tool, enable_thinking;
} td_entry;

typedef struct td_job {
    td_model *m;
    void *userdata;
    int n_batch;
    td_entry e[TD_MAX_BATCH];
    int bad; /* an input the runtime refuses silently */
    int mode, keep_history, max_new_tokens, top_k, temperature_milli;
    char *lora_name, *save_cache_path;
} td_job;

/* ---------------------------------------------------------------- helpers */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Log lines in the real runtime's form ("I rkllm: ..."), to stderr or stdout (which one the
 * real runtime uses is unknown: the model key log_stream picks). */
static void td_logf(const td_model *m, const char *fmt, ...) {
    FILE *f = (m && m->log_stdout) ? stdout : stderr;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int utf8_char_count(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

static size_t utf8_len(unsigned char b) {
    if (b < 0x80) return 1;
    if ((b & 0xE0) == 0xC0) return 2;
    if ((b & 0xF0) == 0xE0) return 3;
    if ((b & 0xF8) == 0xF0) return 4;
    return 1;
}

static td_model *as_model(LLMHandle h) {
    td_model *m = (td_model *)h;
    return (m && m->magic == TD_MAGIC) ? m : NULL;
}

/* "1.2.3" < "1.3.0"; prerelease suffixes ("1.2.1b1") compare below the release. */
static int version_cmp(const char *a, const char *b) {
    int x[3] = {0}, y[3] = {0};
    char ra[16] = "", rb[16] = "";
    sscanf(a, "%d.%d.%d%15s", &x[0], &x[1], &x[2], ra);
    sscanf(b, "%d.%d.%d%15s", &y[0], &y[1], &y[2], rb);
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    if (!ra[0] != !rb[0]) return ra[0] ? -1 : 1;
    return strcmp(ra, rb);
}

static int count_str(const char *hay, const char *needle) {
    int n = 0;
    size_t l = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += l) n++;
    return n;
}

/* ---------------------------------------------------------------- model file */

static int parse_model_file(td_model *m, const char *path, int *null_handle) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n < strlen(TD_FILE_MAGIC) || memcmp(buf, TD_FILE_MAGIC, strlen(TD_FILE_MAGIC)) != 0) return -2;
    strcpy(m->reply, "Hello from the RKLLM test double! \xC2\xBFQu\xC3\xA9 tal? \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x80");
    m->model_max_ctx = 4096;
    m->vocab_size = 32;
    m->embd_size = 8;
    m->abort_delay_ms = 1300; /* ABI.md: one report measured ~1.3 s */
    m->abort_final = FINAL_NONE;
    m->internal_tokenizer = 1;
    snprintf(m->runtime_version, sizeof(m->runtime_version), "%s", TD_VERSION);
    strcpy(m->driver_version, "0.9.8");
    strcpy(m->platform, "RK3588");
    strcpy(m->target_platform, "RK3588");
    snprintf(m->toolkit_version, sizeof(m->toolkit_version), "%s", TD_VERSION);
    *null_handle = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf + strlen(TD_FILE_MAGIC), "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq) continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
#define INT_KEY(name, field) else if (!strcmp(k, name)) m->field = atoi(v);
#define STR_KEY(name, field) else if (!strcmp(k, name)) snprintf(m->field, sizeof(m->field), "%s", v);
        if (!strcmp(k, "reply")) snprintf(m->reply, sizeof(m->reply), "%s", v);
        INT_KEY("max_context_len", model_max_ctx)
        INT_KEY("vocab_size", vocab_size)
        INT_KEY("embd_size", embd_size)
        INT_KEY("token_delay_ms", token_delay_ms)
        INT_KEY("abort_delay_ms", abort_delay_ms)
        INT_KEY("abort_sticky", abort_sticky)
        INT_KEY("hang_after_abort", hang_after_abort)
        INT_KEY("internal_tokenizer", internal_tokenizer)
        INT_KEY("no_npu", no_npu)
        STR_KEY("runtime_version", runtime_version)
        STR_KEY("driver_version", driver_version)
        STR_KEY("platform", platform)
        STR_KEY("target_platform", target_platform)
        STR_KEY("toolkit_version", toolkit_version)
        else if (!strcmp(k, "null_handle")) *null_handle = atoi(v);
        else if (!strcmp(k, "abort_final")) m->abort_final = !strcmp(v, "finish") ? FINAL_FINISH : !strcmp(v, "error") ? FINAL_ERROR : FINAL_NONE;
        else if (!strcmp(k, "pause_final")) m->pause_final = !strcmp(v, "finish") ? FINAL_FINISH : FINAL_NONE;
        else if (!strcmp(k, "waiting")) m->waiting = !strcmp(v, "cumulative") ? WAIT_CUMULATIVE : !strcmp(v, "empty") ? WAIT_EMPTY : WAIT_SPLIT;
        else if (!strcmp(k, "bad_input")) m->bad_input_error = !strcmp(v, "error");
        else if (!strcmp(k, "log_stream")) m->log_stdout = !strcmp(v, "stdout");
#undef INT_KEY
#undef STR_KEY
    }
    if (m->vocab_size <= 0 || m->embd_size <= 0) return -2;
    return 0;
}

/* ---------------------------------------------------------------- API */

API RKLLMParam rkllm_createDefaultParam(void) {
    /* Like a decoded 1.2.1b1: only the fields are written; reserved bytes and padding keep
     * whatever the caller's memory held (0xAB here, so it is visible). */
    RKLLMParam p;
    memset(&p, 0xAB, sizeof(p));
    p.model_path = NULL;
    p.max_context_len = 512;
    p.max_new_tokens = -1;
    p.top_k = 40;
    p.n_keep = -1;
    p.top_p = 0.9f;
    p.temperature = 0.8f;
    p.repeat_penalty = 1.1f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.mirostat = 0;
    p.mirostat_tau = 5.0f;
    p.mirostat_eta = 0.1f;
    p.skip_special_token = true;
#if TD_ABI_MINOR >= 3
    p.ignore_eos_token = false;
#endif
    p.is_async = false;
#if TD_ABI_MINOR == 2
    p.img_start = "";
    p.img_end = "";
    p.img_content = "";
#endif
    p.extend_param.base_domain_id = 0;
    p.extend_param.embed_flash = 1;
    p.extend_param.enabled_cpus_num = 4;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus == 8) p.extend_param.enabled_cpus_mask = 0xF0;
    else if (cpus == 4) p.extend_param.enabled_cpus_mask = 0x0F;
    p.extend_param.n_batch = 1;
    p.extend_param.use_cross_attn = 0;
    return p;
}

/* Bytes of RKLLMParam that belong to no field (padding) or to `reserved`. */
static void inspect_param_bytes(td_model *m, const RKLLMParam *p) {
    const unsigned char *b = (const unsigned char *)p;
    unsigned char covered[sizeof(RKLLMParam)];
    memset(covered, 0, sizeof(covered));
#define COVER(field) memset(covered + offsetof(RKLLMParam, field), 1, sizeof(((RKLLMParam *)0)->field))
#define COVER_X(field)                                                                                                \
    memset(covered + offsetof(RKLLMParam, extend_param) + offsetof(RKLLMExtendParam, field), 1,                      \
           sizeof(((RKLLMExtendParam *)0)->field))
    COVER(model_path); COVER(max_context_len); COVER(max_new_tokens); COVER(top_k); COVER(n_keep); COVER(top_p);
    COVER(temperature); COVER(repeat_penalty); COVER(frequency_penalty); COVER(presence_penalty); COVER(mirostat);
    COVER(mirostat_tau); COVER(mirostat_eta); COVER(skip_special_token); COVER(is_async);
#if TD_ABI_MINOR >= 3
    COVER(ignore_eos_token);
#else
    COVER(img_start); COVER(img_end); COVER(img_content);
#endif
    COVER_X(base_domain_id); COVER_X(embed_flash); COVER_X(enabled_cpus_num); COVER_X(enabled_cpus_mask);
    COVER_X(n_batch); COVER_X(use_cross_attn);
#undef COVER
#undef COVER_X
    for (size_t i = 0; i < sizeof(RKLLMParam); i++)
        if (!covered[i] && b[i]) m->init_padding_nonzero = 1;
    for (size_t i = 0; i < sizeof(p->extend_param.reserved); i++)
        if (p->extend_param.reserved[i]) m->init_reserved_nonzero = 1;
    const unsigned char *bools[] = {(const unsigned char *)&p->skip_special_token, (const unsigned char *)&p->is_async,
#if TD_ABI_MINOR >= 3
                                    (const unsigned char *)&p->ignore_eos_token
#else
                                    NULL
#endif
    };
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
        if (bools[i] && *bools[i] > 1) m->init_bad_bool = 1;
}

#if TD_ABI_MINOR >= 3
API int rkllm_init(LLMHandle *handle, RKLLMParam *param, RKLLMCallback *callbacks)
#else
API int rkllm_init(LLMHandle *handle, RKLLMParam *param, LLMResultCallback callback)
#endif
{
    if (!handle || !param || !param->model_path) return -1;
    *handle = NULL;
    td_model *m = calloc(1, sizeof(td_model));
    if (!m) return -1;
    int null_handle = 0;
    int prc = parse_model_file(m, param->model_path, &null_handle);
    if (prc == 0 && m->no_npu) {
        td_logf(m, "E RKNN: [00:00:00.000] failed to open rknpu module, need to insmod rknpu dirver!");
        td_logf(m, "E RKNN: [00:00:00.000] failed to open rknn device!");
        td_logf(m, "E rkllm: Device is not available");
        td_logf(m, "E rkllm: Get device properties failed");
        free(m);
        return -1;
    }
    if (prc == 0) {
        td_logf(m, "I rkllm: rkllm-runtime version: %s, rknpu driver version: %s, platform: %s", m->runtime_version,
                m->driver_version, m->platform);
        if (version_cmp(m->runtime_version, "1.3.0") >= 0 && version_cmp(m->driver_version, "0.9.7") < 0) {
            td_logf(m, "W rkllm: Warning: Your rknpu driver version is too low, please upgrade to 0.9.7.");
            m->driver_too_low = 1;
        }
    }
    if (prc != 0) {
        fprintf(stderr, "E rkllm: load model file error! (edge-infer TEST DOUBLE: not a fake model)\n");
        free(m);
        return -1;
    }
    td_logf(m, "I rkllm: rkllm-toolkit version: %s, max_context_limit: %d, npu_core_num: 3, target_platform: %s%s",
            m->toolkit_version, m->model_max_ctx, m->target_platform, TD_ABI_MINOR >= 3 ? ", model_dtype: W8A8" : "");
    if (null_handle) {
        /* Mimics a reported runtime bug: success, but no handle. */
        free(m);
        return 0;
    }
    if (strcasecmp(m->target_platform, m->platform) != 0) {
        td_logf(m, "E rkllm: Platform error: must be either RK3588, RK3576, RV1126B, or RK3562.");
        free(m);
        return -1;
    }
    if (version_cmp(m->runtime_version, m->toolkit_version) < 0) {
        td_logf(m, "E rkllm: The rkllm-runtime version is lower than the rkllm-toolkit version.");
        free(m);
        return -1;
    }
    if (param->max_context_len <= 0 || param->max_context_len > m->model_max_ctx) {
        td_logf(m, "E rkllm: max_context[%d] must be less than the model's max_context_limit[%d]",
                param->max_context_len, m->model_max_ctx);
        free(m);
        return -1;
    }
    if (param->extend_param.enabled_cpus_num != __builtin_popcount(param->extend_param.enabled_cpus_mask)) {
        td_logf(m, "E rkllm: enabled_cpus_num does not match enabled_cpus_mask");
        free(m);
        return -1;
    }
    if (param->extend_param.n_batch < 1 || param->extend_param.n_batch > TD_MAX_BATCH) {
        td_logf(m, "E rkllm: n_batch must be between 1 and %d", TD_MAX_BATCH);
        free(m);
        return -1;
    }
    inspect_param_bytes(m, param);
    m->param = *param;
    m->param.model_path = NULL; /* not kept: the caller owns it */
#if TD_ABI_MINOR >= 3
    if (callbacks) m->cbs = *callbacks;
    m->cb = m->cbs.result_callback;
#else
    m->cb = callback;
#endif
    pthread_mutex_init(&m->mu, NULL);
    m->magic = TD_MAGIC;
    atomic_fetch_add(&g_live_handles, 1);
    *handle = m;
    return 0;
}

static void free_model_strings(td_model *m) {
    free(m->pending);
    free(m->tmpl_system);
    free(m->tmpl_prefix);
    free(m->tmpl_postfix);
    free(m->tools_system);
    free(m->tools_json);
    free(m->tools_tag);
}

API int rkllm_destroy(LLMHandle handle) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    if (atomic_load(&m->running)) {
        atomic_fetch_add(&g_destroyed_while_running, 1);
        atomic_store(&m->abort_flag, 1);
        m->abort_at_ms = 0;
    }
    if (m->thread_valid) {
        pthread_join(m->thread, NULL);
        m->thread_valid = 0;
    }
    while (atomic_load(&m->running)) sleep_ms(1);
    m->magic = 0;
    free_model_strings(m);
    pthread_mutex_destroy(&m->mu);
    atomic_fetch_sub(&g_live_handles, 1);
    free(m);
    return 0;
}

API int rkllm_abort(LLMHandle handle) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    if (atomic_load(&m->running)) {
        pthread_mutex_lock(&m->mu);
        if (!atomic_load(&m->abort_flag)) m->abort_at_ms = now_ms();
        pthread_mutex_unlock(&m->mu);
        atomic_store(&m->abort_flag, 1);
    } else {
        atomic_fetch_add(&g_idle_aborts, 1);
        if (m->abort_sticky) atomic_store(&m->sticky_abort, 1); /* variant: kills the next run */
    }
    return 0;
}

API int rkllm_is_running(LLMHandle handle) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    return atomic_load(&m->running) ? 1 : 0;
}

/* ---------------------------------------------------------------- runs */

/* The abort has taken effect: requested, and abort_delay_ms have passed. */
static int abort_effective(td_model *m) {
    if (!atomic_load(&m->abort_flag)) return 0;
    pthread_mutex_lock(&m->mu);
    long long at = m->abort_at_ms;
    pthread_mutex_unlock(&m->mu);
    return at == 0 || now_ms() - at >= m->abort_delay_ms;
}

static int deliver(td_model *m, void *ud, RKLLMResult *r, LLMCallState st) {
    return m->cb ? m->cb(r, ud, st) : 0;
}

static int emit_text(td_model *m, void *ud, const char *bytes, size_t n, int32_t token_id, LLMCallState st) {
    char *buf = NULL;
    if (bytes) {
        buf = malloc(n + 1);
        if (!buf) return 0;
        memcpy(buf, bytes, n);
        buf[n] = 0;
    }
    RKLLMResult r;
    memset(&r, 0, sizeof(r));
    r.text = buf;
    r.token_id = token_id;
    int rc = deliver(m, ud, &r, st);
    if (buf) {
        memset(buf, 0xFF, n + 1); /* poison: a binding that kept the pointer reads garbage */
        free(buf);
        atomic_fetch_add(&g_freed_buffers, 1);
    }
    return rc;
}

static void fill_perf(RKLLMResult *r, int prefill, int generated) {
    r->perf.prefill_tokens = prefill;
    r->perf.prefill_time_ms = 0.5f * (float)prefill;
    r->perf.generate_tokens = generated;
    r->perf.generate_time_ms = 2.0f * (float)generated;
    r->perf.memory_usage_mb = 123.5f;
}

static void emit_final(td_model *m, void *ud, LLMCallState st, int prefill, int generated) {
    RKLLMResult r;
    memset(&r, 0, sizeof(r));
    r.text = NULL;
    r.token_id = -1;
    if (st == RKLLM_RUN_FINISH) fill_perf(&r, prefill, generated);
    deliver(m, ud, &r, st);
}

/* What happens once an abort has taken effect (hang_after_abort, then abort_final). */
static int end_after_abort(td_model *m, void *ud, int prefill, int generated) {
    if (m->hang_after_abort) {
        /* A runtime that never finishes: blocks until a test releases it, then calls back
         * once more (a binding that freed its userdata would crash here) and returns. */
        atomic_fetch_add(&g_hung_runs, 1);
        pthread_mutex_lock(&g_hang_mu);
        while (!g_hang_released) pthread_cond_wait(&g_hang_cv, &g_hang_mu);
        pthread_mutex_unlock(&g_hang_mu);
        emit_text(m, ud, "late", 4, 1, RKLLM_RUN_NORMAL);
        atomic_fetch_add(&g_late_callbacks, 1);
        return 0;
    }
    if (m->abort_final == FINAL_FINISH) emit_final(m, ud, RKLLM_RUN_FINISH, prefill, generated);
    else if (m->abort_final == FINAL_ERROR) {
        emit_final(m, ud, RKLLM_RUN_ERROR, prefill, generated);
        return -1;
    }
    return 0;
}

static int lora_loaded(td_model *m, const char *name) {
    for (int i = 0; i < m->n_lora; i++)
        if (!strcmp(m->lora_names[i], name)) return 1;
    return 0;
}

/* Builds the reply for a GENERATE run; returns a malloc'd string or NULL on error. */
static char *compose_reply(td_model *m, td_job *job, int entry, int *is_error_marker) {
    const td_entry *e = &job->e[entry];
    const char *prompt = e->prompt ? e->prompt : "";
    char *out = NULL;
    pthread_mutex_lock(&m->mu);
    *is_error_marker = strstr(prompt, "#ERROR#") != NULL;
    if (m->pending && entry == 0) {
        out = m->pending; /* resume a paused reply */
        m->pending = NULL;
    } else if (e->role_tool) {
        if (asprintf(&out, "Tool result received: %s", prompt) < 0) out = NULL;
    } else if (m->tools_json && strstr(prompt, "#TOOL#")) {
        char name[64] = "unknown";
        const char *k = strstr(m->tools_json, "\"name\"");
        if (k) {
            const char *q = strchr(k + 6, '"');
            if (q) {
                const char *end = strchr(q + 1, '"');
                if (end && end - q - 1 < (long)sizeof(name)) {
                    memcpy(name, q + 1, (size_t)(end - q - 1));
                    name[end - q - 1] = 0;
                }
            }
        }
        if (asprintf(&out, "<tool_call>{\"name\": \"%s\", \"arguments\": {}}</tool_call>", name) < 0) out = NULL;
    } else if (strstr(prompt, "#ECHO#")) {
        const char *body = strstr(prompt, "#ECHO#") + 6;
        if (asprintf(&out, "%s%s%s%s", m->tmpl_system ? m->tmpl_system : "", m->tmpl_prefix ? m->tmpl_prefix : "",
                     body, m->tmpl_postfix ? m->tmpl_postfix : "") < 0)
            out = NULL;
    } else if (strstr(prompt, "#LONG#")) {
        size_t n = 20000;
        out = malloc(n * 5 + 1);
        if (out) {
            for (size_t i = 0; i < n; i++) memcpy(out + i * 5, "tick ", 5);
            out[n * 5] = 0;
        }
    } else if (job->n_batch > 1) {
        /* entry i drops its last i characters, so entries finish at different steps */
        out = strdup(m->reply);
        if (out) {
            size_t len = strlen(out);
            for (int i = 0; i < entry && len > 1; i++) {
                do len--;
                while (len > 1 && ((unsigned char)out[len] & 0xC0) == 0x80);
                out[len] = 0;
            }
        }
    } else {
        out = strdup(m->reply);
    }
    pthread_mutex_unlock(&m->mu);
    if (out && job->lora_name) {
        char *with;
        if (asprintf(&with, "[lora:%s] %s", job->lora_name, out) < 0) with = NULL;
        free(out);
        out = with;
    }
    return out;
}

static int run_failed(td_model *m, void *ud, const char *why, int prefill) {
    td_logf(m, "E rkllm: %s", why);
    emit_final(m, ud, RKLLM_RUN_ERROR, prefill, 0);
    return -1;
}

/* Logits / hidden states: the first call describes the prompt, then one call per generated
 * token, until the callback returns 1, an abort takes effect or max_new_tokens is reached. */
static int run_floats(td_model *m, td_job *job, void *ud, int n_prompt, int base) {
    int limit = job->max_new_tokens > 0 ? job->max_new_tokens : utf8_char_count(m->reply, strlen(m->reply));
    int steps = 0, paused = 0, aborted = 0;
    for (; steps < limit; steps++) {
        if (abort_effective(m)) {
            aborted = 1;
            break;
        }
        RKLLMResult r;
        memset(&r, 0, sizeof(r));
        r.token_id = steps == 0 ? -1 : 1000 + steps;
        size_t count;
        float *buf;
        if (job->mode == RKLLM_INFER_GET_LOGITS) {
            count = (size_t)m->vocab_size;
            buf = malloc(count * sizeof(float));
            if (!buf) return -1;
            for (size_t i = 0; i < count; i++) buf[i] = (float)i + 0.25f * (float)(n_prompt + steps);
            r.logits.logits = buf;
            r.logits.vocab_size = m->vocab_size;
            r.logits.num_tokens = 1;
        } else {
            int nt = steps > 0 ? 1 : (n_prompt < 1 ? 1 : (n_prompt > 64 ? 64 : n_prompt));
            count = (size_t)m->embd_size * (size_t)nt;
            buf = malloc(count * sizeof(float));
            if (!buf) return -1;
            for (int t = 0; t < nt; t++)
                for (int j = 0; j < m->embd_size; j++)
                    buf[(size_t)t * m->embd_size + j] = (float)(t + steps) + 0.01f * (float)j;
            r.last_hidden_layer.hidden_states = buf;
            r.last_hidden_layer.embd_size = m->embd_size;
            r.last_hidden_layer.num_tokens = nt;
        }
        int rc = deliver(m, ud, &r, RKLLM_RUN_NORMAL);
        memset(buf, 0xFF, count * sizeof(float)); /* poison (NaN) before free */
        free(buf);
        atomic_fetch_add(&g_freed_buffers, 1);
        if (rc == 1) {
            steps++;
            paused = 1;
            break;
        }
        sleep_ms(m->token_delay_ms);
    }
    pthread_mutex_lock(&m->mu);
    m->last_steps = steps;
    m->kv_tokens[0] = job->keep_history || paused ? base + n_prompt + (steps > 0 ? steps - 1 : 0) : 0;
    pthread_mutex_unlock(&m->mu);
    if (aborted) return end_after_abort(m, ud, n_prompt, steps);
    if (paused && m->pause_final == FINAL_NONE) return 0;
    emit_final(m, ud, RKLLM_RUN_FINISH, n_prompt, steps);
    return 0;
}

/* Emits one character of `reply` at `pos` (length clen) per the WAITING variant; returns the
 * callback's verdict of the last call, counting each call in *generated. */
static int emit_char(td_model *m, td_job *job, void *ud, const char *reply, size_t pos, size_t clen,
                     int32_t *token_id, int *generated, int *stop) {
    /* split plan for one character: 1 -> [1]; 2 -> [1,1]; 3 -> [1,2]; 4 -> [1,2,1] */
    size_t pieces[3];
    int np = 0;
    if (clen == 1) pieces[np++] = 1;
    else if (clen == 2) { pieces[np++] = 1; pieces[np++] = 1; }
    else if (clen == 3) { pieces[np++] = 1; pieces[np++] = 2; }
    else { pieces[np++] = 1; pieces[np++] = 2; pieces[np++] = 1; }
    size_t done = 0;
    int rc = 0;
    for (int i = 0; i < np; i++) {
        if (job->max_new_tokens > 0 && *generated >= job->max_new_tokens) {
            *stop = 1;
            return 0;
        }
        if (abort_effective(m)) {
            *stop = 2;
            return 0;
        }
        int last = i + 1 == np;
        LLMCallState st = last ? RKLLM_RUN_NORMAL : RKLLM_RUN_WAITING;
        const char *p;
        size_t n;
        if (m->waiting == WAIT_CUMULATIVE) { p = reply + pos; n = done + pieces[i]; }
        else if (m->waiting == WAIT_EMPTY) { p = last ? reply + pos : NULL; n = last ? clen : 0; }
        else { p = reply + pos + done; n = pieces[i]; }
        rc = emit_text(m, ud, p, n, (*token_id)++, st);
        done += pieces[i];
        (*generated)++;
        if (atomic_load(&m->abort_flag)) {
            pthread_mutex_lock(&m->mu);
            m->generated_after_abort++;
            pthread_mutex_unlock(&m->mu);
        }
        if (rc == 1) return 1;
        sleep_ms(m->token_delay_ms);
    }
    (void)job;
    return rc;
}

static int run_generate(td_model *m, td_job *job, void *ud, int n_prompt, int base) {
    int error_marker = 0;
    char *reply = compose_reply(m, job, 0, &error_marker);
    if (!reply) return run_failed(m, ud, "out of memory", n_prompt);
    int delay_forced = job->e[0].prompt && strstr(job->e[0].prompt, "#LONG#") && m->token_delay_ms < 1;
    int saved_delay = m->token_delay_ms;
    if (delay_forced) m->token_delay_ms = 1;
    size_t len = strlen(reply), pos = 0;
    int generated = 0, paused = 0, stop = 0;
    int32_t token_id = 1000;
    while (pos < len && !paused && !stop) {
        size_t clen = utf8_len((unsigned char)reply[pos]);
        if (pos + clen > len) clen = len - pos;
        if (error_marker && generated >= 2) {
            free(reply);
            m->token_delay_ms = saved_delay;
            pthread_mutex_lock(&m->mu);
            m->kv_tokens[0] = 0;
            pthread_mutex_unlock(&m->mu);
            emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, generated);
            return -1;
        }
        int before = generated;
        int rc = emit_char(m, job, ud, reply, pos, clen, &token_id, &generated, &stop);
        if (stop == 0 || generated > before) pos += clen; /* a char cut by max_new_tokens/abort is part-sent */
        if (rc == 1) {
            /* pause: keep the KV cache and the rest of the reply for the next run */
            pthread_mutex_lock(&m->mu);
            free(m->pending);
            m->pending = pos < len ? strdup(reply + pos) : NULL;
            pthread_mutex_unlock(&m->mu);
            paused = 1;
        }
    }
    m->token_delay_ms = saved_delay;
    free(reply);
    pthread_mutex_lock(&m->mu);
    m->kv_tokens[0] = job->keep_history || paused ? base + n_prompt + generated : 0;
    pthread_mutex_unlock(&m->mu);
    if (stop == 2) return end_after_abort(m, ud, n_prompt, generated);
    if (paused && m->pause_final == FINAL_NONE) return 0;
    emit_final(m, ud, RKLLM_RUN_FINISH, n_prompt, generated);
    return 0;
}

/* n_batch > 1: the callback gets an array of n_batch results per step, whole characters,
 * token_id < 0 for an entry that has finished. */
static int run_batch(td_model *m, td_job *job, void *ud, int *n_prompt) {
    int nb = job->n_batch, err = 0;
    char *reply[TD_MAX_BATCH] = {0};
    size_t pos[TD_MAX_BATCH] = {0};
    int generated[TD_MAX_BATCH] = {0};
    for (int i = 0; i < nb; i++) reply[i] = compose_reply(m, job, i, &err);
    RKLLMResult r[TD_MAX_BATCH];
    char *bufs[TD_MAX_BATCH];
    int aborted = 0, paused = 0;
    for (;;) {
        int live = 0;
        memset(r, 0, sizeof(r));
        for (int i = 0; i < nb; i++) {
            bufs[i] = NULL;
            size_t len = reply[i] ? strlen(reply[i]) : 0;
            int capped = job->max_new_tokens > 0 && generated[i] >= job->max_new_tokens;
            if (pos[i] < len && !capped) {
                size_t clen = utf8_len((unsigned char)reply[i][pos[i]]);
                if (pos[i] + clen > len) clen = len - pos[i];
                bufs[i] = strndup(reply[i] + pos[i], clen);
                pos[i] += clen;
                generated[i]++;
                r[i].text = bufs[i];
                r[i].token_id = 1000 + generated[i];
                live++;
            } else {
                r[i].token_id = -1;
            }
        }
        if (!live) break;
        if (abort_effective(m)) {
            for (int i = 0; i < nb; i++) free(bufs[i]);
            aborted = 1;
            break;
        }
        int rc = deliver(m, ud, r, RKLLM_RUN_NORMAL);
        for (int i = 0; i < nb; i++) {
            if (bufs[i]) memset(bufs[i], 0xFF, strlen(bufs[i]));
            free(bufs[i]);
        }
        if (rc == 1) {
            paused = 1;
            break;
        }
        sleep_ms(m->token_delay_ms);
    }
    int total = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < nb; i++) {
        free(reply[i]);
        m->kv_tokens[i] = job->keep_history ? m->kv_tokens[i] + n_prompt[i] + generated[i] : 0;
        total += generated[i];
    }
    m->last_batch = nb;
    pthread_mutex_unlock(&m->mu);
    if (aborted) return end_after_abort(m, ud, n_prompt[0], total);
    if (paused && m->pause_final == FINAL_NONE) return 0;
    memset(r, 0, sizeof(r));
    for (int i = 0; i < nb; i++) {
        r[i].token_id = -1;
        fill_perf(&r[i], n_prompt[i], generated[i]);
    }
    deliver(m, ud, r, RKLLM_RUN_FINISH);
    return 0;
}

static int do_run(td_job *job) {
    td_model *m = job->m;
    void *ud = job->userdata;
    pthread_mutex_lock(&m->mu);
    m->runs++;
    m->last_mode = job->mode;
    m->last_keep_history = job->keep_history;
    m->last_top_k = job->top_k;
    m->last_temperature_milli = job->temperature_milli;
    m->last_max_new_tokens = job->max_new_tokens;
    m->last_role_tool = job->e[0].role_tool;
    m->last_enable_thinking = job->e[0].enable_thinking;
    pthread_mutex_unlock(&m->mu);
    if (atomic_exchange(&m->sticky_abort, 0)) {
        /* variant abort_sticky: an abort made while idle kills this run at once */
        atomic_store(&m->abort_flag, 1);
        m->abort_at_ms = 0;
    }
    if (m->driver_too_low) return run_failed(m, ud, "matmul(w8a8) run failed", 0);

    int n_prompt[TD_MAX_BATCH] = {0};
    for (int b = 0; b < job->n_batch; b++) {
        const td_entry *e = &job->e[b];
        if (e->input_type == RKLLM_INPUT_PROMPT || e->input_type == RKLLM_INPUT_MULTIMODAL) {
            if (!e->prompt) return run_failed(m, ud, "NULL prompt", 0);
            size_t len = strlen(e->prompt);
#if TD_ABI_MINOR >= 3
            if (m->cbs.tokenizer_callback && !m->internal_tokenizer && e->input_type == RKLLM_INPUT_PROMPT) {
                int32_t *toks = malloc(sizeof(int32_t) * 8192);
                if (!toks) return -1;
                pthread_mutex_lock(&m->mu);
                m->tokenizer_calls++;
                pthread_mutex_unlock(&m->mu);
                n_prompt[b] = m->cbs.tokenizer_callback(m->cbs.tokenizer_userdata, e->prompt, (int32_t)len, toks, 8192);
                free(toks);
                if (n_prompt[b] < 0) return run_failed(m, ud, "tokenizer callback failed", 0);
            } else
#endif
                n_prompt[b] = utf8_char_count(e->prompt, len) - 7 * count_str(e->prompt, "<image>");
            if (e->input_type == RKLLM_INPUT_MULTIMODAL) n_prompt[b] += (int)e->n_input_tokens;
        } else {
            n_prompt[b] = (int)e->n_input_tokens;
        }
    }
    pthread_mutex_lock(&m->mu);
    m->last_prefill_tokens = n_prompt[0];
    int base = job->keep_history ? m->kv_tokens[0] : 0;
    int cached = m->prompt_cache_tokens;
    pthread_mutex_unlock(&m->mu);
    if (base + cached + n_prompt[0] > m->param.max_context_len)
        return run_failed(m, ud, "prompt does not fit in max_context_len", n_prompt[0]);
    if (job->lora_name && !lora_loaded(m, job->lora_name))
        return run_failed(m, ud, "unknown LoRA adapter name", n_prompt[0]);
    if (job->save_cache_path) {
        FILE *f = fopen(job->save_cache_path, "wb");
        if (!f) return run_failed(m, ud, "cannot write the prompt cache", n_prompt[0]);
        fprintf(f, "%stokens=%d\n", TD_CACHE_MAGIC, n_prompt[0]);
        fclose(f);
    }
    if (job->n_batch > 1) {
        if (job->mode != RKLLM_INFER_GENERATE) return run_failed(m, ud, "batched runs generate only", 0);
        return run_batch(m, job, ud, n_prompt);
    }
    if (job->mode == RKLLM_INFER_GET_LOGITS || job->mode == RKLLM_INFER_GET_LAST_HIDDEN_LAYER)
        return run_floats(m, job, ud, n_prompt[0], base);
    return run_generate(m, job, ud, n_prompt[0], base);
}

static void free_job(td_job *job) {
    for (int i = 0; i < TD_MAX_BATCH; i++) free(job->e[i].prompt);
    free(job->lora_name);
    free(job->save_cache_path);
    free(job);
}

static double sum_floats(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}

/* Reads one input like the runtime would (every float of an embedding is read). Sets
 * job->bad for an input the runtime refuses without a callback. */
static void read_entry(td_model *m, td_job *job, td_entry *e, RKLLMInput *in) {
    e->input_type = in->input_type;
    e->role_tool = in->role && !strcmp(in->role, "tool");
    e->enable_thinking = in->enable_thinking;
    switch (in->input_type) {
    case RKLLM_INPUT_PROMPT:
        e->prompt = dup_or_null(in->prompt_input);
        if (e->prompt && strstr(e->prompt, "#BADINPUT#")) job->bad = 1;
        break;
    case RKLLM_INPUT_TOKEN: {
        if (!in->token_input.input_ids || !in->token_input.n_tokens) {
            job->bad = 1;
            break;
        }
        e->n_input_tokens = in->token_input.n_tokens;
        int bad = 0;
        for (size_t i = 0; i < e->n_input_tokens; i++)
            if (in->token_input.input_ids[i] < 0 || in->token_input.input_ids[i] >= m->vocab_size) bad++;
        pthread_mutex_lock(&m->mu);
        m->last_bad_token_ids = bad;
        pthread_mutex_unlock(&m->mu);
        if (bad) job->bad = 1;
#if TD_ABI_MINOR >= 3
        if (!bad && m->cbs.embed_callback) {
            size_t n = e->n_input_tokens * (size_t)m->embd_size;
            float *buf = calloc(n, sizeof(float));
            if (!buf) break;
            int rc = m->cbs.embed_callback(m->cbs.embed_userdata, in->token_input.input_ids, e->n_input_tokens, buf,
                                           n * sizeof(float));
            pthread_mutex_lock(&m->mu);
            m->embed_callback_calls++;
            m->last_embed_cb_sum_milli = (int)(sum_floats(buf, n) * 1000.0 + (rc ? 0 : 0.5));
            pthread_mutex_unlock(&m->mu);
            free(buf);
            if (rc != 0) job->bad = 1;
        }
#endif
        break;
    }
    case RKLLM_INPUT_EMBED:
        if (!in->embed_input.embed || !in->embed_input.n_tokens) {
            job->bad = 1;
            break;
        }
        e->n_input_tokens = in->embed_input.n_tokens;
        pthread_mutex_lock(&m->mu);
        m->last_embed_sum_milli =
            (int)(sum_floats(in->embed_input.embed, e->n_input_tokens * (size_t)m->embd_size) * 1000.0 + 0.5);
        pthread_mutex_unlock(&m->mu);
        break;
    case RKLLM_INPUT_MULTIMODAL: {
        RKLLMMultiModalInput *mm = &in->multimodal_input;
#if TD_ABI_MINOR >= 3
        float *embed = mm->image.image_embed;
        size_t n_img = mm->image.n_image, n_tok = mm->image.n_image_tokens;
        int tags = (int)((mm->image.image_start ? strlen(mm->image.image_start) : 0) +
                         (mm->image.image_end ? strlen(mm->image.image_end) : 0) +
                         (mm->image.image_content ? strlen(mm->image.image_content) : 0));
#else
        float *embed = mm->image_embed;
        size_t n_img = mm->n_image, n_tok = mm->n_image_tokens;
        int tags = (int)((m->param.img_start ? strlen(m->param.img_start) : 0) +
                         (m->param.img_end ? strlen(m->param.img_end) : 0) +
                         (m->param.img_content ? strlen(m->param.img_content) : 0));
#endif
        e->prompt = dup_or_null(mm->prompt);
        if (!e->prompt || (n_img && !embed) || count_str(e->prompt, "<image>") != (int)n_img) {
            job->bad = 1; /* ABI.md (#321): a bad multimodal input returns 0, no callback */
            break;
        }
        e->n_input_tokens = n_img * n_tok;
        pthread_mutex_lock(&m->mu);
        m->last_n_image = (int)n_img;
        m->last_n_image_tokens = (int)n_tok;
        m->last_image_tags_len = tags;
        m->last_image_sum_milli = (int)(sum_floats(embed, n_img * n_tok * (size_t)m->embd_size) * 1000.0 + 0.5);
        pthread_mutex_unlock(&m->mu);
        break;
    }
    default:
        job->bad = 1;
    }
}

static td_job *make_job(td_model *m, RKLLMInput *in, RKLLMInferParam *ip, void *userdata) {
    if (!in || !ip) return NULL;
    td_job *job = calloc(1, sizeof(td_job));
    if (!job) return NULL;
    job->m = m;
#if TD_ABI_MINOR >= 3
    job->userdata = userdata ? userdata : m->cbs.result_userdata;
#else
    job->userdata = userdata;
#endif
    job->n_batch = m->param.extend_param.n_batch < 1 ? 1 : m->param.extend_param.n_batch;
    for (int i = 0; i < job->n_batch; i++) read_entry(m, job, &job->e[i], &in[i]);
    job->mode = ip->mode;
    job->keep_history = ip->keep_history;
    job->max_new_tokens = m->param.max_new_tokens;
    job->top_k = m->param.top_k;
    job->temperature_milli = (int)(m->param.temperature * 1000.0f + 0.5f);
#if TD_ABI_MINOR >= 3
    if (ip->max_new_tokens > 0) job->max_new_tokens = ip->max_new_tokens;
    if (ip->sampling_params) {
        job->top_k = ip->sampling_params->top_k;
        job->temperature_milli = (int)(ip->sampling_params->temperature * 1000.0f + 0.5f);
    }
#endif
    if (ip->lora_params && ip->lora_params->lora_adapter_name)
        job->lora_name = strdup(ip->lora_params->lora_adapter_name);
    if (ip->prompt_cache_params && ip->prompt_cache_params->save_prompt_cache &&
        ip->prompt_cache_params->prompt_cache_path)
        job->save_cache_path = strdup(ip->prompt_cache_params->prompt_cache_path);
    return job;
}

static int begin_run(td_model *m) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&m->running, &expected, 1)) {
        atomic_fetch_add(&g_overlaps, 1);
        fprintf(stderr, "E rkllm: (edge-infer TEST DOUBLE) a run started while another is in progress\n");
        return -1;
    }
    atomic_store(&m->abort_flag, 0);
    return 0;
}

API int rkllm_run(LLMHandle handle, RKLLMInput *input, RKLLMInferParam *infer, void *userdata) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    if (begin_run(m) != 0) return -1;
    td_job *job = make_job(m, input, infer, userdata);
    int rc;
    if (!job) rc = -1;
    else if (job->bad) rc = m->bad_input_error ? run_failed(m, job->userdata, "invalid input", 0) : 0;
    else rc = do_run(job);
    if (job) free_job(job);
    atomic_store(&m->running, 0); /* after the final callback, like a runtime that cleans up last */
    return rc;
}

static void *async_main(void *arg) {
    td_job *job = arg;
    td_model *m = job->m;
    do_run(job);
    free_job(job);
    atomic_store(&m->running, 0);
    return NULL;
}

API int rkllm_run_async(LLMHandle handle, RKLLMInput *input, RKLLMInferParam *infer, void *userdata) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    if (!strcmp(m->runtime_version, "1.2.1")) {
        /* ABI.md: 1.2.1's run_async never returns and never calls back. The double gives
         * up after 5 s so that a binding that falls into it fails its test, not hangs. */
        atomic_fetch_add(&g_run_async_defect_calls, 1);
        sleep_ms(5000);
        return -1;
    }
    if (begin_run(m) != 0) return -1;
    if (m->thread_valid) {
        pthread_join(m->thread, NULL); /* previous async run has finished (running was 0) */
        m->thread_valid = 0;
    }
    td_job *job = make_job(m, input, infer, userdata);
    if (!job || job->bad) {
        /* ABI.md (#321): a bad input returns 0 with no callback at all */
        int rc = job ? 0 : -1;
        if (job) free_job(job);
        atomic_store(&m->running, 0);
        return rc;
    }
    if (pthread_create(&m->thread, NULL, async_main, job) != 0) {
        free_job(job);
        atomic_store(&m->running, 0);
        return -1;
    }
    m->thread_valid = 1;
    return 0;
}

/* ---------------------------------------------------------------- state */

API int rkllm_clear_kv_cache(LLMHandle handle, int keep_system_prompt, int *start_pos, int *end_pos) {
    td_model *m = as_model(handle);
    if (!m || atomic_load(&m->running)) return -1;
    int nb = m->param.extend_param.n_batch < 1 ? 1 : m->param.extend_param.n_batch;
    pthread_mutex_lock(&m->mu);
    m->last_clear_keep = keep_system_prompt;
    if (start_pos && end_pos) {
        m->last_clear_start = start_pos[0];
        m->last_clear_end = end_pos[0];
        for (int b = 0; b < nb; b++) {
            int s = start_pos[b], e = end_pos[b];
            if (s < 0 || e < s) {
                pthread_mutex_unlock(&m->mu);
                return -1;
            }
            int hi = e < m->kv_tokens[b] ? e : m->kv_tokens[b];
            if (hi > s) m->kv_tokens[b] -= hi - s;
        }
    } else {
        m->last_clear_start = -1;
        m->last_clear_end = -1;
        for (int b = 0; b < nb; b++) m->kv_tokens[b] = keep_system_prompt ? m->system_tokens : 0;
        free(m->pending);
        m->pending = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_get_kv_cache_size(LLMHandle handle, int *cache_sizes) {
    td_model *m = as_model(handle);
    if (!m || !cache_sizes) return -1;
    pthread_mutex_lock(&m->mu);
    int n = m->param.extend_param.n_batch < 1 ? 1 : m->param.extend_param.n_batch;
    for (int i = 0; i < n; i++) cache_sizes[i] = m->kv_tokens[i] + m->prompt_cache_tokens;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static void replace_str(char **slot, const char *v) {
    free(*slot);
    *slot = dup_or_null(v);
}

API int rkllm_set_chat_template(LLMHandle handle, const char *system_prompt, const char *prompt_prefix,
                                const char *prompt_postfix) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    pthread_mutex_lock(&m->mu);
    replace_str(&m->tmpl_system, system_prompt);
    replace_str(&m->tmpl_prefix, prompt_prefix);
    replace_str(&m->tmpl_postfix, prompt_postfix);
    m->system_tokens = system_prompt ? utf8_char_count(system_prompt, strlen(system_prompt)) : 0;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_set_function_tools(LLMHandle handle, const char *system_prompt, const char *tools,
                                 const char *tool_response_str) {
    td_model *m = as_model(handle);
    if (!m || !tools) return -1;
    pthread_mutex_lock(&m->mu);
    replace_str(&m->tools_system, system_prompt);
    replace_str(&m->tools_json, tools);
    replace_str(&m->tools_tag, tool_response_str);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_set_cross_attn_params(LLMHandle handle, RKLLMCrossAttnParam *p) {
    td_model *m = as_model(handle);
    if (!m || !p || p->num_tokens <= 0 || !p->encoder_k_cache || !p->encoder_v_cache || !p->encoder_mask ||
        !p->encoder_pos)
        return -1;
    /* The fake model's encoder states are num_tokens rows of embd_size floats. */
    size_t n = (size_t)p->num_tokens, w = (size_t)m->embd_size;
    double s = sum_floats(p->encoder_k_cache, n * w) + sum_floats(p->encoder_v_cache, n * w) +
               sum_floats(p->encoder_mask, n);
    for (size_t i = 0; i < n; i++) s += p->encoder_pos[i];
    pthread_mutex_lock(&m->mu);
    m->cross_attn_set = 1 + (m->param.extend_param.use_cross_attn ? 0 : 1); /* 2: flag was off */
    m->cross_attn_num_tokens = p->num_tokens;
    m->cross_attn_sum_milli = (int)(s * 1000.0 + 0.5);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_load_lora(LLMHandle handle, RKLLMLoraAdapter *a) {
    td_model *m = as_model(handle);
    if (!m || !a || !a->lora_adapter_path || !a->lora_adapter_name) return -1;
    FILE *f = fopen(a->lora_adapter_path, "rb");
    if (!f) return -1;
    fclose(f);
    pthread_mutex_lock(&m->mu);
    int rc = -1;
    if (m->n_lora < TD_MAX_LORA && strlen(a->lora_adapter_name) < 64) {
        strcpy(m->lora_names[m->n_lora++], a->lora_adapter_name);
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

API int rkllm_load_prompt_cache(LLMHandle handle, const char *path) {
    td_model *m = as_model(handle);
    if (!m || !path) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    size_t ml = strlen(TD_CACHE_MAGIC);
    if (n < ml || memcmp(buf, TD_CACHE_MAGIC, ml) != 0) return -1;
    int tokens = 0;
    if (sscanf(buf + ml, "tokens=%d", &tokens) != 1 || tokens < 0) return -1;
    pthread_mutex_lock(&m->mu);
    m->prompt_cache_tokens = tokens;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_release_prompt_cache(LLMHandle handle) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    pthread_mutex_lock(&m->mu);
    m->prompt_cache_tokens = 0;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* ---------------------------------------------------------------- test-only exports */

/* Lets runs blocked by hang_after_abort go on. Not part of the RKLLM ABI. */
API void rkllm_test_double_release_hung(void) {
    pthread_mutex_lock(&g_hang_mu);
    g_hang_released = 1;
    pthread_cond_broadcast(&g_hang_cv);
    pthread_mutex_unlock(&g_hang_mu);
}

/* Observations for tests. Returns INT_MIN for an unknown key. Not part of the RKLLM ABI. */
API int rkllm_test_double_query(LLMHandle handle, const char *key) {
    if (!key) return INT_MIN;
    if (!strcmp(key, "overlaps")) return atomic_load(&g_overlaps);
    if (!strcmp(key, "destroyed_while_running")) return atomic_load(&g_destroyed_while_running);
    if (!strcmp(key, "live_handles")) return atomic_load(&g_live_handles);
    if (!strcmp(key, "freed_buffers")) return atomic_load(&g_freed_buffers);
    if (!strcmp(key, "run_async_defect_calls")) return atomic_load(&g_run_async_defect_calls);
    if (!strcmp(key, "late_callbacks")) return atomic_load(&g_late_callbacks);
    if (!strcmp(key, "hung_runs")) return atomic_load(&g_hung_runs);
    if (!strcmp(key, "idle_aborts")) return atomic_load(&g_idle_aborts);
    if (!strcmp(key, "abi_minor")) return TD_ABI_MINOR;
    td_model *m = as_model(handle);
    if (!m) return INT_MIN;
    const RKLLMParam *p = &m->param;
    int v = INT_MIN;
    pthread_mutex_lock(&m->mu);
#define K(name, expr) else if (!strcmp(key, name)) v = (int)(expr);
    if (0) {
    }
    K("runs", m->runs)
    K("kv_tokens", m->kv_tokens[0])
    K("kv_tokens_1", m->kv_tokens[1])
    K("prompt_cache_tokens", m->prompt_cache_tokens)
    K("last_top_k", m->last_top_k)
    K("last_temperature_milli", m->last_temperature_milli)
    K("last_max_new_tokens", m->last_max_new_tokens)
    K("last_keep_history", m->last_keep_history)
    K("last_prefill_tokens", m->last_prefill_tokens)
    K("last_mode", m->last_mode)
    K("last_role_tool", m->last_role_tool)
    K("last_enable_thinking", m->last_enable_thinking)
    K("last_steps", m->last_steps)
    K("last_batch", m->last_batch)
    K("last_bad_token_ids", m->last_bad_token_ids)
    K("last_embed_sum_milli", m->last_embed_sum_milli)
    K("last_n_image", m->last_n_image)
    K("last_n_image_tokens", m->last_n_image_tokens)
    K("last_image_sum_milli", m->last_image_sum_milli)
    K("last_image_tags_len", m->last_image_tags_len)
    K("embed_callback_calls", m->embed_callback_calls)
    K("last_embed_cb_sum_milli", m->last_embed_cb_sum_milli)
    K("generated_after_abort", m->generated_after_abort)
    K("tokenizer_calls", m->tokenizer_calls)
    K("last_clear_keep", m->last_clear_keep)
    K("last_clear_start", m->last_clear_start)
    K("last_clear_end", m->last_clear_end)
    K("n_lora", m->n_lora)
    K("cross_attn_set", m->cross_attn_set)
    K("cross_attn_num_tokens", m->cross_attn_num_tokens)
    K("cross_attn_sum_milli", m->cross_attn_sum_milli)
    K("init_reserved_nonzero", m->init_reserved_nonzero)
    K("init_padding_nonzero", m->init_padding_nonzero)
    K("init_bad_bool", m->init_bad_bool)
    K("param_max_context_len", p->max_context_len)
    K("param_max_new_tokens", p->max_new_tokens)
    K("param_top_k", p->top_k)
    K("param_n_keep", p->n_keep)
    K("param_top_p_milli", p->top_p * 1000.0f + 0.5f)
    K("param_temperature_milli", p->temperature * 1000.0f + 0.5f)
    K("param_repeat_penalty_milli", p->repeat_penalty * 1000.0f + 0.5f)
    K("param_frequency_penalty_milli", p->frequency_penalty * 1000.0f + 0.5f)
    K("param_presence_penalty_milli", p->presence_penalty * 1000.0f + 0.5f)
    K("param_mirostat", p->mirostat)
    K("param_mirostat_tau_milli", p->mirostat_tau * 1000.0f + 0.5f)
    K("param_mirostat_eta_milli", p->mirostat_eta * 1000.0f + 0.5f)
    K("param_skip_special_token", p->skip_special_token)
    K("param_is_async", p->is_async)
    K("param_base_domain_id", p->extend_param.base_domain_id)
    K("param_embed_flash", p->extend_param.embed_flash)
    K("param_cpus_num", p->extend_param.enabled_cpus_num)
    K("param_cpus_mask", p->extend_param.enabled_cpus_mask)
    K("param_n_batch", p->extend_param.n_batch)
    K("param_use_cross_attn", p->extend_param.use_cross_attn)
#if TD_ABI_MINOR >= 3
    K("param_ignore_eos_token", p->ignore_eos_token)
    K("has_tokenizer_callback", m->cbs.tokenizer_callback != NULL)
    K("has_embed_callback", m->cbs.embed_callback != NULL)
#endif
#undef K
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* sizeof / offsetof as the C compiler lays the ABI out, for cross-checking the Rust
 * declarations (field NULL => sizeof). Returns -1 for an unknown name. */
API long rkllm_test_double_layout(const char *type, const char *field) {
#define S(T)                                                                                                          \
    if (!strcmp(type, #T) && !field) return (long)sizeof(T);
#define O(T, F)                                                                                                       \
    if (!strcmp(type, #T) && field && !strcmp(field, #F)) return (long)offsetof(T, F);
    if (!type) return -1;
    S(RKLLMExtendParam) S(RKLLMParam) S(RKLLMLoraAdapter) S(RKLLMEmbedInput) S(RKLLMTokenInput)
    S(RKLLMMultiModalInput) S(RKLLMInput) S(RKLLMLoraParam) S(RKLLMPromptCacheParam) S(RKLLMCrossAttnParam)
    S(RKLLMInferParam) S(RKLLMResultLastHiddenLayer) S(RKLLMResultLogits) S(RKLLMPerfStat) S(RKLLMResult)
    O(RKLLMExtendParam, enabled_cpus_mask) O(RKLLMExtendParam, n_batch) O(RKLLMExtendParam, use_cross_attn)
    O(RKLLMExtendParam, reserved) O(RKLLMParam, max_context_len) O(RKLLMParam, n_keep) O(RKLLMParam, top_p)
    O(RKLLMParam, mirostat_eta) O(RKLLMParam, skip_special_token) O(RKLLMParam, is_async)
    O(RKLLMParam, extend_param) O(RKLLMInput, role) O(RKLLMInput, enable_thinking) O(RKLLMInput, input_type)
    O(RKLLMInput, prompt_input) O(RKLLMInferParam, lora_params) O(RKLLMInferParam, prompt_cache_params)
    O(RKLLMInferParam, keep_history) O(RKLLMResult, token_id) O(RKLLMResult, last_hidden_layer)
    O(RKLLMResult, logits) O(RKLLMResult, perf) O(RKLLMCrossAttnParam, num_tokens)
#if TD_ABI_MINOR >= 3
    S(RKLLMSamplingParam) S(RKLLMCallback) O(RKLLMParam, ignore_eos_token) O(RKLLMInferParam, sampling_params)
    O(RKLLMInferParam, max_new_tokens) O(RKLLMSamplingParam, mirostat_eta) O(RKLLMCallback, tokenizer_callback)
    O(RKLLMCallback, embed_userdata) O(RKLLMMultiModalInput, image) O(RKLLMMultiModalInput, video)
#else
    O(RKLLMParam, img_start) O(RKLLMParam, img_content)
#endif
#undef S
#undef O
    return -1;
}
