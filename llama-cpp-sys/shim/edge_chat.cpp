// edge-infer's C face of llama.cpp's chat layer; see edge_chat.h. Each entry point mirrors what
// llama-server does with the same input (tools/server/server-common.cpp and server-schema.cpp of
// the pinned tree), so that a Rust caller gets llama-server --jinja's prompts, grammars and parses.

#include "edge_chat.h"

#include "chat.h"
#include "common.h"
#include "json-schema-to-grammar.h"
#include "json.h"
#include "log.h"
#include "sampling.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <vector>

struct edge_chat_templates {
    common_chat_templates_ptr tmpls;
};

struct edge_chat_parser {
    common_chat_parser_params params;
};

struct edge_chat_sampler {
    common_sampler *      smpl = nullptr;
    std::set<llama_token> preserved;

    ~edge_chat_sampler() {
        if (smpl) {
            common_sampler_free(smpl);
        }
    }
};

static char * dup_string(const std::string & s) {
    char * out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
    }
    return out;
}

static common_json string_array(const std::vector<std::string> & items) {
    common_json out = common_json::array();
    for (const auto & s : items) {
        out.push_back(s);
    }
    return out;
}

static void set_err(char ** err, const char * msg) {
    if (err) {
        *err = dup_string(msg ? msg : "unknown C++ exception");
    }
}

// common's own logger prints to stderr from a worker thread; a library must stay quiet. Every
// failure we care about also comes back as an exception, which reaches Rust as an error.
static void quiet_common_log() {
    static std::once_flag once;
    std::call_once(once, [] { common_log_set_verbosity_thold(-1); });
}

template <typename T, typename F> static T guarded(char ** err, T fail, F && f) {
    if (err) {
        *err = nullptr;
    }
    try {
        quiet_common_log();
        return f();
    } catch (const std::exception & e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, nullptr);
    }
    return fail;
}

extern "C" void edge_chat_string_free(char * s) {
    std::free(s);
}

extern "C" struct edge_chat_templates * edge_chat_templates_init(const struct llama_model * model,
                                                                 const char * template_source,
                                                                 const char * bos, const char * eos,
                                                                 char ** err) {
    return guarded<edge_chat_templates *>(err, nullptr, [&] {
        if (!model && !template_source) {
            throw std::invalid_argument("a chat template needs a model or a template source");
        }
        auto * t  = new edge_chat_templates();
        try {
            t->tmpls = common_chat_templates_init(model, template_source ? template_source : "",
                                                  bos ? bos : "", eos ? eos : "");
        } catch (...) {
            delete t;
            throw;
        }
        return t;
    });
}

extern "C" void edge_chat_templates_free(struct edge_chat_templates * t) {
    delete t;
}

extern "C" char * edge_chat_templates_info(const struct edge_chat_templates * t, char ** err) {
    return guarded<char *>(err, nullptr, [&] {
        common_json caps = common_json::object();
        for (const auto & [name, on] : common_chat_templates_get_caps(t->tmpls.get())) {
            caps[name] = on;
        }
        common_json out   = common_json::object();
        out["source"]     = common_chat_templates_source(t->tmpls.get());
        out["explicit"]   = common_chat_templates_was_explicit(t->tmpls.get());
        out["caps"]       = caps;
        out["supports_enable_thinking"] = common_chat_templates_support_enable_thinking(t->tmpls.get());
        return dup_string(out.dump());
    });
}

extern "C" char * edge_chat_templates_apply(const struct edge_chat_templates * t, const char * inputs_json,
                                            char ** err) {
    return guarded<char *>(err, nullptr, [&] {
        const common_json in = common_json::parse(inputs_json);

        common_chat_templates_inputs inputs;
        inputs.use_jinja = true;
        inputs.messages  = common_chat_msgs_parse_oaicompat(in.value("messages", common_json::array()));
        if (in.contains("tools") && !in.at("tools").is_null()) {
            inputs.tools = common_chat_tools_parse_oaicompat(in.at("tools"));
        }
        inputs.tool_choice         = common_chat_tool_choice_parse_oaicompat(in.value("tool_choice", std::string("auto")));
        inputs.parallel_tool_calls = in.value("parallel_tool_calls", false);
        if (in.contains("json_schema") && !in.at("json_schema").is_null()) {
            inputs.json_schema = in.at("json_schema").dump();
        }
        inputs.grammar               = in.value("grammar", std::string());
        inputs.add_generation_prompt = in.value("add_generation_prompt", true);
        if (in.contains("continue_final_message")) {
            inputs.continue_final_message = common_chat_continuation_parse(in.at("continue_final_message"));
        }
        inputs.enable_thinking       = in.value("enable_thinking", true);
        inputs.reasoning_format = common_reasoning_format_from_name(in.value("reasoning_format", std::string("auto")));
        if (in.contains("chat_template_kwargs")) {
            for (const auto & item : in.at("chat_template_kwargs").items()) {
                inputs.chat_template_kwargs[item.key()] = item.value().dump();
            }
        }
        if (in.contains("now")) {
            inputs.now = std::chrono::system_clock::time_point(std::chrono::seconds(in.at("now").get<int64_t>()));
        }
        if (!inputs.tools.empty() && inputs.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE && !inputs.grammar.empty()) {
            throw std::invalid_argument("a grammar cannot be combined with tools");
        }

        const common_chat_params p = common_chat_templates_apply(t->tmpls.get(), inputs);

        common_json triggers = common_json::array();
        for (const auto & tr : p.grammar_triggers) {
            common_json j = common_json::object();
            j["type"]     = static_cast<int>(tr.type);
            j["value"]    = tr.value;
            j["token"]    = static_cast<int64_t>(tr.token);
            triggers.push_back(j);
        }
        common_json out           = common_json::object();
        out["prompt"]             = p.prompt;
        out["format"]             = static_cast<int>(p.format);
        out["format_name"]        = std::string(common_chat_format_name(p.format));
        out["grammar"]            = p.grammar;
        out["grammar_lazy"]       = p.grammar_lazy;
        out["grammar_triggers"]   = triggers;
        out["preserved_tokens"]   = string_array(p.preserved_tokens);
        out["additional_stops"]   = string_array(p.additional_stops);
        out["generation_prompt"]  = p.generation_prompt;
        out["supports_thinking"]  = p.supports_thinking;
        out["thinking_start_tag"] = p.thinking_start_tag;
        out["thinking_end_tags"]  = string_array(p.thinking_end_tags);
        out["parser"]             = p.parser;
        return dup_string(out.dump());
    });
}

