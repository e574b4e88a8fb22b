// labelwise pages: a little JavaScript over the JSON API. Every change is sent with the
// page's CSRF token; document text is only ever put into the page as text, never as HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
// statuses as the server names them (rendered into the page from the enums; never retyped)
const vocabulary = JSON.parse(document.getElementById("lw-vocabulary").textContent);
const isActiveJob = (status) => vocabulary.activeJob.includes(status);

async function api(method, url, body, raw) {
  const headers = { "X-CSRF-Token": csrf() };
  let payload;
  if (raw !== undefined) {
    payload = raw;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = (data && data.error && data.error.message) || response.statusText;
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return data;
}

function flash(message, isError) {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = isError ? "error" : "";
}

function guard(fn) {
  return async (event) => {
    if (event) event.preventDefault();
    try {
      await fn(event);
    } catch (err) {
      flash(err.message, true);
    }
  };
}

const enc = encodeURIComponent;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// -- projects -----------------------------------------------------------------------------------
function projectsPage() {
  const form = $("#new-project");
  if (!form) return;
  form.addEventListener("submit", guard(async () => {
    const f = new FormData(form);
    const body = Object.fromEntries(["name", "kind", "language", "description"].map((k) => [k, f.get(k) || ""]));
    body.multilingual = f.get("multilingual") === "on";
    await api("POST", "/api/projects", body);
    location.href = "/projects/" + enc(body.name);
  }));
}

function node(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function importForm() {
  const form = $("#import");
  if (!form) return;
  const project = form.getAttribute("data-project");
  const picker = $("#columns");
  // a CSV's first line, split as the importer reads it (quotes, and "," ";" or tab)
  const splitRow = (line, sep) => {
    const cells = [];
    let cell = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') quoted = false;
        else cell += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === sep) { cells.push(cell); cell = ""; }
      else cell += ch;
    }
    cells.push(cell);
    return cells;
  };
  const guess = (columns, names) => columns.find((c) => names.includes(c.trim().toLowerCase())) || "";
  form.file.addEventListener("change", guard(async () => {
    const file = form.file.files[0];
    picker.hidden = true;
    if (!file || !/\.csv$/i.test(file.name)) return;
    const head = await file.slice(0, 65536).text();
    const lines = head.split(/\r?\n/).filter((l) => l.trim()).slice(0, 6);
    if (!lines.length) return;
    const sep = [",", ";", "\t"].sort((a, b) => lines[0].split(b).length - lines[0].split(a).length)[0];
    const columns = splitRow(lines[0], sep);
    const fill = (select, chosen, optional) => {
      select.replaceChildren();
      if (optional) select.append(new Option("(none)", ""));
      for (const c of columns) select.append(new Option(c, c, false, c === chosen));
    };
    fill(form.text_column, guess(columns, ["text", "body", "content", "message"]) || columns[0], false);
    fill(form.name_column, guess(columns, ["name", "id", "document", "filename"]), true);
    fill(form.label_column, guess(columns, ["label", "labels", "class", "classes", "category"]), true);
    const table = $("#preview");
    table.replaceChildren();
    const headRow = table.insertRow();
    for (const c of columns) headRow.append(node("th", "", c));
    for (const line of lines.slice(1)) {
      const row = table.insertRow();
      for (const cell of splitRow(line, sep)) row.insertCell().textContent = cell.slice(0, 80);
    }
    picker.hidden = false;
  }));
  form.addEventListener("submit", guard(async () => {
    const file = form.file.files[0];
    const format = /\.csv$/i.test(file.name) ? "csv" : "jsonl";
    const q = new URLSearchParams({ format, filename: file.name });
    if (form.create_classes.checked) q.set("create_classes", "true");
    if (form.replace.checked) q.set("replace", "true");
    if (form.elements.target_set.value) q.set("dataset", form.elements.target_set.value);
    if (format === "csv" && !picker.hidden) {
      for (const k of ["text_column", "name_column", "label_column"]) if (form[k].value) q.set(k, form[k].value);
    }
    flash("importing " + file.name + " …");
    const report = await api("POST", `/api/projects/${enc(project)}/import?${q}`, undefined, file);
    const out = $("#import-report");
    out.hidden = false;
    out.replaceChildren();
    const line = (text, cls) => out.append(node("p", cls || "", text));
    line(`${file.name}: ${report.inserted} new, ${report.replaced} replaced, ${report.unchanged} unchanged, ` +
      `${report.duplicates} duplicate names, ${report.errors.length} refused.`);
    if (report.classes_created.length) line(`Classes created: ${report.classes_created.join(", ")}.`);
    for (const w of report.warnings) line(w, "small");
    if (report.errors.length) {
      const list = node("ul");
      for (const e of report.errors.slice(0, 50)) list.append(node("li", "", `${e.where}: ${e.reason}`));
      out.append(list);
    }
    const summary = await api("GET", `/api/projects/${enc(project)}`);
    for (const k of ["documents", "labeled", "unlabeled", "train", "test", "pending_suggestions"]) {
      const box = document.getElementById(`count-${k}`);
      if (box) box.textContent = String(summary[k]);
    }
    flash(`imported ${report.inserted} new, ${report.replaced} replaced, ${report.errors.length} refused`);
  }));
}

