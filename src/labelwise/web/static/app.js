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
    throw new Error(message);
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
    await api("POST", "/api/projects", body);
    location.href = "/projects/" + enc(body.name);
  }));
}

function importForm() {
  const form = $("#import");
  if (!form) return;
  form.addEventListener("submit", guard(async () => {
    const file = form.file.files[0];
    const format = /\.csv$/i.test(file.name) ? "csv" : "jsonl";
    const q = new URLSearchParams({ format, filename: file.name });
    if (form.create_classes.checked) q.set("create_classes", "true");
    if (form.elements.target_set.value) q.set("dataset", form.elements.target_set.value);
    flash("importing " + file.name + " …");
    const report = await api("POST", `/api/projects/${enc(form.getAttribute("data-project"))}/import?${q}`, undefined, file);
    const out = $("#import-report");
    out.hidden = false;
    out.textContent = JSON.stringify(report, null, 2);
    flash(`imported ${report.inserted} new, ${report.replaced} replaced, ${report.errors.length} bad records`);
  }));
}

// -- one document: decisions stay pending until Save ----------------------------------------------
function reviewPage() {
  const root = $("#review");
  if (!root) return;
  const project = root.dataset.project, name = root.dataset.document;
  const single = root.dataset.kind === "single_label";
  const decisions = new Map(); // suggestion id -> "accept" | "reject"
  const manualStart = $$("#manual input").filter((i) => i.checked).map((i) => i.value).join("\n");
  const datasetStart = $("#dataset").value;
  let manualChanged = false;

  const dirty = () => decisions.size > 0 || manualChanged || $("#dataset").value !== datasetStart;
  const refresh = () => {
    for (const li of $$("#suggestions .suggestion")) {
      const d = decisions.get(Number(li.dataset.id));
      li.classList.toggle("accepted", d === "accept");
      li.classList.toggle("rejected", d === "reject");
    }
    $("#save").disabled = !dirty();
    $("#unsaved").textContent = dirty() ? "unsaved changes" : "";
  };
  const decide = (li, what) => {
    const id = Number(li.dataset.id);
    if (decisions.get(id) === what) {
      decisions.delete(id);
    } else {
      if (what === "accept" && single) {
        // one class per document: accepting one sets aside the other accepted ones
        for (const [other, d] of decisions) if (d === "accept") decisions.delete(other);
      }
      decisions.set(id, what);
    }
    refresh();
  };
  for (const li of $$("#suggestions .suggestion")) {
    $(".accept", li).addEventListener("click", () => decide(li, "accept"));
    $(".reject", li).addEventListener("click", () => decide(li, "reject"));
  }
  for (const input of $$("#manual input")) {
    input.addEventListener("change", () => {
      manualChanged = $$("#manual input").filter((i) => i.checked).map((i) => i.value).join("\n") !== manualStart;
      refresh();
    });
  }
  $("#dataset").addEventListener("change", refresh);

  const save = guard(async () => {
    if (!dirty()) return;
    const body = { accept: [], reject: [] };
    for (const [id, d] of decisions) body[d].push(id);
    if (manualChanged) body.labels = $$("#manual input").filter((i) => i.checked).map((i) => i.value);
    if ($("#dataset").value !== datasetStart) body.dataset = $("#dataset").value;
    await api("POST", `/api/projects/${enc(project)}/documents/${enc(name)}/review`, body);
    decisions.clear();
    manualChanged = false;
    window.removeEventListener("beforeunload", warn);
    location.reload();
  });
  $("#save").addEventListener("click", save);

  const warn = (event) => {
    if (dirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  };
  window.addEventListener("beforeunload", warn);

  const firstOpen = () => $$("#suggestions .suggestion").find((li) => !decisions.has(Number(li.dataset.id)));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const li = firstOpen();
    if (event.key === "a" && li) decide(li, "accept");
    else if (event.key === "r" && li) decide(li, "reject");
    else if (event.key === "s") save();
    else if (event.key === "j" && $("#next")) location.href = $("#next").href;
    else if (event.key === "k" && $("#prev")) location.href = $("#prev").href;
  });
  refresh();
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
    await api("POST", `${base}/${what}`, { ids });
    location.reload();
  });
  $("#accept-selected").addEventListener("click", decide("accept"));
  $("#reject-selected").addEventListener("click", decide("reject"));
  $("#accept-above").addEventListener("click", guard(async (e) => {
    const body = { threshold: Number($("#threshold").value) };
    if (e.target.dataset.class) body.class = e.target.dataset.class;
    const r = await api("POST", `${base}/accept-above`, body);
    flash(`accepted ${r.accepted}`);
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
  });

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
  let active = $$(".status", table).some((td) => /queued|running/.test(td.textContent));
  const poll = async () => {
    if (!active) return;
    try {
      const jobs = await api("GET", `/api/projects/${enc(project)}/jobs`);
      const rows = new Map($$("tr[data-job]", table).map((tr) => [Number(tr.dataset.job), tr]));
      active = false;
      for (const j of jobs) {
        const tr = rows.get(j.id);
        if (!tr) { location.reload(); return; }
        if (isActiveJob(j.status)) active = true;
        const status = $(".status", tr);
        if (!status.textContent.startsWith(j.status)) {
          if (!isActiveJob(j.status)) { location.reload(); return; }
          status.firstChild.textContent = j.status;
        }
        $("progress", tr).max = j.total || 1;
        $("progress", tr).value = j.done + j.failed;
        $(".progress-text", tr).textContent = `${j.done} done, ${j.failed} failed of ${j.total}`;
        $(".rate", tr).textContent = j.docs_per_second.toFixed(1);
      }
    } catch (err) {
      flash(err.message, true);
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 500);
}

// -- models -----------------------------------------------------------------------------------------
function modelsPage() {
  const form = $("#train");
  if (!form) return;
  const project = form.dataset.project;
  form.addEventListener("submit", guard(async () => {
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
    for (const c of d.class || d.classes || []) {
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

document.addEventListener("DOMContentLoaded", () => {
  filterForms();
  projectsPage();
  importForm();
  reviewPage();
  bulkPage();
  wizardPage();
  jobsPage();
  modelsPage();
});
