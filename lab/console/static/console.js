// wirelab console: fetch + EventSource, no framework. Every change is a POST with the
// per-lab token from <meta name="lab-token"> in the X-Lab-Token header.
"use strict";
const TOKEN = document.querySelector('meta[name="lab-token"]')?.content || "";
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Lab-Token": TOKEN },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (!response.ok && !data.error) data.error = `HTTP ${response.status}`;
  return data;
}

function text(tag, cls, content) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.textContent = content;
  return el;
}

function showErrors(form, data) {
  $$(".field-error", form).forEach((el) => { el.textContent = ""; });
  $$(".invalid", form).forEach((el) => el.classList.remove("invalid"));
  if (!data || !data.error) return;
  const field = data.field || "";
  const slot = $(`.field-error[data-for="${CSS.escape(field)}"]`, form) || $('.field-error[data-for=""]', form);
  slot.textContent = data.error;
  const input = field && form.elements[field];
  if (input && input.classList) input.classList.add("invalid");
}

// ---- Overview: the live feed ----------------------------------------------------------
function startFeed() {
  const list = $("#feed");
  if (!list) return;
  const state = $("#feed-state");
  const source = new EventSource(list.dataset.src);
  source.onopen = () => { state.textContent = "live"; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("feed", (event) => {
    const item = JSON.parse(event.data);
    const li = document.createElement("li");
    li.append(text("span", `src ${item.source}`, item.source), text("span", "", ` ${item.kind === "log" ? "" : item.kind + " "}${item.text}`));
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  });
}

// ---- Faults ---------------------------------------------------------------------------
function faultsPage() {
  const form = $("#toxic-form");
  if (!form) return;
  const catalogue = JSON.parse($("#toxic-catalogue").textContent);
  const fields = $("#attr-fields");

  function protocol() {
    const option = form.elements.proxy.selectedOptions[0];
    return option ? option.dataset.protocol : "tcp";
  }
  function fillTypes(selected) {
    const types = Object.keys(catalogue[protocol()] || {});
    form.elements.type.replaceChildren(...types.map((t) => new Option(t, t, false, t === selected)));
    fillAttributes();
  }
  function fillAttributes(values) {
    const attrs = (catalogue[protocol()] || {})[form.elements.type.value] || [];
    fields.replaceChildren(text("legend", "", "attributes"));
    for (const a of attrs) {
      const label = text("label", "", `${a.name}${a.doc ? " (" + a.doc + ")" : ""}`);
      const input = document.createElement("input");
      input.name = a.name;
      input.dataset.kind = a.kind;
      const value = values && a.name in values ? values[a.name] : a.default;
      input.value = value === null || value === undefined ? "" : (typeof value === "object" ? JSON.stringify(value) : String(value));
      input.autocomplete = "off";
      const err = text("span", "field-error", "");
      err.dataset.for = a.name;
      label.append(input, err);
      fields.append(label);
    }
  }
  function collect() {
    const attributes = {};
    for (const input of $$("input", fields)) {
      const raw = input.value.trim();
      if (raw === "") continue;
      const kind = input.dataset.kind;
      let value = raw;
      if (kind === "int" || kind === "float" || kind === "number") value = Number(raw);
      else if (kind !== "str") { try { value = JSON.parse(raw); } catch (e) { value = raw; } }
      if (typeof value === "number" && Number.isNaN(value)) value = raw; // the API says why
      attributes[input.name] = value;
    }
    const toxicity = Number(form.elements.toxicity.value);
    return {
      proxy: form.elements.proxy.value,
      type: form.elements.type.value,
      name: form.elements.name.value.trim(),
      stream: form.elements.stream.value,
      toxicity: Number.isNaN(toxicity) ? form.elements.toxicity.value : toxicity,
      attributes,
      update: form.elements.update.value === "yes",
    };
  }
  function resetForm() {
    form.elements.update.value = "";
    form.elements.name.readOnly = false;
    form.elements.proxy.disabled = false;
    $('button[type="submit"]', form).textContent = "add toxic";
    showErrors(form, null);
  }
  form.elements.proxy.addEventListener("change", () => fillTypes());
  form.elements.type.addEventListener("change", () => fillAttributes());
  $("#toxic-reset").addEventListener("click", () => { resetForm(); fillTypes(form.elements.type.value); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $('button[type="submit"]', form);
    button.disabled = true;
    const data = await post("/api/toxics", collect());
    button.disabled = false;
    showErrors(form, data);
    if (data.ok) { resetForm(); fillAttributes(); await refreshProxies(); }
  });

  async function refreshProxies() {
    const response = await fetch("/fragments/proxies");
    $("#proxies").innerHTML = await response.text();
    await pollMetrics();
  }

  $("#proxies").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const card = button.closest(".proxy");
    if (button.classList.contains("js-remove")) {
      button.disabled = true;
      await post("/api/toxics/delete", { proxy: button.dataset.proxy, name: button.dataset.name });
      await refreshProxies();
    } else if (button.classList.contains("js-preset")) {
      button.disabled = true;
      const data = await post("/api/presets", { proxy: button.dataset.proxy, preset: button.dataset.preset, action: button.dataset.action });
      await refreshProxies();
      if (data.error) $(`.proxy[data-proxy="${CSS.escape(card.dataset.proxy)}"] .presets`).append(text("p", "field-error", data.error));
    } else if (button.classList.contains("js-edit")) {
      const toxic = JSON.parse(button.dataset.toxic);
      form.elements.proxy.value = button.dataset.proxy;
      fillTypes(toxic.type);
      fillAttributes(toxic.attributes);
      form.elements.name.value = toxic.name;
      form.elements.name.readOnly = true;
      form.elements.stream.value = toxic.stream;
      form.elements.toxicity.value = toxic.toxicity;
      form.elements.update.value = "yes";
      $('button[type="submit"]', form).textContent = "save changes";
      form.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  });
  $("#proxies").addEventListener("change", async (event) => {
    const box = event.target.closest(".js-enable");
    if (!box) return;
    await post("/api/proxies/enabled", { proxy: box.dataset.proxy, enabled: box.checked });
    await refreshProxies();
  });

  let last = null;
  function human(bytesPerSecond) {
    if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
    if (bytesPerSecond >= 1e3) return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
    return `${bytesPerSecond.toFixed(0)} B/s`;
  }
  async function pollMetrics() {
    let data;
    try { data = await (await fetch("/api/metrics")).json(); } catch (e) { return; }
    if (!data.proxies) return;
    for (const el of $$("[data-metrics]")) {
      const m = data.proxies[el.dataset.metrics];
      if (!m) continue;
      const before = last && last.proxies[el.dataset.metrics];
      const dt = last ? data.time - last.time : 0;
      const rate = (key) => (before && dt > 0 ? Math.max(0, m[key] - before[key]) / dt : 0);
      el.textContent = `↑ ${human(rate("bytes_upstream"))} · ↓ ${human(rate("bytes_downstream"))} · ${m.connections_active} open · ${m.connections_total} in all`;
    }
    last = data;
  }
  fillTypes();
  pollMetrics();
  setInterval(pollMetrics, 2000);
}