// -- one document: decisions stay pending until Save ----------------------------------------------
function reviewPage() {
  // One key per decision, no page load: a decision goes through the API and the next document
  // of the list is fetched and drawn in place (the URL follows, so history and reload work).
  const root = $("#review");
  if (!root) return;
  const project = root.dataset.project;
  const single = root.dataset.kind === "single_label";
  const classes = JSON.parse(root.dataset.classes);
  const query = root.dataset.query;
  const listName = root.dataset.listName;
  const qs = query ? `?${query}` : "";
  const docUrl = (name) => `/api/projects/${enc(project)}/documents/${enc(name)}${qs}`;
  const pageUrl = (name) => `/projects/${enc(project)}/documents/${enc(name)}${qs}`;
  let doc = null;       // the document shown, as the API gives it
  let startTotal = null; // documents in the list when review began
  let picked = new Set(); // multi-label: classes toggled with the number keys
  let filterText = "";   // more than 9 classes: type to filter, Enter picks
  const history_ = [];   // decisions to undo: {name, body}

  // a decision's errors show in the flash box (``guard`` is for event handlers)
  const safe = (fn) => async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err.status === 409 && doc) {
        // decided elsewhere meanwhile, or replaced by a refreshed run: show it as it is now
        try {
          await show(doc.name, false);
        } catch (again) {
          flash(again.message, true);
          return;
        }
        flash(`${err.message.replace(/; reload the document$/, "")}: shown again as it is now`, true);
        return;
      }
      flash(err.message, true);
    }
  };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  async function count() {
    const r = await api("GET", `/api/projects/${enc(project)}/documents${qs}${qs ? "&" : "?"}limit=1&count=true`);
    return r.total;
  }

  function render() {
    document.title = `${doc.name} · ${project}`;
    $("#doc-name").textContent = doc.name;
    $("#doc-text").textContent = doc.text; // text only, never HTML
    const labels = $("#user-labels");
    labels.replaceChildren();
    if (!doc.labels.length) labels.append(el("span", "muted", "no user label yet"));
    for (const l of doc.labels) {
      const chip = el("span", "label user", l);
      chip.dataset.class = l;
      chip.append(el("span", "chip-kind", " · yours"));
      labels.append(chip);
    }
    // suggestions merged by class: one chip per class, every labeler that proposed it
    const byClass = new Map();
    for (const s of doc.suggestions) {
      if (!byClass.has(s.class)) byClass.set(s.class, []);
      byClass.get(s.class).push(s);
    }
    const list = $("#suggestions");
    list.replaceChildren();
    if (!byClass.size) list.append(el("li", "muted", "no suggestions to review"));
    for (const [cls, items] of byClass) {
      const li = el("li", "suggestion");
      li.dataset.class = cls;
      li.dataset.id = items[0].id;
      li.dataset.ids = items.map((s) => s.id).join(",");
      const chip = el("span", "label suggested", cls);
      chip.append(el("span", "chip-kind", " · suggested"));
      li.append(chip, " ");
      const who = items.map((s) => `${s.labeler}${s.model ? " " + s.model : ""} ${s.confidence.toFixed(2)}`).join(" · ");
      li.append(el("span", "confidence", items[0].confidence.toFixed(2)), " ");
      const est = items.find((s) => s.estimated_precision !== null && s.estimated_precision !== undefined);
      if (est) li.append(el("span", "estimated", `≈${Math.round(100 * est.estimated_precision)} % right (${est.labeler}, from reviewed decisions)`), " ");
      const agree = items[0].agreed_by || [];
      if (agree.length > 1) {
        const both = items[0].combined_precision;
        const together = both === null || both === undefined ? "" : `: ≈${Math.round(100 * both)} % right together`;
        li.append(el("span", "agreed", `agreed by ${agree.join(", ")}${together}`), " ");
      }
      const ok = el("button", "accept", "✓");
      ok.type = "button"; ok.title = "Accept (a)"; ok.setAttribute("aria-label", `Accept ${cls}`);
      ok.addEventListener("click", () => decide("accept", li));
      const no = el("button", "reject", "✗");
      no.type = "button"; no.title = "Reject (r)"; no.setAttribute("aria-label", `Reject ${cls}`);
      no.addEventListener("click", () => decide("reject", li));
      li.append(ok, " ", no, el("div", "meta", who));
      const why = items.find((s) => s.rationale);
      if (why) li.append(el("div", "rationale", why.rationale));
      list.append(li);
    }
    const manual = $("#manual");
    manual.replaceChildren();
    classes.forEach((c, i) => {
      const label = el("label");
      const input = el("input");
      input.type = single ? "radio" : "checkbox";
      input.name = "manual";
      input.value = c;
      input.checked = doc.labels.includes(c) || picked.has(c);
      input.addEventListener("change", () => {
        if (single) pick(c); else { toggle(c); }
      });
      label.append(input, ` ${i < 9 ? i + 1 + " " : ""}${c}`);
      label.hidden = Boolean(filterText) && !c.toLowerCase().includes(filterText);
      manual.append(label);
    });
    $("#dataset").value = doc.dataset;
    $("#prev").hidden = !doc.previous;
    $("#next").hidden = !doc.next;
    $("#undo").disabled = !history_.length;
  }

  // the counter: the list is counted once; a decision that takes a document out of the list
  // (the review answers whether it still matches the filters) counts it down, its undo up
  let left = null;
  const outOfList = new Set(); // documents a decision took out of the list
  function showCounter(end) {
    if (left === null) return;
    $("#counter").textContent = `${left} of ${startTotal} left in ${listName}${end ? "; the end of the list" : ""}`;
  }
  function follow(name, inList) {
    if (inList === undefined || inList === null || left === null) return;
    if (!inList && !outOfList.has(name)) { outOfList.add(name); left -= 1; }
    else if (inList && outOfList.has(name)) { outOfList.delete(name); left += 1; }
  }

  async function show(name, push) {
    doc = await api("GET", docUrl(name));
    picked = new Set();
    filterText = "";
    $("#class-filter").value = "";
    if (push) history.pushState({ name }, "", pageUrl(name));
    render();
    if (left === null) {
      left = await count();
      startTotal = left;
    }
    showCounter(false);
  }

  async function moveOn(next) {
    if (next) await show(next, true);
    else { // the end of the list: what is left is counted again
      left = await count();
      showCounter(true);
      flash("the end of the list");
    }
  }

  async function send(body, undoBody) {
    const next = doc.next;
    const name = doc.name;
    const after = await api("POST", `/api/projects/${enc(project)}/documents/${enc(name)}/review${qs}`, body);
    follow(name, after.in_list);
    history_.push({ name, body: undoBody });
    return { next, name };
  }

  const decide = safe(async (what, li) => {
    li = li || $("#suggestions .suggestion");
    if (!li) { flash("no suggestion to decide on: pick a class with 1–9"); return; }
    const ids = li.dataset.ids.split(",").map(Number);
    const body = what === "accept" ? { accept: [ids[0]], reject: ids.slice(1) } : { reject: ids };
    const { next } = await send(body, { undo: ids });
    const rest = doc.suggestions.filter((s) => !ids.includes(s.id));
    if (what === "accept" && !single && rest.length) return show(doc.name, false);
    if (what === "reject" && rest.length) return show(doc.name, false);
    return moveOn(next);
  });

  const pick = safe(async (cls) => {
    // single-label: the class becomes the document's label (accepting the suggestion that
    // names it, rejecting the others); on to the next document
    const match = doc.suggestions.filter((s) => s.class === cls).map((s) => s.id);
    const others = doc.suggestions.filter((s) => s.class !== cls).map((s) => s.id);
    const body = match.length
      ? { accept: [match[0]], reject: [...others, ...match.slice(1)] }
      : { labels: [cls], reject: others };
    const { next } = await send(body, { undo: [...match, ...others], labels: doc.labels });
    return moveOn(next);
  });

  function toggle(cls) {
    if (picked.has(cls)) picked.delete(cls); else picked.add(cls);
    render();
  }

  const savePicked = safe(async () => {
    const labels = [...new Set([...doc.labels, ...picked])];
    const { next } = await send({ labels }, { labels: doc.labels });
    return moveOn(next);
  });

  const undo = safe(async () => {
    const last = history_.pop();
    if (!last) { flash("nothing to undo"); return; }
    const after = await api("POST", `/api/projects/${enc(project)}/documents/${enc(last.name)}/review${qs}`, last.body);
    follow(last.name, after.in_list);
    await show(last.name, last.name !== (doc && doc.name));
    flash(`undone on ${last.name}`);
  });

  const saveDataset = safe(async () => {
    await api("POST", `/api/projects/${enc(project)}/documents/${enc(doc.name)}/review`, { dataset: $("#dataset").value });
    flash(`${doc.name} is in the ${$("#dataset").value} set`);
  });
  $("#dataset").addEventListener("change", saveDataset);
  $("#undo").addEventListener("click", undo);
  $("#prev").addEventListener("click", (e) => { e.preventDefault(); if (doc.previous) show(doc.previous, true); });
  $("#next").addEventListener("click", (e) => { e.preventDefault(); if (doc.next) show(doc.next, true); });
  $("#class-filter").addEventListener("input", (e) => { filterText = e.target.value.toLowerCase(); render(); });
  $("#class-filter").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    const shown = classes.filter((c) => c.toLowerCase().includes(filterText));
    if (shown.length === 1) (single ? pick(shown[0]) : toggle(shown[0]));
    e.target.blur();
  });
  window.addEventListener("popstate", (e) => { if (e.state && e.state.name) show(e.state.name, false); });

  const typing = (t) => t.closest("textarea, select, input[type=text], input[type=search], input:not([type])");
  document.addEventListener("keydown", (event) => {
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey || !doc) return;
    const k = event.key;
    if (k === "a") decide("accept");
    else if (k === "r") decide("reject");
    else if (k === "u") undo();
    else if (k === "j" && doc.next) show(doc.next, true);
    else if (k === "k" && doc.previous) show(doc.previous, true);
    else if (k === "Enter" && !single && picked.size) savePicked();
    else if (/^[1-9]$/.test(k) && classes[Number(k) - 1]) {
      const c = classes[Number(k) - 1];
      if (single) pick(c); else toggle(c);
    } else if (k === "/") { event.preventDefault(); $("#class-filter").focus(); }
    else return;
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  });
  history.replaceState({ name: root.dataset.document }, "", location.href);
  show(root.dataset.document, false).catch((err) => flash(err.message, true));
}

