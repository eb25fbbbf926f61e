// edge-infer's C face of llama.cpp's chat layer (common/chat.h, common/sampling.h): the model's
// own Jinja template, tool-call formats and parsers, JSON-schema grammars, lazy grammars and the
// reasoning budget, exactly as llama-server --jinja uses them.
//
// Every function catches C++ exceptions. Data crosses as JSON text (OpenAI's shapes where they
// exist). Strings returned to the caller are malloc'ed: free them with edge_chat_string_free.
// On failure a function returns NULL (or -1) and, when `err` is not NULL, sets *err to a
// malloc'ed message.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

struct edge_chat_templates;
struct edge_chat_parser;
struct edge_chat_sampler;

void edge_chat_string_free(char * s);

// The chat templates of `model` (its GGUF `tokenizer.chat_template` and named variants), or
// `template_source` when it is not NULL (then `model` may be NULL and `bos`/`eos` give the
// template's BOS/EOS strings).
struct edge_chat_templates * edge_chat_templates_init(const struct llama_model * model,
                                                      const char * template_source,
                                                      const char * bos, const char * eos,
                                                      char ** err);
void edge_chat_templates_free(struct edge_chat_templates * t);

// {"source": "...", "explicit": bool, "caps": {"supports_tools": bool, ...}}
char * edge_chat_templates_info(const struct edge_chat_templates * t, char ** err);

// Renders a conversation. `inputs_json` is an object: "messages" and "tools" in OpenAI's chat
// completion shapes, "tool_choice" ("auto" | "required" | "none"), "parallel_tool_calls",
// "json_schema" (object or null), "grammar" (GBNF or null), "add_generation_prompt",
// "enable_thinking", "reasoning_format" ("none" | "auto" | "deepseek" | ...),
// "chat_template_kwargs" (object of JSON values), "now" (unix seconds, for strftime_now),
// "add_bos", "add_eos". Returns the chat params as JSON: "prompt", "format", "format_name",
// "grammar", "grammar_lazy", "grammar_triggers" [{"type","value","token"}], "preserved_tokens",
// "additional_stops", "generation_prompt", "supports_thinking", "thinking_start_tag",
// "thinking_end_tags", "parser".
char * edge_chat_templates_apply(const struct edge_chat_templates * t, const char * inputs_json,
                                 char ** err);

// A parser for one generation: `params_json` has "format", "reasoning_format",
// "reasoning_in_content", "generation_prompt", "parse_tool_calls", "is_continuation", "parser"
// (from apply).
struct edge_chat_parser * edge_chat_parser_new(const char * params_json, char ** err);
void edge_chat_parser_free(struct edge_chat_parser * p);
// Parses the whole output so far (`partial`: more may follow). Returns the message as JSON:
// "content", "reasoning_content", "tool_calls" [{"id","name","arguments"}].
char * edge_chat_parser_parse(struct edge_chat_parser * p, const char * text, size_t len,
                              bool partial, char ** err);

// GBNF for a JSON schema (llama.cpp's json-schema-to-grammar).
char * edge_chat_json_schema_to_grammar(const char * schema_json, char ** err);

// llama-server's sampler (common_sampler): the sampling chain plus the grammar (lazy, with its
// triggers and preserved tokens) and the reasoning budget. `params_json`: "temperature", "top_k",
// "top_p", "min_p", "repeat_penalty", "penalty_last_n", "seed", "grammar", "grammar_lazy",
// "grammar_triggers", "preserved_tokens", "generation_prompt", "reasoning_budget_tokens",
// "thinking_start_tag", "thinking_end_tags", "reasoning_budget_message".
struct edge_chat_sampler * edge_chat_sampler_init(const struct llama_model * model,
                                                  const char * params_json, char ** err);
void edge_chat_sampler_free(struct edge_chat_sampler * s);
int edge_chat_sampler_sample(struct edge_chat_sampler * s, struct llama_context * ctx, int32_t idx,
                             llama_token * token, char ** err);
int edge_chat_sampler_accept(struct edge_chat_sampler * s, llama_token token, bool is_generated,
                             char ** err);
// The token ids of the preserved tokens (rendered as text although special), as a JSON array.
char * edge_chat_sampler_preserved(const struct edge_chat_sampler * s, char ** err);

#ifdef __cplusplus
}
#endif
