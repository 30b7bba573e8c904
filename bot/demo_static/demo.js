// socialdesk demo page: renders the emulated Slack, X and Facebook, and sends the visitor's
// clicks to the page's server, which turns them into the signed requests Slack sends.
// Every piece of text goes into the page as a text node: nothing is parsed as HTML.
"use strict";

const EMOJI = {
  warning: "⚠️", lock: "🔒", white_check_mark: "✅", envelope: "✉️", speech_balloon: "💬", pager: "📟",
  hourglass_flowing_sand: "⏳", arrows_counterclockwise: "🔄", tada: "🎉", rotating_light: "🚨",
  alarm_clock: "⏰", white_circle: "⚪", wave: "👋", wastebasket: "🗑️", thinking_face: "🤔",
  straight_ruler: "📏", small_red_triangle: "🔺", slightly_smiling_face: "🙂", see_no_evil: "🙈",
  red_circle: "🔴", raised_hand: "✋", no_entry_sign: "🚫", no_entry: "⛔", memory: "📝",
  large_blue_circle: "🔵", information_source: "ℹ️", inbox_tray: "📥", eyes: "👀", electric_plug: "🔌",
  bird: "🐦", heart: "❤️", fire: "🔥", bar_chart: "📊", chart_with_upwards_trend: "📈", clock1: "🕐",
  star: "⭐", pray: "🙏", thumbsup: "👍", "+1": "👍", smile: "😄", x: "❌", heavy_check_mark: "✔️",
  busts_in_silhouette: "👥", bust_in_silhouette: "👤", calendar: "📅", mag: "🔍", bell: "🔔",
  chart_with_downwards_trend: "📉", left_right_arrow: "↔️", mega: "📣", outbox_tray: "📤", twisted_rightwards_arrows: "🔀",
};

let STATE = null;
let tab = "channel";
const openThreads = new Set();
const rendered = new Map();   // message ts -> JSON it was drawn from
const typed = new Map();      // `${viewId}|${blockId}` -> what the visitor typed (kept across views.update)
let modalKey = "";
let stickToBottom = true;