// -- bulk review ------------------------------------------------------------------------------------
function bulkPage() {
  const root = $("#bulk");
  if (!root) return;
  const base = `/api/projects/${enc(root.dataset.project)}/suggestions`;
  const picked = () => $$(".pick").filter((i) => i.checked).map((i) => Number(i.value));
  $("#select-all").addEventListener("change", (e) => $$(".pick").forEach((i) => (i.checked = e.target.checked)));
  const decide = (what) => guard(async () => {
    const ids = picked();
    if (!ids.length) throw new Error("select some suggestions first");
    try {
      await api("POST", `${base}/${what}`, { ids });
    } catch (err) {  // all or none: decided elsewhere meanwhile, or replaced by a refreshed run
      if (err.status === 404 || err.status === 409) {
        err.message += ": nothing was saved; the list changed since it was shown, reload the page";
      }
      throw err;
    }
    location.reload();
  });
  $("#accept-selected").addEventListener("click", decide("accept"));
  $("#reject-selected").addEventListener("click", decide("reject"));
  $("#accept-above").addEventListener("click", guard(async (e) => {
    const body = { threshold: Number($("#threshold").value) };
    if (e.target.dataset.class) body.class = e.target.dataset.class;
    const would = await api("POST", `${base}/accept-above`, { ...body, dry_run: true });
    if (!would.accepted) { flash(`no suggestion at confidence ≥ ${body.threshold}`); return; }
    if (!window.confirm(`Accept ${would.accepted} suggestions at confidence ≥ ${body.threshold}?`)) return;
    const r = await api("POST", `${base}/accept-above`, body);
    flash(`accepted ${r.accepted}`);
    setTimeout(() => location.reload(), 600);
  }));
  // the lowest threshold whose reviewed precision holds the target at its 90 % lower bound
  $("#accept-at-precision").addEventListener("click", guard(async (e) => {
    const body = { precision: Number($("#precision").value) };
    if (e.target.dataset.labeler) body.labeler = e.target.dataset.labeler;
    const would = await api("POST", `${base}/accept-at-precision`, { ...body, dry_run: true });
    if (!would.accepted) { flash(would.message, true); return; }
    if (!window.confirm(`${would.message}. Accept them?`)) return;
    const r = await api("POST", `${base}/accept-at-precision`, body);
    flash(r.message);
    setTimeout(() => location.reload(), 600);
  }));
}

