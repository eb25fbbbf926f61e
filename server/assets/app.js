// edge-infer workbench: streaming chat over /v1/chat/completions, a runtime panel over
// /v1/runtime. Hand-written, no dependencies, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const history = [];
let busy = false;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// ---- Markdown (a safe subset: text is escaped first, then marked up) ---------------

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
          .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function inline(s) {
  // Code spans first, kept out of the other rules.
  const spans = [];
  s = s.replace(/`([^`]+)`/g, (_, c) => { spans.push(c); return "\u0000" + (spans.length - 1) + "\u0000"; });
  s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
       .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
       .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => "<code>" + spans[+i] + "</code>");
}

function markdown(src) {
  const lines = escapeHtml(src).split("\n");
  const out = [];
  let para = [], list = null, code = null;
  const flushPara = () => { if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; } };
  const flushList = () => { if (list) { out.push("<" + list.tag + ">" + list.items.map((i) => "<li>" + inline(i) + "</li>").join("") + "</" + list.tag + ">"); list = null; } };
  for (const line of lines) {
    if (code !== null) {
      if (/^\s*```/.test(line)) { out.push("<pre><code>" + code.join("\n") + "</code></pre>"); code = null; }
      else code.push(line);
      continue;
    }
    let m;
    if (/^\s*```/.test(line)) { flushPara(); flushList(); code = []; }
    else if ((m = line.match(/^(#{1,4})\s+(.*)$/))) { flushPara(); flushList(); const n = m[1].length + 2; out.push("<h" + n + ">" + inline(m[2]) + "</h" + n + ">"); }
    else if ((m = line.match(/^\s*[-*]\s+(.*)$/))) { flushPara(); if (!list || list.tag !== "ul") { flushList(); list = { tag: "ul", items: [] }; } list.items.push(m[1]); }
    else if ((m = line.match(/^\s*\d+[.)]\s+(.*)$/))) { flushPara(); if (!list || list.tag !== "ol") { flushList(); list = { tag: "ol", items: [] }; } list.items.push(m[1]); }
    else if (!line.trim()) { flushPara(); flushList(); }
    else { flushList(); para.push(line); }
  }
  if (code !== null) out.push("<pre><code>" + code.join("\n") + "</code></pre>"); // still streaming
  flushPara(); flushList();
  return out.join("");
}

// ---- the chat log --------------------------------------------------------------------

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  if (role === "user" || role === "error") div.textContent = text;
  $("log").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

function renderReply(div, reply) {
  let html = "";
  if (reply.reasoning) {
    // Folded unless the reply is still thinking.
    const open = reply.thinking ? " open" : "";
    html += '<details class="reasoning"' + open + "><summary>Reasoning (" + reply.reasoning.length +
            " chars)</summary><div>" + escapeHtml(reply.reasoning) + "</div></details>";
  }
  html += '<div class="body">' + markdown(reply.content) + "</div>";
  for (const c of reply.toolCalls) {
    if (c) html += '<div class="tool">&#x1f527; ' + escapeHtml(c.name || "") + "(" + escapeHtml(c.arguments || "") + ")</div>";
  }
  if (reply.stats) html += '<div class="stats">' + escapeHtml(reply.stats) + "</div>";
  div.innerHTML = html;
  div.scrollIntoView({ block: "end" });
}

function statsLine(reply, t) {
  const u = reply.usage || {};
  const cached = (u.prompt_tokens_details || {}).cached_tokens ?? t.cache_n ?? 0;
  const parts = [
    "TTFT " + (reply.ttft != null ? reply.ttft.toFixed(0) : "?") + " ms",
    (t.predicted_per_second || 0).toFixed(1) + " t/s",
    (t.prompt_n + (t.cache_n || 0)) + " prompt tok (" + cached + " cached)",
    t.predicted_n + " generated",
    "model " + reply.model,
  ];
  if (t.queue_ms > 1) parts.push("queued " + t.queue_ms.toFixed(0) + " ms");
  return parts.join(" · ");
}

async function send(text) {
  busy = true;
  $("send").disabled = true;
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const div = addMessage("assistant", "");
  const reply = { content: "", reasoning: "", toolCalls: [], thinking: false, model: "", stats: "", ttft: null, usage: null };
  const body = {
    model: $("model").value,
    messages: history,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: parseInt($("max-tokens").value, 10) || 128,
    temperature: parseFloat($("temperature").value),
  };
  const t0 = performance.now();
  let timings = null;
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => ({ error: { message: res.statusText } }));
      throw new Error(res.status + ": " + err.error.message);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        for (const line of block.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          reply.model = chunk.model || reply.model;
          if (chunk.usage) reply.usage = chunk.usage;
          if (chunk.timings) timings = chunk.timings;
          const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
          if (delta.reasoning_content) { reply.reasoning += delta.reasoning_content; reply.thinking = true; }
          if (delta.content) {
            if (reply.ttft === null) reply.ttft = performance.now() - t0;
            reply.content += delta.content;
            reply.thinking = false;
          }
          for (const tc of delta.tool_calls || []) {
            const c = reply.toolCalls[tc.index] || (reply.toolCalls[tc.index] = { name: "", arguments: "" });
            if (tc.function && tc.function.name) c.name = tc.function.name;
            if (tc.function && tc.function.arguments) c.arguments += tc.function.arguments;
            if (reply.ttft === null) reply.ttft = performance.now() - t0;
          }
          renderReply(div, reply);
        }
      }
    }
    reply.thinking = false;
    if (timings) reply.stats = statsLine(reply, timings);
    renderReply(div, reply);
    history.push({ role: "assistant", content: reply.content });
  } catch (e) {
    history.pop();
    div.remove();
    addMessage("error", String(e.message || e));
  } finally {
    busy = false;
    $("send").disabled = false;
    refreshRuntime();
  }
}

// ---- model selector and runtime panel -------------------------------------------------

async function loadModels() {
  const sel = $("model");
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    const list = await res.json();
    if (!res.ok) throw new Error(list.error.message);
    sel.innerHTML = "";
    const groups = { profile: document.createElement("optgroup"), model: document.createElement("optgroup") };
    groups.profile.label = "Profiles";
    groups.model.label = "Models";
    for (const m of list.data) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.kind === "profile" ? m.id + " → " + (m.models || []).join(", ") : m.id + " (" + m.backend + ", " + m.state + ")";
      if (m.default) o.selected = true;
      groups[m.kind === "profile" ? "profile" : "model"].appendChild(o);
    }
    sel.appendChild(groups.profile);
    sel.appendChild(groups.model);
    sel.dataset.ready = "1";
  } catch (e) {
    sel.innerHTML = "<option>(cannot list models: " + escapeHtml(String(e.message || e)) + ")</option>";
  }
}

function mib(b) { return b == null ? "?" : (b / 1048576).toFixed(1) + " MiB"; }

async function refreshRuntime() {
  const el = $("runtime-body");
  try {
    const res = await fetch("/v1/runtime", { headers: headers() });
    const rt = await res.json();
    if (!res.ok) throw new Error(rt.error.message);
    let html = '<dl><dt>Memory ceiling</dt><dd>' + (rt.memory_limit_bytes ? mib(rt.memory_limit_bytes) : "none") +
               "</dd><dt>Reserved</dt><dd>" + mib(rt.memory_reserved_bytes) + "</dd><dt>Process RSS</dt><dd>" +
               mib(rt.process_rss_bytes) + "</dd><dt>llama.cpp build</dt><dd>" + escapeHtml(rt.llama_cpp.build) + "</dd></dl>";
    for (const m of rt.models) {
      const rows = [["Backend", m.backend], ["n_ctx", m.n_ctx]];
      if (m.threads != null) rows.push(["Threads", m.threads + (m.cores && m.cores.length ? " on cores " + m.cores.join(",") : "")]);
      if (m.cache_type_k) rows.push(["K / V", m.cache_type_k + " / " + m.cache_type_v + (m.cache_layers && m.cache_layers !== "uniform" ? " (" + m.cache_layers + ")" : "")]);
      if (m.flash_attention) rows.push(["Flash attention", m.flash_attention]);
      if (m.cpu_mask) rows.push(["CPU mask", m.cpu_mask]);
      if (m.memory) rows.push(["Memory", mib(m.memory.total_bytes) + " (weights " + mib(m.memory.weights_bytes) + ", KV " + mib(m.memory.kv_bytes) + ", compute " + mib(m.memory.compute_bytes) + ")"]);
      if (m.queued) rows.push(["Queued", m.queued]);
      html += '<div class="model"><h3>' + escapeHtml(m.name) + '<span class="state ' + m.state + '">' + m.state + "</span></h3><dl>" +
              rows.map(([k, v]) => "<dt>" + k + "</dt><dd>" + escapeHtml(String(v)) + "</dd>").join("") + "</dl>";
      if (m.loaded) html += '<div class="note">' + escapeHtml(m.loaded) + "</div>";
      if (m.error) html += '<div class="note">' + escapeHtml(m.error) + "</div>";
      else if (m.memory_error && m.state !== "loaded") html += '<div class="note">' + escapeHtml(m.memory_error) + "</div>";
      html += "</div>";
    }
    el.innerHTML = html;
  } catch (e) {
    el.textContent = "Cannot read the runtime: " + (e.message || e);
  }
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || busy) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("composer").requestSubmit(); }
});
$("clear").addEventListener("click", () => { history.length = 0; $("log").innerHTML = ""; });
$("refresh").addEventListener("click", refreshRuntime);
$("api-key").value = localStorage.getItem("edge-infer-key") || "";
$("api-key").addEventListener("change", () => { localStorage.setItem("edge-infer-key", $("api-key").value); loadModels(); refreshRuntime(); });
loadModels();
refreshRuntime();