// ---------- tiny DOM helper (text only, never HTML) ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const userName = (id) => (STATE && STATE.users[id] ? STATE.users[id].name : id);
const when = (ts) => new Date(parseFloat(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

// ---------- mrkdwn ----------
const INLINE = new RegExp([
  "(`[^`\\n]+`)",                                              // code
  "(<[^<>\\n]+>)",                                             // links, mentions, dates
  "((?<![\\w*])\\*(?=\\S)[^*\\n]*?\\S?\\*(?![\\w*]))",         // *bold*
  "((?<![\\w_])_(?=\\S)[^_\\n]*?\\S?_(?![\\w_]))",             // _italic_
  "((?<![\\w~])~(?=\\S)[^~\\n]*?\\S?~(?![\\w~]))",             // ~strike~
  "(:[a-z0-9_+\\-']+:)",                                       // :emoji:
].join("|"), "g");

function inline(text) {
  const out = [];
  let last = 0;
  text.replace(INLINE, (match, code, angle, bold, italic, strike, emoji, offset) => {
    if (offset > last) out.push(unescape(text.slice(last, offset)));
    last = offset + match.length;
    if (code) out.push(h("code", {}, unescape(code.slice(1, -1))));
    else if (angle) out.push(special(angle.slice(1, -1)));
    else if (bold) out.push(h("b", {}, inline(bold.slice(1, -1))));
    else if (italic) out.push(h("i", {}, inline(italic.slice(1, -1))));
    else if (strike) out.push(h("s", {}, inline(strike.slice(1, -1))));
    else if (emoji) out.push(EMOJI[emoji.slice(1, -1)] || emoji);
    return match;
  });
  if (last < text.length) out.push(unescape(text.slice(last)));
  return out;
}

function special(inner) {
  const [target, label] = splitOnce(inner, "|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return h("span", { class: "mention" + (STATE && id === STATE.visitor ? " me" : "") }, "@" + (label || userName(id)));
  }
  if (target.startsWith("#")) return h("span", { class: "mention" }, "#" + (label || target.slice(1)));
  if (target.startsWith("!date^")) {
    const [, epoch] = target.split("^");
    const date = new Date(parseInt(epoch, 10) * 1000);
    return isNaN(date) ? unescape(label || "") : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
  if (target.startsWith("!")) return h("b", {}, "@" + (label || target.slice(1).split("^")[0]));
  return linkTo(unescape(target), unescape(label || target));
}

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

function linkTo(url, label) {
  const safe = /^(https?:|mailto:)/i.test(url) ? url : "#";
  const a = h("a", { href: safe, target: "_blank", rel: "noopener noreferrer" }, label);
  const local = localTarget(url);
  if (local) {
    a.dataset.local = local;
    a.addEventListener("click", (e) => { e.preventDefault(); reveal(local); });
  }
  return a;
}

// A link to a post on the emulated networks scrolls to it on the page instead of leaving.
function localTarget(url) {
  let m = url.match(/(?:x|twitter)\.com\/[^/]+\/status\/(\d+)/);
  if (m) return "x-" + m[1];
  m = url.match(/comment_id=([\w]+)/);
  if (m) return "fb-" + m[1];
  m = url.match(/facebook\.com\/(\d+_\d+)/);
  if (m) return "fb-" + m[1];
  return null;
}

function reveal(id) {
  const el = document.getElementById(id) || [...document.querySelectorAll("[id^=fb-]")].find((e) => e.id.endsWith(id.slice(3)));
  if (!el) return;
  el.scrollIntoView({ behavior: "smooth", block: "center" });
  el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash");
}

function mrkdwn(text) {
  const frag = document.createDocumentFragment();
  const parts = text.split(/(```[\s\S]*?```)/);
  for (const part of parts) {
    if (part.startsWith("```") && part.endsWith("```") && part.length >= 6) {
      frag.appendChild(h("pre", {}, unescape(part.slice(3, -3))));
      continue;
    }
    const lines = part.split("\n");
    let quote = null;
    lines.forEach((line, i) => {
      const m = line.match(/^(&gt;|>)\s?(.*)$/);
      if (m) {
        if (!quote) { quote = h("blockquote", {}); frag.appendChild(quote); } else quote.appendChild(document.createTextNode("\n"));
        quote.append(...inline(m[2]));
        return;
      }
      quote = null;
      frag.append(...inline(line));
      if (i < lines.length - 1) frag.appendChild(document.createTextNode("\n"));
    });
  }
  return frag;
}

function textObject(t) {
  if (!t) return document.createTextNode("");
  if (t.type === "mrkdwn") return mrkdwn(t.text || "");
  const s = t.text || "";
  return document.createTextNode(t.emoji === false ? s : s.replace(/:([a-z0-9_+\-']+):/g, (m, k) => EMOJI[k] || m));
}

// ---------- Block Kit ----------
// ctx: {kind: "message"|"view", ts?, viewId?}
function blocks(list, ctx) {
  return h("div", { class: "blocks" }, (list || []).map((b) => block(b, ctx)));
}

function block(b, ctx) {
  switch (b.type) {
    case "section": {
      const parts = [];
      if (b.text) parts.push(h("div", { class: "text" }, textObject(b.text)));
      const el = h("div", { class: "block section" }, parts);
      if (b.accessory) el.appendChild(element(b.accessory, b, ctx));
      if (b.fields) {
        const wrap = h("div", { class: "block" }, el, h("div", { class: "fields" }, b.fields.map((f) => h("div", {}, textObject(f)))));
        return wrap;
      }
      return el;
    }
    case "context":
      return h("div", { class: "block context" }, (b.elements || []).map((e) =>
        e.type === "image" ? imageEl(e.image_url, e.alt_text) : h("span", {}, textObject(e))));
    case "header":
      return h("div", { class: "block header" }, textObject(b.text));
    case "divider":
      return h("hr", { class: "divider" });
    case "image":
      return h("div", { class: "block image-block" }, b.title ? h("div", { class: "muted" }, textObject(b.title)) : null, imageEl(b.image_url, b.alt_text, true));
    case "actions":
      return h("div", { class: "block actions", "data-block": b.block_id || "" }, (b.elements || []).map((e) => element(e, b, ctx)));
    case "input":
      return inputBlock(b, ctx);
    default:
      return h("div", { class: "block muted" }, `[${b.type} block]`);
  }
}

function imageEl(url, alt, big) {
  // Only images this page serves itself load: the demo never reaches the internet.
  if (url && (url.startsWith("/") || url.startsWith("data:"))) return h("img", { src: url, alt: alt || "" });
  return big ? h("div", { class: "placeholder" }, "🖼 " + (alt || "image")) : h("span", { title: alt || "" }, "🖼");
}

function element(e, b, ctx) {
  const base = { block_id: b.block_id || "", action_id: e.action_id };
  switch (e.type) {
    case "button": {
      const btn = h("button", { class: "btn" + (e.style ? " " + e.style : ""), type: "button", "data-action": e.action_id }, textObject(e.text));
      btn.addEventListener("click", () => act(btn, { ...base }, ctx));
      if (e.url) btn.addEventListener("click", () => window.open(e.url, "_blank", "noopener"));
      return btn;
    }
    case "static_select": {
      if (ctx.kind === "view-input") return selectEl(e, ctx);
      const sel = selectEl(e, ctx);
      sel.addEventListener("change", () => { if (sel.value) act(sel, { ...base, value: sel.value }, ctx); });
      return sel;
    }
    case "overflow": {
      const wrap = h("span", { class: "overflow" });
      const btn = h("button", { class: "btn", type: "button", "data-action": e.action_id, title: "More actions" }, "⋯");
      wrap.appendChild(btn);
      btn.addEventListener("click", (ev) => {
        ev.stopPropagation();
        const old = wrap.querySelector(".overflow-menu");
        document.querySelectorAll(".overflow-menu").forEach((m) => m.remove());
        if (old) return;
        wrap.appendChild(h("div", { class: "overflow-menu" }, (e.options || []).map((o) =>
          h("button", { type: "button", onclick: (ev2) => { ev2.stopPropagation(); wrap.querySelector(".overflow-menu").remove(); act(btn, { ...base, value: o.value }, ctx); } }, textObject(o.text)))));
      });
      return wrap;
    }
    case "image":
      return imageEl(e.image_url, e.alt_text);
    default:
      return h("span", { class: "muted" }, `[${e.type}]`);
  }
}

function selectEl(e, ctx) {
  const sel = h("select", { class: "select", "data-action": e.action_id },
    h("option", { value: "" }, e.placeholder ? e.placeholder.text : "Select…"),
    (e.options || []).map((o) => h("option", { value: o.value }, textObject(o.text).textContent)));
  if (e.initial_option) sel.value = e.initial_option.value;
  return sel;
}

function inputBlock(b, ctx) {
  const e = b.element || {};
  const key = `${ctx.viewId}|${b.block_id}`;
  const error = (ctx.errors || {})[b.block_id];
  const wrap = h("div", { class: "block input-block" + (error ? " has-error" : ""), "data-block": b.block_id, "data-type": e.type, "data-action": e.action_id },
    h("label", { class: "lbl" }, textObject(b.label), b.optional ? h("span", { class: "optional" }, " (optional)") : null));
  if (e.type === "plain_text_input") {
    const value = typed.has(key) ? typed.get(key) : (e.initial_value || "");
    const field = e.multiline ? h("textarea", { maxlength: e.max_length || null }) : h("input", { type: "text", maxlength: e.max_length || null });
    field.value = value;
    field.addEventListener("input", () => {
      typed.set(key, field.value);
      if (b.dispatch_action) liveInput(ctx.viewId, b.block_id, e.action_id, field.value);
    });
    wrap.appendChild(field);
  } else if (e.type === "checkboxes") {
    const chosen = typed.get(key) || [];
    for (const o of e.options || []) {
      const box = h("input", { type: "checkbox", value: o.value });
      box.checked = chosen.includes(o.value);
      box.addEventListener("change", () => typed.set(key, [...wrap.querySelectorAll("input:checked")].map((c) => c.value)));
      wrap.appendChild(h("label", { class: "check" }, box, textObject(o.text)));
    }
  } else if (e.type === "static_select") {
    const sel = selectEl(e, ctx);
    if (typed.has(key)) sel.value = typed.get(key);
    sel.addEventListener("change", () => typed.set(key, sel.value));
    wrap.appendChild(sel);
  } else {
    wrap.appendChild(h("span", { class: "muted" }, `[${e.type}]`));
  }
  if (b.hint) wrap.appendChild(h("div", { class: "hint" }, textObject(b.hint)));
  if (error) wrap.appendChild(h("div", { class: "error" }, error));
  return wrap;
}

// ---------- talking to the page's server ----------
async function call(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  const data = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
  if (!res.ok || data.ok === false && data.error) toast(data.error || `HTTP ${res.status}`);
  setTimeout(refresh, 150);
  return data;
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

async function act(el, action, ctx) {
  el.disabled = true;
  const body = { ...action };
  if (ctx.kind === "view") { body.view_id = ctx.viewId; body.values = viewValues(ctx.viewId); } else body.message_ts = ctx.ts;
  try { await call("/api/click", body); } finally { setTimeout(() => { el.disabled = false; }, 600); }
}

const liveTimers = new Map();
function liveInput(viewId, blockId, actionId, value) {
  clearTimeout(liveTimers.get(viewId));
  liveTimers.set(viewId, setTimeout(() => call("/api/click", { view_id: viewId, block_id: blockId, action_id: actionId, value, values: viewValues(viewId) }), 250));
}

function viewValues(viewId) {
  const values = {};
  for (const el of document.querySelectorAll(`#modal-layer [data-view="${viewId}"] .input-block`)) {
    const block = el.dataset.block, action = el.dataset.action, type = el.dataset.type;
    let v = null;
    if (type === "plain_text_input") v = el.querySelector("textarea, input").value;
    else if (type === "checkboxes") v = [...el.querySelectorAll("input:checked")].map((c) => c.value);
    else if (type === "static_select") v = el.querySelector("select").value;
    values[block] = { [action]: v };
  }
  return values;
}

// ---------- drawing ----------
function messageEl(m, opts) {
  const isBot = !!m.bot_id;
  const name = isBot ? "socialdesk" : String(userName(m.user) || "someone");
  const ctx = { kind: "message", ts: m.ts };
  const body = h("div", { class: "msg-body" },
    opts.ephemeral ? h("div", { class: "ephemeral-label" }, "👁 Only visible to you") : null,
    h("div", { class: "msg-head" }, h("span", { class: "name" }, name), isBot ? h("span", { class: "app-badge" }, "APP") : null,
      h("span", { class: "time" }, when(m.ts)), m.edited ? h("span", { class: "edited" }, "(edited)") : null),
    m.blocks && m.blocks.length ? blocks(m.blocks, opts.ephemeral ? { kind: "ephemeral" } : ctx) : h("div", { class: "text", style: "white-space: pre-wrap" }, mrkdwn(m.text || "")),
    m.files ? h("div", { class: "files" }, m.files.map((f) => (f.mimetype || "").startsWith("image/")
      ? h("div", {}, h("div", { class: "file-name" }, f.title || f.name), h("img", { src: `/api/files/${encodeURIComponent(f.id)}`, alt: f.title || f.name }))
      : h("div", { class: "file-name" }, "📄 " + (f.title || f.name)))) : null);
  const replies = m.replies || [];
  if (replies.length) {
    const open = openThreads.has(m.ts);
    body.appendChild(h("button", { class: "thread-toggle", type: "button", onclick: () => { open ? openThreads.delete(m.ts) : openThreads.add(m.ts); rendered.delete(m.ts); draw(); } },
      `${open ? "▾" : "▸"} ${replies.length} ${replies.length === 1 ? "reply" : "replies"}`));
    if (open) body.appendChild(h("div", { class: "thread" }, replies.map((r) => messageEl(r, {}))));
  }
  return h("div", { class: "msg" + (opts.ephemeral ? " ephemeral" : ""), id: "msg-" + m.ts.replace(".", "-"), "data-ts": m.ts },
    h("div", { class: "avatar" + (isBot ? "" : " person") }, name.slice(0, 1).toUpperCase()), body);
}

function drawChannel() {
  const box = document.getElementById("channel");
  const items = [...STATE.messages.map((m) => ({ m, eph: false })), ...STATE.ephemerals.map((m) => ({ m, eph: true }))]
    .sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
  if (!items.length) {
    if (!box.querySelector(".empty")) box.replaceChildren(h("div", { class: "empty" }, "Waiting for the first customer post… (the bot polls the emulated X and Facebook every second)"));
    return;
  }
  box.querySelector(".empty")?.remove();
  stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const wanted = new Set();
  let prev = null;
  for (const { m, eph } of items) {
    const key = (eph ? "e" : "m") + m.ts;
    wanted.add(key);
    const json = JSON.stringify(m) + (openThreads.has(m.ts) ? "+" : "");
    let el = box.querySelector(`[data-key="${key}"]`);
    if (!el || rendered.get(key) !== json) {
      const fresh = messageEl(m, { ephemeral: eph });
      fresh.dataset.key = key;
      if (el) el.replaceWith(fresh); else (prev ? prev.after(fresh) : box.prepend(fresh));
      el = fresh;
      rendered.set(key, json);
    }
    prev = el;
  }
  for (const el of [...box.querySelectorAll("[data-key]")]) if (!wanted.has(el.dataset.key)) el.remove();
  if (stickToBottom) box.scrollTop = box.scrollHeight;
}

function drawHome() {
  const box = document.getElementById("home");
  const json = JSON.stringify(STATE.home);
  if (box.dataset.json === json) return;
  box.dataset.json = json;
  box.replaceChildren(STATE.home ? h("div", { class: "msg", style: "display:block" }, blocks(STATE.home.blocks, { kind: "home" }))
    : h("div", { class: "empty" }, "Opening the Home tab…"));
}

function drawModal() {
  const layer = document.getElementById("modal-layer");
  const top = STATE.modals[STATE.modals.length - 1];
  const key = top ? JSON.stringify([top.view.id, top.view.hash, top.errors]) : "";
  if (key === modalKey) return;
  modalKey = key;
  if (!top) { layer.hidden = true; layer.replaceChildren(); return; }
  const v = top.view;
  const ctx = { kind: "view", viewId: v.id, errors: top.errors };
  const focused = document.activeElement && layer.contains(document.activeElement) ? document.activeElement.closest("[data-block]")?.dataset.block : null;
  const caret = focused ? [document.activeElement.selectionStart, document.activeElement.selectionEnd] : null;
  const submit = h("button", { class: "btn primary", type: "button" }, textObject(v.submit || { type: "plain_text", text: "Submit" }));
  const close = () => call("/api/close", { view_id: v.id });
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    const res = await call("/api/submit", { view_id: v.id, values: viewValues(v.id) });
    submit.disabled = false;
    if (res.ok) for (const k of [...typed.keys()]) if (k.startsWith(v.id + "|")) typed.delete(k);
  });
  const modal = h("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-label": v.title ? v.title.text : "modal", "data-view": v.id },
    h("div", { class: "modal-head" }, h("h3", {}, textObject(v.title)), h("button", { class: "x", type: "button", title: "Close", onclick: close }, "×")),
    h("div", { class: "modal-body" }, (v.blocks || []).map((b) => block(b, ctx))),
    h("div", { class: "modal-foot" }, h("button", { class: "btn", type: "button", onclick: close }, textObject(v.close || { type: "plain_text", text: "Cancel" })), v.submit ? submit : null));
  layer.replaceChildren(modal);
  layer.hidden = false;
  if (focused) {
    const field = layer.querySelector(`[data-block="${CSS.escape(focused)}"] textarea, [data-block="${CSS.escape(focused)}"] input`);
    if (field) { field.focus(); if (caret && field.setSelectionRange) field.setSelectionRange(caret[0], caret[1]); }
  }
}

function initials(name) { return (name || "?").split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase(); }
function ago(iso) { const d = new Date(iso); return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

function tweetEl(t, byId, reply) {
  const parent = t.in_reply_to ? byId.get(t.in_reply_to) : null;
  return h("article", { class: "tweet" + (t.by_brand ? " brand" : "") + (reply ? " reply" : ""), id: "x-" + t.id },
    h("div", { class: "pic" }, initials(t.author.name)),
    h("div", {},
      h("div", {}, h("span", { class: "who" }, t.author.name), " ", h("span", { class: "handle" }, "@" + t.author.username), h("span", { class: "when" }, " · " + ago(t.created_at))),
      parent ? h("div", { class: "replying" }, "Replying to @" + parent.author.username) : null,
      h("div", { class: "body" }, t.text)));
}

function drawX() {
  const x = STATE.x;
  document.getElementById("x-brand").textContent = "@" + x.brand + "'s mentions and replies";
  const box = document.getElementById("x-posts");
  const json = JSON.stringify([x.posts, x.dms]);
  if (box.dataset.json === json) return;
  box.dataset.json = json;
  const byId = new Map(x.posts.map((t) => [t.id, t]));
  const roots = x.posts.filter((t) => !t.in_reply_to || !byId.has(t.in_reply_to));
  const children = (id) => x.posts.filter((t) => t.in_reply_to === id).reverse();
  const group = (t) => {
    const kids = children(t.id);
    return [tweetEl(t, byId, false), kids.length ? h("div", { class: "replies" }, kids.map((k) => group(k))) : null];
  };
  box.replaceChildren(
    ...(roots.length ? roots.map((t) => h("div", { class: "tweet-group" }, group(t))) : [h("div", { class: "empty" }, "No posts yet")]),
    ...(x.dms.length ? [h("div", { class: "dm-label" }, "Direct messages sent by @" + x.brand), ...x.dms.map((d) => h("div", { class: "dm" }, d.text || ""))] : []));
}

function drawFacebook() {
  const fb = STATE.facebook;
  document.getElementById("fb-page").textContent = fb.page;
  const box = document.getElementById("fb-posts");
  const json = JSON.stringify(fb.posts);
  if (box.dataset.json === json) return;
  box.dataset.json = json;
  const comment = (c) => h("div", { class: "fb-comment" + (c.from.is_page ? " page" : "") + (c.parent ? " child" : ""), id: "fb-" + c.id },
    h("div", { class: "fb-dot" }, initials(c.from.name)),
    h("div", { class: "bubble" }, h("div", { class: "who" }, c.from.name), h("div", {}, c.message)));
  box.replaceChildren(...(fb.posts.length ? fb.posts.map((p) => h("div", { class: "fb-post", id: "fb-" + p.id },
    h("div", { class: "who" }, p.from.name, p.rating ? " recommends… " : ""), h("div", { class: "when" }, ago(p.created_time)),
    h("div", { class: "body" }, p.message || ""),
    ...p.comments.filter((c) => !c.parent).flatMap((c) => [comment(c), ...p.comments.filter((r) => r.parent === c.id).map(comment)])))
    : [h("div", { class: "empty" }, "No posts yet")]));
}

function draw() {
  if (!STATE) return;
  document.getElementById("channel-name").textContent = STATE.channel.name;
  drawChannel();
  if (tab === "home") drawHome();
  drawModal();
  drawX();
  drawFacebook();
}

async function refresh() {
  let res;
  try {
    res = await fetch("/api/state");
  } catch (e) {
    return; // the demo stopped: keep the last picture
  }
  if (!res.ok) return;
  STATE = await res.json();
  draw();
  document.body.dataset.ready = "1";
}

// ---------- wiring ----------
document.addEventListener("click", () => document.querySelectorAll(".overflow-menu").forEach((m) => m.remove()));
document.getElementById("play").addEventListener("click", (e) => {
  const kind = e.target.dataset && e.target.dataset.kind;
  if (kind) call("/api/customer", { kind, network: document.getElementById("network").value });
});
document.getElementById("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("command");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  call("/api/command", { text });
});
function showTab(name) {
  tab = name;
  document.getElementById("tab-channel").classList.toggle("active", name === "channel");
  document.getElementById("tab-home").classList.toggle("active", name === "home");
  document.getElementById("channel").hidden = name !== "channel";
  document.getElementById("composer").hidden = name !== "channel";
  document.getElementById("home").hidden = name !== "home";
  if (name === "home") call("/api/home", {});
  draw();
}
document.getElementById("tab-channel").addEventListener("click", () => showTab("channel"));
document.getElementById("tab-home").addEventListener("click", () => showTab("home"));

refresh();
setInterval(refresh, 800);