// -- autolabel wizard ------------------------------------------------------------------------------
function wizardPage() {
  const form = $("#wizard");
  if (!form) return;
  const project = form.dataset.project;
  const labeler = () => form.querySelector('input[name="labeler"]:checked').value;
  const show = () => {
    $$(".when-openai", form).forEach((el) => el.classList.toggle("hidden", labeler() !== "openai"));
    $$(".when-model", form).forEach((el) => el.classList.toggle("hidden", labeler() !== "model"));
    $$(".when-free", form).forEach((el) => el.classList.toggle("hidden", labeler() === "openai"));
    $$(".when-embedded", form).forEach((el) => el.classList.toggle("hidden", labeler() !== "embedding"));
    if (labeler() !== "openai") $("#estimate").textContent = "The model runs on this server: no tokens, no cost.";
  };
  $$('input[name="labeler"]', form).forEach((i) => i.addEventListener("change", show));
  show();
  $("#all-classes").addEventListener("change", (e) => $$('input[name="classes"]', form).forEach((i) => (i.checked = e.target.checked)));

  const choice = () => {
    const classes = $$('input[name="classes"]', form).filter((i) => i.checked).map((i) => i.value);
    const all = classes.length === $$('input[name="classes"]', form).length;
    if (!classes.length) throw new Error("choose at least one class");
    const body = {
      classes: all ? null : classes,
      docs: form.querySelector('input[name="docs"]:checked').value,
    };
    if (form.limit.value) body.limit = Number(form.limit.value);
    return body;
  };
  const llmOptions = () => ({
    docs_per_request: Number(form.docs_per_request.value || 1),
    concurrency: Number(form.concurrency.value || 16),
    batch: form.batch.checked,
  });

  $("#test-connection").addEventListener("click", guard(async () => {
    const name = $("#llm").value;
    if (!name) throw new Error("choose or add a connection first");
    const said = $("#connection-test");
    said.textContent = "testing…";
    const t = await api("POST", `/api/llm/${enc(name)}/test`);
    said.textContent = t.ok
      ? `answered in ${t.latency_ms} ms by ${t.model}; JSON schema ${t.json_schema ? "yes" : "no"}, logprobs ${t.logprobs ? "yes" : "no"}`
      : `failed: ${t.detail}`;
  }));

  $("#add-connection").addEventListener("click", guard(async () => {
    const body = {};
    for (const k of ["name", "provider", "endpoint", "model", "api_version", "api_key_env"]) body[k] = form["c_" + k].value;
    const c = await api("POST", "/api/llm", body);
    const option = new Option(`${c.name} — ${c.provider} ${c.model}`, c.name, true, true);
    $("#llm").add(option);
    flash(`connection ${c.name} added`);
  }));
  $("#estimate-button").addEventListener("click", guard(async () => {
    const body = { ...choice(), llm: form.llm.value, options: llmOptions() };
    const e = await api("POST", `/api/projects/${enc(project)}/estimate`, body);
    const cost = e.cost_usd === null ? "unknown (no price for this model)" : "$" + e.cost_usd.toFixed(4);
    $("#estimate").textContent = `${e.documents} documents, ${e.requests} requests, ${e.prompt_tokens.toLocaleString()} prompt tokens ` +
      `(${e.exact ? "exact" : "estimated"}), ~${e.completion_tokens.toLocaleString()} completion tokens: ${cost}. Charged per token by the provider.`;
  }));
  form.addEventListener("submit", guard(async () => {
    const body = { ...choice(), labeler: labeler() };
    if (body.labeler === "openai") {
      body.llm = form.llm.value;
      body.options = llmOptions();
      if (form.budget_usd.value) body.budget_usd = Number(form.budget_usd.value);
    }
    if (body.labeler === "model") body.model = form.model.value;
    if (body.labeler !== "openai" && form.refresh.checked) body.refresh = true;
    if (body.labeler === "embedding" && form.retrain_every.value) body.retrain_every = Number(form.retrain_every.value);
    await api("POST", `/api/projects/${enc(project)}/jobs`, body);
    location.href = `/projects/${enc(project)}/jobs`;
  }));
}

