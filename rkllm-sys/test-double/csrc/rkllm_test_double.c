/*
 * edge-infer RKLLM TEST DOUBLE: a fake librkllmrt.so.
 *
 * This is NOT Rockchip's NPU runtime and runs no model. It implements the RKLLM
 * C ABI (1.2.x or 1.3.x, chosen with TD_ABI_MINOR) as described in
 * shared/rkllm/ABI.md so that the Rust binding can be tested on machines without
 * an NPU. It reads tiny "fake model" files (see ../README.md) and streams a
 * deterministic reply, with the runtime's awkward behaviours made observable:
 * UTF-8 characters split across WAITING calls, result buffers poisoned and freed
 * right after each callback, callbacks from a runtime thread for run_async, a
 * "successful" init with a NULL handle, and an embedded version string.
 */
#define _GNU_SOURCE
#include "td_abi.h"

#include <limits.h>
#include <pthread.h>
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

/* The version banner the binding's pre-init check looks for in the file bytes. */
__attribute__((used)) static const char td_banner[] =
    "rkllm-runtime version: " TD_VERSION " (edge-infer test double)";

static atomic_int g_overlaps;
static atomic_int g_destroyed_while_running;
static atomic_int g_live_handles;
static atomic_int g_freed_buffers;
static atomic_int g_banner_printed;

typedef struct td_model {
    uint32_t magic;
    pthread_mutex_t mu; /* guards everything below that is not atomic */
    atomic_int running;
    atomic_int abort_flag;
    RKLLMParam param;
    LLMResultCallback cb;
#if TD_ABI_MINOR >= 3
    RKLLMCallback cbs;
#endif
    char reply[8192];
    int model_max_ctx, vocab_size, embd_size, token_delay_ms;
    int kv_tokens, system_tokens, prompt_cache_tokens;
    char *pending; /* rest of a paused reply */
    char *tmpl_system, *tmpl_prefix, *tmpl_postfix;
    char *tools_system, *tools_json, *tools_tag;
    char lora_names[TD_MAX_LORA][64];
    int n_lora;
    /* observations for tests (rkllm_test_double_query) */
    int runs, last_top_k, last_temperature_milli, last_max_new_tokens, last_keep_history, last_prefill_tokens,
        last_mode, last_role_tool, last_enable_thinking, tokenizer_calls, last_clear_keep, last_clear_start,
        last_clear_end, cross_attn_set;
    pthread_t thread;
    int thread_valid;
} td_model;

typedef struct td_job {
    td_model *m;
    void *userdata;
    int input_type;
    int role_tool, enable_thinking;
    char *prompt; /* PROMPT input text (copied) */
    size_t n_input_tokens;
    int mode, keep_history, max_new_tokens, top_k, temperature_milli;
    char *lora_name, *save_cache_path;
} td_job;

static void td_log(const char *level, const char *msg) {
    fprintf(stderr, "%s rkllm (edge-infer TEST DOUBLE): %s\n", level, msg);
}

static void print_banner_once(void) {
    if (atomic_exchange(&g_banner_printed, 1) == 0) {
        fprintf(stderr, "I rkllm: %s -- a fake librkllmrt for tests, not Rockchip's NPU runtime\n", td_banner);
    }
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

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- model file */

static int parse_model_file(td_model *m, const char *path, int *null_handle) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        td_log("E", "cannot open model file");
        return -1;
    }
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n < strlen(TD_FILE_MAGIC) || memcmp(buf, TD_FILE_MAGIC, strlen(TD_FILE_MAGIC)) != 0) {
        td_log("E", "model file has bad magic (expected an edge-infer test-double model)");
        return -1;
    }
    strcpy(m->reply, "Hello from the RKLLM test double! \xC2\xBFQu\xC3\xA9 tal? \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x80");
    m->model_max_ctx = 16384;
    m->vocab_size = 32;
    m->embd_size = 8;
    m->token_delay_ms = 0;
    *null_handle = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf + strlen(TD_FILE_MAGIC), "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq) continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (!strcmp(k, "reply")) {
            snprintf(m->reply, sizeof(m->reply), "%s", v);
        } else if (!strcmp(k, "max_context_len")) {
            m->model_max_ctx = atoi(v);
        } else if (!strcmp(k, "vocab_size")) {
            m->vocab_size = atoi(v);
        } else if (!strcmp(k, "embd_size")) {
            m->embd_size = atoi(v);
        } else if (!strcmp(k, "token_delay_ms")) {
            m->token_delay_ms = atoi(v);
        } else if (!strcmp(k, "null_handle")) {
            *null_handle = atoi(v);
        }
    }
    if (m->vocab_size <= 0 || m->embd_size <= 0) return -1;
    return 0;
}