// ---- Scenarios ------------------------------------------------------------------------
function scenariosPage() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest(".js-run");
    if (!button) return;
    event.preventDefault();
    $$(".js-run").forEach((b) => { b.disabled = true; });
    const data = await post("/api/runs", { selector: button.dataset.selector });
    if (data.ok) { window.location.href = `/runs/${data.id}`; return; }
    $$(".js-run").forEach((b) => { b.disabled = false; });
    $("#run-error").textContent = data.error;
  });
}

function runPage() {
  const section = $("#run");
  if (!section || section.dataset.running !== "yes") return;
  const list = $("#progress");
  const status = $("#run-status");
  const source = new EventSource(`/api/runs/${section.dataset.run}/events`);
  const line = (cls, content) => { list.append(text("li", cls, content)); list.scrollTop = list.scrollHeight; };
  source.addEventListener("scenario", (e) => { const d = JSON.parse(e.data); status.textContent = `running ${d.index}/${d.total}: ${d.name}`; line("", `▶ ${d.name}`); });
  source.addEventListener("step_done", (e) => { const d = JSON.parse(e.data); line(d.status === "passed" ? "ok" : (d.status === "failed" || d.status === "error" ? "bad" : ""), `   ${d.status} ${d.name} (${d.duration.toFixed(2)} s)`); });
  source.addEventListener("rollback", (e) => { line("", "   rollback"); });
  source.addEventListener("scenario_done", (e) => { const d = JSON.parse(e.data); line(d.status === "passed" ? "ok" : "bad", `■ ${d.status} ${d.name}${d.failure ? " — " + d.failure : ""}`); });
  source.addEventListener("finished", async (e) => {
    source.close();
    const d = JSON.parse(e.data);
    status.textContent = d.error ? `error: ${d.error}` : (d.passed ? "finished: passed" : "finished: not passed");
    status.className = d.passed ? "verdict pass" : "verdict fail";
    const response = await fetch(`/fragments/runs/${section.dataset.run}`);
    if (response.ok) $("#journal").innerHTML = await response.text();
    section.dataset.running = "no";
  });
}

// ---- UDP ------------------------------------------------------------------------------
function udpPage() {
  const form = $("#udp-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $('button[type="submit"]', form);
    button.disabled = true;
    button.textContent = "measuring…";
    const body = Object.fromEntries(new FormData(form).entries());
    const data = await post("/api/udp", body);
    button.disabled = false;
    button.textContent = "measure";
    showErrors(form, data);
    if (data.ok) $("#udp-result").innerHTML = data.html;
  });
}

// ---- Exercises ------------------------------------------------------------------------
function exercisesPage() {
  const form = $("#roster-form");
  if (!form) return;
  form.elements.file.addEventListener("change", async () => {
    const file = form.elements.file.files[0];
    if (!file) return;
    const data = await post("/api/roster", { filename: file.name, text: await file.text() });
    showErrors(form, data);
    if (data.ok) $("#roster").innerHTML = data.html;
  });
  $("#roster").addEventListener("click", (event) => {
    const link = event.target.closest(".js-student");
    if (!link) return;
    event.preventDefault();
    const details = document.getElementById(link.getAttribute("href").slice(1));
    if (details) { details.open = true; details.scrollIntoView({ behavior: "smooth", block: "start" }); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startFeed();
  faultsPage();
  if ($(".js-run")) scenariosPage();
  runPage();
  udpPage();
  exercisesPage();
});