// -- jobs: live progress by polling --------------------------------------------------------------------
function jobsPage() {
  const table = $("#jobs");
  if (!table) return;
  const project = table.dataset.project;
  table.addEventListener("click", guard(async (e) => {
    const button = e.target.closest("button");
    if (!button) return;
    const what = button.classList.contains("cancel") ? "cancel" : "resume";
    await api("POST", `/api/jobs/${button.dataset.job}/${what}`, what === "resume" ? {} : undefined);
    location.reload();
  }));
  // poll while a job runs, and (more slowly) while a refit chain waits for labels: the server
  // starts its next job when they arrive, and the page shows it
  let active = $$(".status-word", table).some((word) => isActiveJob(word.textContent));
  let waiting = $$("tr[data-refit-waiting]", table).length > 0;
  const poll = async () => {
    if (!active && !waiting) return;
    try {
      const jobs = await api("GET", `/api/projects/${enc(project)}/jobs`);
      const rows = new Map($$("tr[data-job]", table).map((tr) => [Number(tr.dataset.job), tr]));
      active = false;
      waiting = jobs.some((j) => j.refit_waiting);
      for (const j of jobs) {
        const tr = rows.get(j.id);
        if (!tr) { location.reload(); return; }
        if (isActiveJob(j.status)) active = true;
        const word = $(".status-word", tr);
        if (word.textContent !== j.status) {
          if (!isActiveJob(j.status)) { location.reload(); return; }
          word.textContent = j.status;
        }
        $(".reason", tr).textContent = j.reason;  // the provider's error while it retries
        $("progress", tr).max = j.total || 1;
        $("progress", tr).value = j.done + j.failed;
        $(".progress-text", tr).textContent = `${j.done} done, ${j.failed} failed of ${j.total}`;
        $(".rate", tr).textContent = j.docs_per_second.toFixed(1);
        $(".tokens", tr).textContent = String(j.prompt_tokens + j.completion_tokens);
        $(".cost", tr).textContent = `$${j.cost_usd.toFixed(4)}` + (j.budget_usd ? ` of $${j.budget_usd.toFixed(2)}` : "");
        const failures = $(".failures", tr);
        failures.textContent = "";
        for (const [reason, info] of Object.entries(j.failures)) {
          const line = document.createElement("div");
          line.textContent = `${reason} × ${info.count}`;
          failures.append(line);
        }
      }
    } catch (err) {
      flash(err.message, true);
    }
    setTimeout(poll, active ? 1000 : 3000);
  };
  setTimeout(poll, 500);
}