/* ---------------------------------------------------------------- API */

API RKLLMParam rkllm_createDefaultParam(void) {
    RKLLMParam p;
    memset(&p, 0, sizeof(p));
    p.model_path = NULL;
    p.max_context_len = 512;
    p.max_new_tokens = -1;
    p.top_k = 40;
    p.n_keep = 0;
    p.top_p = 0.9f;
    p.temperature = 0.8f;
    p.repeat_penalty = 1.1f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.mirostat = 0;
    p.mirostat_tau = 5.0f;
    p.mirostat_eta = 0.1f;
    p.skip_special_token = true;
    p.is_async = false;
    p.extend_param.base_domain_id = 0;
    p.extend_param.embed_flash = 0;
    p.extend_param.enabled_cpus_num = 4;
    p.extend_param.enabled_cpus_mask = 0xF0;
    p.extend_param.n_batch = 1;
    p.extend_param.use_cross_attn = 0;
    return p;
}

#if TD_ABI_MINOR >= 3
API int rkllm_init(LLMHandle *handle, RKLLMParam *param, RKLLMCallback *callbacks)
#else
API int rkllm_init(LLMHandle *handle, RKLLMParam *param, LLMResultCallback callback)
#endif
{
    print_banner_once();
    if (!handle || !param || !param->model_path) {
        td_log("E", "rkllm_init: NULL handle pointer, param or model_path");
        return -1;
    }
    *handle = NULL;
    td_model *m = calloc(1, sizeof(td_model));
    if (!m) return -1;
    int null_handle = 0;
    if (parse_model_file(m, param->model_path, &null_handle) != 0) {
        free(m);
        return -1;
    }
    if (null_handle) {
        /* Mimics a reported runtime bug: success, but no handle. */
        td_log("W", "fake model asks for a NULL handle with a success return");
        free(m);
        return 0;
    }
    if (param->max_context_len <= 0 || param->max_context_len > m->model_max_ctx) {
        char msg[128];
        snprintf(msg, sizeof(msg), "max_context_len %d exceeds the model's limit %d", param->max_context_len,
                 m->model_max_ctx);
        td_log("E", msg);
        free(m);
        return -1;
    }
    if (param->extend_param.enabled_cpus_num != __builtin_popcount(param->extend_param.enabled_cpus_mask)) {
        td_log("E", "enabled_cpus_num does not match enabled_cpus_mask");
        free(m);
        return -1;
    }
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
        td_log("W", "rkllm_destroy while a run is in progress");
        atomic_store(&m->abort_flag, 1);
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
    if (atomic_load(&m->running)) atomic_store(&m->abort_flag, 1);
    return 0;
}

API int rkllm_is_running(LLMHandle handle) {
    td_model *m = as_model(handle);
    if (!m) return -1;
    return atomic_load(&m->running) ? 1 : 0;
}

/* ---------------------------------------------------------------- runs */

static int deliver(td_model *m, void *ud, RKLLMResult *r, LLMCallState st) {
    return m->cb ? m->cb(r, ud, st) : 0;
}

static int emit_text(td_model *m, void *ud, const char *bytes, size_t n, int32_t token_id, LLMCallState st) {
    char *buf = malloc(n + 1);
    if (!buf) return 0;
    memcpy(buf, bytes, n);
    buf[n] = 0;
    RKLLMResult r;
    memset(&r, 0, sizeof(r));
    r.text = buf;
    r.token_id = token_id;
    int rc = deliver(m, ud, &r, st);
    memset(buf, 0xFF, n + 1); /* poison: a binding that kept the pointer reads garbage */
    free(buf);
    atomic_fetch_add(&g_freed_buffers, 1);
    return rc;
}

static void emit_final(td_model *m, void *ud, LLMCallState st, int prefill, int generated) {
    RKLLMResult r;
    memset(&r, 0, sizeof(r));
    r.text = NULL;
    r.token_id = -1;
    if (st == RKLLM_RUN_FINISH) {
        r.perf.prefill_tokens = prefill;
        r.perf.prefill_time_ms = 0.5f * (float)prefill;
        r.perf.generate_tokens = generated;
        r.perf.generate_time_ms = 2.0f * (float)generated;
        r.perf.memory_usage_mb = 123.5f;
    }
    deliver(m, ud, &r, st);
}