extern "C" struct edge_chat_parser * edge_chat_parser_new(const char * params_json, char ** err) {
    return guarded<edge_chat_parser *>(err, nullptr, [&] {
        const common_json in = common_json::parse(params_json);
        auto *            p  = new edge_chat_parser();
        try {
            auto & pp                = p->params;
            pp.format                = static_cast<common_chat_format>(in.value("format", 0));
            if (pp.format < 0 || pp.format >= COMMON_CHAT_FORMAT_COUNT) {
                throw std::invalid_argument("unknown chat format " + std::to_string(static_cast<int>(pp.format)));
            }
            pp.reasoning_format      = common_reasoning_format_from_name(in.value("reasoning_format", std::string("auto")));
            pp.reasoning_in_content  = in.value("reasoning_in_content", false);
            pp.generation_prompt     = in.value("generation_prompt", std::string());
            pp.parse_tool_calls      = in.value("parse_tool_calls", true);
            pp.is_continuation       = in.value("is_continuation", false);
            const std::string parser = in.value("parser", std::string());
            if (!parser.empty()) {
                pp.parser.load(parser);
            }
        } catch (...) {
            delete p;
            throw;
        }
        return p;
    });
}

extern "C" void edge_chat_parser_free(struct edge_chat_parser * p) {
    delete p;
}

extern "C" char * edge_chat_parser_parse(struct edge_chat_parser * p, const char * text, size_t len, bool partial,
                                         char ** err) {
    return guarded<char *>(err, nullptr, [&] {
        const common_chat_msg msg = common_chat_parse(std::string(text, len), partial, p->params);
        common_json           calls = common_json::array();
        for (const auto & tc : msg.tool_calls) {
            common_json j  = common_json::object();
            j["id"]        = tc.id;
            j["name"]      = tc.name;
            j["arguments"] = tc.arguments;
            calls.push_back(j);
        }
        common_json out          = common_json::object();
        out["content"]           = msg.content;
        out["reasoning_content"] = msg.reasoning_content;
        out["tool_calls"]        = calls;
        return dup_string(out.dump());
    });
}

extern "C" char * edge_chat_json_schema_to_grammar(const char * schema_json, char ** err) {
    return guarded<char *>(err, nullptr, [&] {
        common_json schema = common_json::parse(schema_json);
        if (schema.is_object() && schema.empty()) {
            schema["type"] = "object";  // as llama-server: an empty schema means any object
        }
        return dup_string(json_schema_to_grammar(schema));
    });
}

static llama_tokens tokenize(const llama_vocab * vocab, const std::string & text) {
    return common_tokenize(vocab, text, /* add_special */ false, /* parse_special */ true);
}