// -- models -----------------------------------------------------------------------------------------
function modelsPage() {
  const form = $("#train");
  if (!form) return;
  const project = form.dataset.project;
  form.addEventListener("submit", guard(async () => {
    const left = await api("GET", `/api/projects/${enc(project)}/suggestions/unaccepted`);
    if (left.pending && !window.confirm(`Training deletes ${left.pending} suggestions nobody reviewed (they cost $${left.cost_usd.toFixed(4)}) and ${left.rejected} rejected ones. Train now?`)) return;
    const manual = form.querySelector('input[name="split_mode"]:checked').value === "manual";
    const body = { model: form.model.value, algorithm: form.algorithm.value, split: Number(form.split.value), manual_split: manual };
    const r = await api("POST", `/api/projects/${enc(project)}/models`, body);
    flash(`training ${r.model} on ${r.train_documents} documents…` + (r.warnings.length ? " " + r.warnings.join("; ") : ""));
    const wait = async () => {
      const m = await api("GET", `/api/projects/${enc(project)}/models/${enc(body.model)}`);
      if (m.status === vocabulary.model.TRAINING) setTimeout(wait, 1000);
      else location.reload();
    };
    setTimeout(wait, 1000);
  }));
  $$("button.deploy").forEach((b) => b.addEventListener("click", guard(async () => {
    const name = b.previousElementSibling.value.trim() || "production";
    await api("PUT", `/api/projects/${enc(project)}/deployments/${enc(name)}`, { model: b.dataset.model });
    location.reload();
  })));
  const tryForm = $("#try");
  if (tryForm) tryForm.addEventListener("submit", guard(async () => {
    const url = `/api/projects/${enc(project)}/deployments/${enc(tryForm.deployment.value)}/predict`;
    const r = await api("POST", url, { documents: [{ id: "1", text: tryForm.text.value }] });
    const d = r.documents[0];
    const out = $("#prediction");
    out.textContent = "";
    for (const c of d.class) {
      const span = document.createElement("span");
      span.className = "label user";
      span.textContent = `${c.category} ${c.confidenceScore.toFixed(2)}`;
      out.append(span);
    }
    if (!out.textContent) out.textContent = "no class";
  }));
}