static void emit_floats(td_model *m, void *ud, int mode, int n_prompt) {
    RKLLMResult r;
    memset(&r, 0, sizeof(r));
    r.token_id = -1;
    size_t count;
    float *buf;
    if (mode == RKLLM_INFER_GET_LOGITS) {
        count = (size_t)m->vocab_size;
        buf = malloc(count * sizeof(float));
        if (!buf) return;
        for (size_t i = 0; i < count; i++) buf[i] = (float)i + 0.25f * (float)n_prompt;
        r.logits.logits = buf;
        r.logits.vocab_size = m->vocab_size;
        r.logits.num_tokens = 1;
    } else {
        int nt = n_prompt < 1 ? 1 : (n_prompt > 64 ? 64 : n_prompt);
        count = (size_t)m->embd_size * (size_t)nt;
        buf = malloc(count * sizeof(float));
        if (!buf) return;
        for (int t = 0; t < nt; t++)
            for (int j = 0; j < m->embd_size; j++) buf[(size_t)t * m->embd_size + j] = (float)t + 0.01f * (float)j;
        r.last_hidden_layer.hidden_states = buf;
        r.last_hidden_layer.embd_size = m->embd_size;
        r.last_hidden_layer.num_tokens = nt;
    }
    deliver(m, ud, &r, RKLLM_RUN_NORMAL);
    memset(buf, 0xFF, count * sizeof(float)); /* poison (NaN) before free */
    free(buf);
    atomic_fetch_add(&g_freed_buffers, 1);
}

static int lora_loaded(td_model *m, const char *name) {
    for (int i = 0; i < m->n_lora; i++)
        if (!strcmp(m->lora_names[i], name)) return 1;
    return 0;
}