extern "C" struct edge_chat_sampler * edge_chat_sampler_init(const struct llama_model * model,
                                                             const char * params_json, char ** err) {
    return guarded<edge_chat_sampler *>(err, nullptr, [&] {
        const common_json   in    = common_json::parse(params_json);
        const llama_vocab * vocab = llama_model_get_vocab(model);

        common_params_sampling sp;
        sp.temp           = in.value("temperature", sp.temp);
        sp.top_k          = in.value("top_k", sp.top_k);
        sp.top_p          = in.value("top_p", sp.top_p);
        sp.min_p          = in.value("min_p", sp.min_p);
        sp.penalty_repeat = in.value("repeat_penalty", sp.penalty_repeat);
        sp.penalty_last_n = in.value("penalty_last_n", sp.penalty_last_n);
        sp.seed           = in.value("seed", static_cast<uint32_t>(sp.seed));

        const std::string grammar = in.value("grammar", std::string());
        if (!grammar.empty()) {
            const std::string kind = in.value("grammar_type", std::string("user"));
            common_grammar_type type = COMMON_GRAMMAR_TYPE_USER;
            if (kind == "tool_calls") {
                type = COMMON_GRAMMAR_TYPE_TOOL_CALLS;
            } else if (kind == "output_format") {
                type = COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT;
            } else if (kind != "user") {
                throw std::invalid_argument("unknown grammar_type " + kind);
            }
            sp.grammar = { type, grammar };
        }
        sp.grammar_lazy = in.value("grammar_lazy", false);

        // As server-schema.cpp: preserved tokens first (single-token strings only), then the
        // triggers, where a trigger word that is one preserved token becomes a token trigger.
        if (in.contains("preserved_tokens")) {
            for (const auto & t : in.at("preserved_tokens")) {
                const auto ids = tokenize(vocab, t.get<std::string>());
                if (ids.size() == 1) {
                    sp.preserved_tokens.insert(ids[0]);
                }
            }
        }
        if (in.contains("grammar_triggers")) {
            for (const auto & t : in.at("grammar_triggers")) {
                common_grammar_trigger tr;
                tr.type  = static_cast<common_grammar_trigger_type>(t.value("type", 0));
                tr.value = t.value("value", std::string());
                tr.token = static_cast<llama_token>(t.value("token", static_cast<int64_t>(LLAMA_TOKEN_NULL)));
                if (tr.type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
                    const auto ids = tokenize(vocab, tr.value);
                    if (ids.size() == 1) {
                        if (sp.preserved_tokens.count(ids[0]) == 0) {
                            throw std::runtime_error("grammar trigger word should be marked as preserved token: " + tr.value);
                        }
                        tr.type  = COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN;
                        tr.token = ids[0];
                    }
                } else if (tr.type == COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN) {
                    if (tr.token < 0 || tr.token >= llama_vocab_n_tokens(vocab)) {
                        throw std::invalid_argument("grammar trigger token " + std::to_string(tr.token) + " is not in the vocabulary");
                    }
                } else if (tr.type != COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN && tr.type != COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL) {
                    throw std::invalid_argument("unknown grammar trigger type " + std::to_string(static_cast<int>(tr.type)));
                }
                sp.grammar_triggers.push_back(std::move(tr));
            }
        }
        if (sp.grammar_lazy && sp.grammar_triggers.empty()) {
            throw std::invalid_argument("a lazy grammar needs at least one trigger");
        }
        sp.generation_prompt = in.value("generation_prompt", std::string());

        const int budget            = in.value("reasoning_budget_tokens", -1);
        const std::string start_tag = in.value("thinking_start_tag", std::string());
        if (in.contains("thinking_end_tags") && !start_tag.empty()) {
            sp.reasoning_budget_tokens = budget;
            sp.reasoning_budget_start  = tokenize(vocab, start_tag);
            for (const auto & t : in.at("thinking_end_tags")) {
                const std::string tag = t.get<std::string>();
                if (!tag.empty()) {
                    sp.reasoning_budget_end.push_back(tokenize(vocab, tag));
                }
            }
            if (!sp.reasoning_budget_end.empty()) {
                llama_tokens forced = sp.reasoning_budget_end.front();
                const std::string message = in.value("reasoning_budget_message", std::string());
                if (!message.empty()) {
                    const auto m = tokenize(vocab, message);
                    forced.insert(forced.begin(), m.begin(), m.end());
                }
                sp.reasoning_budget_forced = std::move(forced);
            }
        } else if (budget >= 0) {
            throw std::invalid_argument("a reasoning budget needs the template's thinking tags");
        }

        auto * s = new edge_chat_sampler();
        s->preserved = sp.preserved_tokens;
        s->smpl      = common_sampler_init(model, sp);
        if (!s->smpl) {
            delete s;
            throw std::runtime_error("common_sampler_init failed (bad grammar?)");
        }
        return s;
    });
}

extern "C" void edge_chat_sampler_free(struct edge_chat_sampler * s) {
    delete s;
}

extern "C" int edge_chat_sampler_sample(struct edge_chat_sampler * s, struct llama_context * ctx, int32_t idx,
                                        llama_token * token, char ** err) {
    return guarded<int>(err, -1, [&] {
        *token = common_sampler_sample(s->smpl, ctx, idx);
        return 0;
    });
}

extern "C" int edge_chat_sampler_accept(struct edge_chat_sampler * s, llama_token token, bool is_generated,
                                        char ** err) {
    return guarded<int>(err, -1, [&] {
        common_sampler_accept(s->smpl, token, is_generated);
        return 0;
    });
}

extern "C" char * edge_chat_sampler_preserved(const struct edge_chat_sampler * s, char ** err) {
    return guarded<char *>(err, nullptr, [&] {
        common_json ids = common_json::array();
        for (const auto t : s->preserved) {
            ids.push_back(static_cast<int64_t>(t));
        }
        return dup_string(ids.dump());
    });
}