// GET filter forms: leave empty fields out of the address
function filterForms() {
  for (const form of $$("form.filters")) {
    form.addEventListener("submit", () => {
      for (const el of form.elements) if (el.name && el.value === "") el.disabled = true;
    });
  }
}

// -- classes -------------------------------------------------------------------------------------
function classesPage() {
  const form = $("#new-class");
  if (!form) return;
  const project = form.dataset.project;
  const base = `/api/projects/${enc(project)}/classes`;
  const lines = (text) => text.split("\n").map((x) => x.trim()).filter(Boolean);
  form.addEventListener("submit", guard(async () => {
    await api("POST", base, {
      name: form.name.value.trim(),
      description: form.description.value,
      examples: lines(form.examples.value),
    });
    location.reload();
  }));
  for (const tr of $$("#classes tr[data-class]")) {
    const name = tr.dataset.class;
    $(".save-class", tr).addEventListener("click", guard(async () => {
      const body = {
        description: $('textarea[name="description"]', tr).value,
        examples: lines($('textarea[name="examples"]', tr).value),
      };
      const renamed = $('input[name="name"]', tr).value.trim();
      if (renamed !== name) body.name = renamed;
      await api("PATCH", `${base}/${enc(name)}`, body);
      location.reload();
    }));
    $(".delete-class", tr).addEventListener("click", guard(async () => {
      const question = `Delete class "${name}" with its ${tr.dataset.labels} labels and ` +
        `${tr.dataset.suggestions} suggestions? This cannot be undone.`;
      if (!confirm(question)) return;
      await api("DELETE", `${base}/${enc(name)}`);
      location.reload();
    }));
  }
}