/* Builds the reply for a GENERATE run; returns a malloc'd string or NULL on error. */
static char *compose_reply(td_model *m, td_job *job, int *is_error_marker) {
    const char *prompt = job->prompt ? job->prompt : "";
    char *out = NULL;
    pthread_mutex_lock(&m->mu);
    *is_error_marker = strstr(prompt, "#ERROR#") != NULL;
    if (m->pending) {
        out = m->pending; /* resume a paused reply */
        m->pending = NULL;
    } else if (job->role_tool) {
        if (asprintf(&out, "Tool result received: %s", prompt) < 0) out = NULL;
    } else if (m->tools_json && strstr(prompt, "#TOOL#")) {
        char name[64] = "unknown";
        const char *k = strstr(m->tools_json, "\"name\"");
        if (k) {
            const char *q = strchr(k + 6, '"');
            if (q) {
                const char *e = strchr(q + 1, '"');
                if (e && e - q - 1 < (long)sizeof(name)) {
                    memcpy(name, q + 1, (size_t)(e - q - 1));
                    name[e - q - 1] = 0;
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

static int do_run(td_job *job) {
    td_model *m = job->m;
    void *ud = job->userdata;
    int n_prompt = 0;
    pthread_mutex_lock(&m->mu);
    m->runs++;
    m->last_mode = job->mode;
    m->last_keep_history = job->keep_history;
    m->last_top_k = job->top_k;
    m->last_temperature_milli = job->temperature_milli;
    m->last_max_new_tokens = job->max_new_tokens;
    m->last_role_tool = job->role_tool;
    m->last_enable_thinking = job->enable_thinking;
    pthread_mutex_unlock(&m->mu);

    if (job->input_type == RKLLM_INPUT_PROMPT) {
        if (!job->prompt) {
            emit_final(m, ud, RKLLM_RUN_ERROR, 0, 0);
            return -1;
        }
        size_t len = strlen(job->prompt);
#if TD_ABI_MINOR >= 3
        if (m->cbs.tokenizer_callback) {
            int32_t *toks = malloc(sizeof(int32_t) * 8192);
            if (!toks) return -1;
            pthread_mutex_lock(&m->mu);
            m->tokenizer_calls++;
            pthread_mutex_unlock(&m->mu);
            n_prompt = m->cbs.tokenizer_callback(m->cbs.tokenizer_userdata, job->prompt, (int32_t)len, toks, 8192);
            free(toks);
            if (n_prompt < 0) {
                td_log("E", "tokenizer callback failed");
                emit_final(m, ud, RKLLM_RUN_ERROR, 0, 0);
                return -1;
            }
        } else
#endif
            n_prompt = utf8_char_count(job->prompt, len);
    } else {
        n_prompt = (int)job->n_input_tokens;
    }
    pthread_mutex_lock(&m->mu);
    m->last_prefill_tokens = n_prompt;
    int base = job->keep_history ? m->kv_tokens : 0;
    int cached = m->prompt_cache_tokens;
    pthread_mutex_unlock(&m->mu);
    if (base + cached + n_prompt > m->param.max_context_len) {
        td_log("E", "prompt does not fit in max_context_len");
        emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, 0);
        return -1;
    }
    if (job->lora_name && !lora_loaded(m, job->lora_name)) {
        td_log("E", "unknown LoRA adapter name");
        emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, 0);
        return -1;
    }
    if (job->save_cache_path) {
        FILE *f = fopen(job->save_cache_path, "wb");
        if (!f) {
            emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, 0);
            return -1;
        }
        fprintf(f, "%stokens=%d\n", TD_CACHE_MAGIC, n_prompt);
        fclose(f);
    }

    if (job->mode == RKLLM_INFER_GET_LOGITS || job->mode == RKLLM_INFER_GET_LAST_HIDDEN_LAYER) {
        emit_floats(m, ud, job->mode, n_prompt);
        pthread_mutex_lock(&m->mu);
        m->kv_tokens = job->keep_history ? base + n_prompt : 0;
        pthread_mutex_unlock(&m->mu);
        emit_final(m, ud, RKLLM_RUN_FINISH, n_prompt, 0);
        return 0;
    }

    int error_marker = 0;
    char *reply = compose_reply(m, job, &error_marker);
    if (!reply) {
        emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, 0);
        return -1;
    }
    int delay = m->token_delay_ms;
    if (job->prompt && strstr(job->prompt, "#LONG#") && delay < 1) delay = 1;

    size_t len = strlen(reply), pos = 0;
    int generated = 0, paused = 0;
    int32_t token_id = 1000;
    while (pos < len && !paused) {
        size_t clen = utf8_len((unsigned char)reply[pos]);
        if (pos + clen > len) clen = len - pos;
        /* split plan for one character: 1 -> [1]; 2 -> [1,1]; 3 -> [1,2]; 4 -> [1,2,1] */
        size_t pieces[3];
        int np = 0;
        if (clen == 1) {
            pieces[np++] = 1;
        } else if (clen == 2) {
            pieces[np++] = 1;
            pieces[np++] = 1;
        } else if (clen == 3) {
            pieces[np++] = 1;
            pieces[np++] = 2;
        } else {
            pieces[np++] = 1;
            pieces[np++] = 2;
            pieces[np++] = 1;
        }
        for (int i = 0; i < np; i++) {
            if (job->max_new_tokens > 0 && generated >= job->max_new_tokens) goto done;
            if (atomic_load(&m->abort_flag)) goto done;
            if (error_marker && generated >= 2) {
                free(reply);
                pthread_mutex_lock(&m->mu);
                m->kv_tokens = 0;
                pthread_mutex_unlock(&m->mu);
                emit_final(m, ud, RKLLM_RUN_ERROR, n_prompt, generated);
                return -1;
            }
            LLMCallState st = (i + 1 < np) ? RKLLM_RUN_WAITING : RKLLM_RUN_NORMAL;
            int rc = emit_text(m, ud, reply + pos, pieces[i], token_id++, st);
            pos += pieces[i];
            generated++;
            if (rc == 1) {
                /* pause: keep the KV cache and the rest of the reply for the next run */
                pthread_mutex_lock(&m->mu);
                free(m->pending);
                m->pending = pos < len ? strdup(reply + pos) : NULL;
                pthread_mutex_unlock(&m->mu);
                paused = 1;
                break;
            }
            sleep_ms(delay);
        }
    }
done:
    free(reply);
    pthread_mutex_lock(&m->mu);
    m->kv_tokens = job->keep_history || paused ? base + n_prompt + generated : 0;
    pthread_mutex_unlock(&m->mu);
    if (!paused) emit_final(m, ud, RKLLM_RUN_FINISH, n_prompt, generated);
    return 0;
}

static void free_job(td_job *job) {
    free(job->prompt);
    free(job->lora_name);
    free(job->save_cache_path);
    free(job);
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
    job->input_type = in->input_type;
    job->role_tool = in->role && !strcmp(in->role, "tool");
    job->enable_thinking = in->enable_thinking;
    switch (in->input_type) {
    case RKLLM_INPUT_PROMPT:
        job->prompt = dup_or_null(in->prompt_input);
        break;
    case RKLLM_INPUT_TOKEN:
        if (!in->token_input.input_ids && in->token_input.n_tokens) goto bad;
        job->n_input_tokens = in->token_input.n_tokens;
        break;
    case RKLLM_INPUT_EMBED:
        if (!in->embed_input.embed && in->embed_input.n_tokens) goto bad;
        job->n_input_tokens = in->embed_input.n_tokens;
        break;
    default:
        goto bad; /* multimodal needs a vision encoder: not faked */
    }
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
bad:
    free_job(job);
    return NULL;
}

static int begin_run(td_model *m) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&m->running, &expected, 1)) {
        atomic_fetch_add(&g_overlaps, 1);
        td_log("E", "rkllm_run called while another run is in progress on this handle");
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
    if (!job) {
        atomic_store(&m->running, 0);
        return -1;
    }
    int rc = do_run(job);
    free_job(job);
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
    if (begin_run(m) != 0) return -1;
    if (m->thread_valid) {
        pthread_join(m->thread, NULL); /* previous async run has finished (running was 0) */
        m->thread_valid = 0;
    }
    td_job *job = make_job(m, input, infer, userdata);
    if (!job) {
        atomic_store(&m->running, 0);
        return -1;
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
    pthread_mutex_lock(&m->mu);
    m->last_clear_keep = keep_system_prompt;
    if (start_pos && end_pos) {
        int s = start_pos[0], e = end_pos[0];
        m->last_clear_start = s;
        m->last_clear_end = e;
        if (s < 0 || e < s) {
            pthread_mutex_unlock(&m->mu);
            return -1;
        }
        int hi = e < m->kv_tokens ? e : m->kv_tokens;
        if (hi > s) m->kv_tokens -= hi - s;
    } else {
        m->last_clear_start = -1;
        m->last_clear_end = -1;
        m->kv_tokens = keep_system_prompt ? m->system_tokens : 0;
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
    for (int i = 0; i < n; i++) cache_sizes[i] = m->kv_tokens + m->prompt_cache_tokens;
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
    if (!m || !p) return -1;
    pthread_mutex_lock(&m->mu);
    m->cross_attn_set = 1;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

API int rkllm_load_lora(LLMHandle handle, RKLLMLoraAdapter *a) {
    td_model *m = as_model(handle);
    if (!m || !a || !a->lora_adapter_path || !a->lora_adapter_name) return -1;
    FILE *f = fopen(a->lora_adapter_path, "rb");
    if (!f) {
        td_log("E", "cannot open LoRA adapter file");
        return -1;
    }
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
    if (n < ml || memcmp(buf, TD_CACHE_MAGIC, ml) != 0) {
        td_log("E", "not a prompt cache file");
        return -1;
    }
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

/* Observations for tests. Returns INT_MIN for an unknown key. Not part of the RKLLM ABI. */
API int rkllm_test_double_query(LLMHandle handle, const char *key) {
    if (!key) return INT_MIN;
    if (!strcmp(key, "overlaps")) return atomic_load(&g_overlaps);
    if (!strcmp(key, "destroyed_while_running")) return atomic_load(&g_destroyed_while_running);
    if (!strcmp(key, "live_handles")) return atomic_load(&g_live_handles);
    if (!strcmp(key, "freed_buffers")) return atomic_load(&g_freed_buffers);
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
    K("kv_tokens", m->kv_tokens)
    K("prompt_cache_tokens", m->prompt_cache_tokens)
    K("last_top_k", m->last_top_k)
    K("last_temperature_milli", m->last_temperature_milli)
    K("last_max_new_tokens", m->last_max_new_tokens)
    K("last_keep_history", m->last_keep_history)
    K("last_prefill_tokens", m->last_prefill_tokens)
    K("last_mode", m->last_mode)
    K("last_role_tool", m->last_role_tool)
    K("last_enable_thinking", m->last_enable_thinking)
    K("tokenizer_calls", m->tokenizer_calls)
    K("last_clear_keep", m->last_clear_keep)
    K("last_clear_start", m->last_clear_start)
    K("last_clear_end", m->last_clear_end)
    K("n_lora", m->n_lora)
    K("cross_attn_set", m->cross_attn_set)
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
#if TD_ABI_MINOR >= 3
    K("param_ignore_eos_token", p->ignore_eos_token)
    K("has_tokenizer_callback", m->cbs.tokenizer_callback != NULL)
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