// -- audit mode: label drawn documents blind ----------------------------------------------------
function auditPage() {
  const root = $("#audit");
  if (!root) return;
  const project = root.dataset.project;
  const single = root.dataset.kind === "single_label";
  const base = `/api/projects/${enc(project)}/audit`;
  const queue = JSON.parse($("#audit-waiting").textContent);
  $("#audit-draw").addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    const n = Number(new FormData(e.target).get("n"));
    const drawn = await api("POST", `${base}/sample`, { n });
    flash(`${drawn.length} documents drawn`);
    setTimeout(() => location.reload(), 400);
  }));
  const inputs = () => $$("#audit-classes input");
  function show() {
    $("#audit-left").textContent = `${queue.length} waiting`;
    const card = $("#audit-doc");
    if (!card) return;
    if (!queue.length) {
      card.replaceWith(node("p", "muted", "Nothing waiting: draw a sample above."));
      return;
    }
    card.dataset.name = queue[0].name;
    $("#audit-name").textContent = queue[0].name;
    $("#audit-text").textContent = queue[0].text; // text only, never HTML
    inputs().forEach((i) => (i.checked = false));
  }
  const save = guard(async () => {
    const labels = inputs().filter((i) => i.checked).map((i) => i.value);
    if (!labels.length) throw new Error("pick a class first (keys 1–9)");
    const doc = queue[0];
    const r = await api("POST", `${base}/${enc(doc.name)}`, { labels });
    queue.shift();
    flash(`${doc.name}: ${r.agrees ? "the same as" : "not"} the label it had`);
    const report = await api("GET", `${base}/report`);
    $("#audit-message").textContent = report.message;
    show();
  });
  if (!$("#audit-doc")) return;
  $("#audit-save").addEventListener("click", save);
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input[type=number], textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const box = inputs()[Number(event.key) - 1];
    if (/^[1-9]$/.test(event.key) && box) {
      box.checked = single ? true : !box.checked;
      if (single) save();
    } else if (event.key === "Enter" && !single) {
      event.preventDefault();
      save();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  filterForms();
  projectsPage();
  classesPage();
  auditPage();
  importForm();
  reviewPage();
  bulkPage();
  wizardPage();
  jobsPage();
  modelsPage();
});
