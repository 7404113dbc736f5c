// The browser view of a gitlab-journal journal: a runs table, parallel coordinates, a
// metric-against-param scatter, and for selected runs learning curves, a diff and notes.
//
// Every string shown here comes from journal records, possibly from other people: the DOM is
// built with createElement and textContent only, and text given to Plotly has its markup
// characters escaped (Plotly reads a little HTML in labels).
"use strict";

// -- the --where language (a port of gitlab_journal/journal/where.py and the index's SQL) -----

const PLAIN_FIELDS = ["id", "fingerprint", "commit", "created", "status", "model", "kind",
  "name", "reproduction"];
const JSON_FIELDS = ["params", "metrics", "data", "code"];
const FIELDS_HINT = "fields: params.NAME, metrics.NAME, data.NAME, code.NAME, " +
  [...PLAIN_FIELDS].sort().join(", ") +
  "; operators: == = != > >= < <= ~, FIELD in [A, B]; join with and, or, not, ( )";

class WhereError extends Error {}

const FIELD_RE = /\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s=!<>~"'()[\],]*)?)\s*/y;
const OP_RE = /(==|!=|>=|<=|=|>|<|~)\s*/y;
const KEYWORD_RE = /\s*(and|or|not|in)(?=[\s([]|$)/iy;
const VALUE_END = /\s+(?:and|or)(?=[\s(]|$)|\)/gi;
const LIST_VALUE_END = /[,\]]/g;
const OP_CHARS = "=<>!~'\"";
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function literal(raw) {
  const lowered = raw.toLowerCase();
  if (lowered === "true") return true;
  if (lowered === "false") return false;
  if (lowered === "null" || lowered === "none") return null;
  if (NUMBER_RE.test(raw)) return Number(raw);
  return raw;
}

function checkField(name, expression) {
  if (PLAIN_FIELDS.includes(name)) return;
  const dot = name.indexOf(".");
  if (dot > 0 && JSON_FIELDS.includes(name.slice(0, dot)) && name.length > dot + 1) {
    if (name.includes('"')) throw new WhereError(`bad field '${name}': it holds a quote`);
    return;
  }
  throw new WhereError(`unknown field '${name}' in '${expression}' (${FIELDS_HINT})`);
}

class Parser {
  constructor(text) { this.text = text; this.pos = 0; }
  fail(why) { return new WhereError(`malformed filter: ${why}`); }
  skipSpace() { while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++; }
  peekChar() { this.skipSpace(); return this.pos < this.text.length ? this.text[this.pos] : ""; }
  keyword(word) {
    KEYWORD_RE.lastIndex = this.pos;
    const m = KEYWORD_RE.exec(this.text);
    if (m && m[1].toLowerCase() === word) { this.pos = KEYWORD_RE.lastIndex; return true; }
    return false;
  }
  parse() {
    const node = this.orExpr();
    this.skipSpace();
    if (this.pos < this.text.length) {
      throw this.fail(`unexpected '${this.text.slice(this.pos).trim()}'`);
    }
    return node;
  }
  orExpr() {
    const operands = [this.andExpr()];
    while (this.keyword("or")) operands.push(this.andExpr());
    return operands.length === 1 ? operands[0] : { type: "or", operands };
  }
  andExpr() {
    const operands = [this.notExpr()];
    while (this.keyword("and")) operands.push(this.notExpr());
    return operands.length === 1 ? operands[0] : { type: "and", operands };
  }
  notExpr() {
    if (this.keyword("not")) return { type: "not", operand: this.notExpr() };
    if (this.peekChar() === "(") {
      this.pos++;
      const node = this.orExpr();
      if (this.peekChar() !== ")") throw this.fail("a '(' is not closed");
      this.pos++;
      return node;
    }
    return this.comparison();
  }
  comparison() {
    FIELD_RE.lastIndex = this.pos;
    const fm = FIELD_RE.exec(this.text);
    if (!fm) throw this.fail(`expected a field at '${this.text.slice(this.pos)}'`);
    const name = fm[1];
    checkField(name, this.text);
    this.pos = FIELD_RE.lastIndex;
    let negated = false;
    const start = this.pos;
    if (this.keyword("not")) {
      negated = true;
      if (!this.keyword("in")) { this.pos = start; negated = false; }
    }
    if (negated || this.keyword("in")) {
      const values = this.valueList(name);
      const node = values.length === 1 ? values[0] : { type: "or", operands: values };
      return negated ? { type: "not", operand: node } : node;
    }
    OP_RE.lastIndex = this.pos;
    const om = OP_RE.exec(this.text);
    if (!om) throw this.fail(`expected an operator after '${name}'`);
    const op = om[1] === "=" ? "==" : om[1];
    this.pos = OP_RE.lastIndex;
    return this.value(name, op, VALUE_END);
  }
  valueList(name) {
    if (this.peekChar() !== "[") throw this.fail(`expected '[' after '${name}' in`);
    this.pos++;
    const values = [];
    for (;;) {
      values.push(this.value(name, "==", LIST_VALUE_END));
      const ch = this.peekChar();
      this.pos++;
      if (ch === "]") return values;
      if (ch !== ",") throw this.fail(`a '[' after '${name}' in is not closed`);
    }
  }
  value(name, op, endRe) {
    const text = this.text;
    this.skipSpace();
    if (this.pos < text.length && (text[this.pos] === "'" || text[this.pos] === '"')) {
      const quote = text[this.pos];
      const out = [];
      let i = this.pos + 1;
      while (i < text.length) {
        const ch = text[i];
        if (ch === "\\" && i + 1 < text.length) { out.push(text[i + 1]); i += 2; continue; }
        if (ch === quote) {
          const raw = out.join("");
          this.pos = i + 1;
          return clause(name, op, raw, raw, true);
        }
        out.push(ch);
        i++;
      }
      throw new WhereError("unclosed quote in the filter");
    }
    endRe.lastIndex = this.pos;
    const m = endRe.exec(text);
    const end = m ? m.index : text.length;
    const raw = text.slice(this.pos, end).trim();
    if (!raw) throw this.fail("no value");
    if ([...raw].some((c) => OP_CHARS.includes(c))) {
      throw this.fail(`unexpected '${raw}' (quote a value that holds = < > ! ~ or quotes)`);
    }
    this.pos = end;
    return clause(name, op, literal(raw), raw, false);
  }
}

function clause(field, op, value, raw, quoted) {
  if (value === null && op !== "==" && op !== "!=" && op !== "~") {
    throw new WhereError("malformed filter: null only compares with == or !=");
  }
  return { type: "clause", field, op, value, raw, quoted };
}

// What SQLite's json_extract gives for a record's value: booleans are 1 and 0, lists and
// objects JSON text, missing values NULL.
function sqlValue(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number" || typeof v === "string") return v;
  return JSON.stringify(v);
}

function fieldOf(run, name) {
  if (PLAIN_FIELDS.includes(name)) {
    const v = run[name];
    return [v === undefined ? null : v, true];
  }
  const dot = name.indexOf(".");
  const group = run[name.slice(0, dot)];
  const key = name.slice(dot + 1);
  if (!group || typeof group !== "object" || !Object.prototype.hasOwnProperty.call(group, key)) {
    return [null, false];
  }
  return [sqlValue(group[key]), false];
}

function globRegex(pattern) {
  let out = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*") out += "[\\s\\S]*";
    else if (ch === "?") out += "[\\s\\S]";
    else if (ch === "[") {
      let k = i + 1;
      if (pattern[k] === "^") k++;
      if (pattern[k] === "]") k++;
      const j = pattern.indexOf("]", k);
      if (j < 0) return /(?!)/;  // SQLite: an unclosed '[' matches nothing
      let body = pattern.slice(i + 1, j);
      let negate = false;
      if (body.startsWith("^")) { negate = true; body = body.slice(1); }
      out += "[" + (negate ? "^" : "") + body.replace(/[\\\][]/g, "\\$&") + "]";
      i = j;
    } else out += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(out + "$", "u");
}

function compare(a, op, b) {
  switch (op) {
    case ">": return a > b;
    case ">=": return a >= b;
    case "<": return a < b;
    case "<=": return a <= b;
    default: return false;
  }
}

function clausePredicate(c) {
  const { field, op, value, raw } = c;
  if (op === "~") {
    if (/[*?[]/.test(raw)) {
      const re = globRegex(raw);
      return (run) => { const [x] = fieldOf(run, field); return x !== null && re.test(String(x)); };
    }
    const needle = raw.toLowerCase();
    return (run) => {
      const [x] = fieldOf(run, field);
      return x !== null && String(x).toLowerCase().includes(needle);
    };
  }
  if (value === null) {
    return op === "==" ? (run) => fieldOf(run, field)[0] === null
      : (run) => fieldOf(run, field)[0] !== null;
  }
  if (field === "model" && (op === "==" || op === "!=")) {
    const lowered = raw.toLowerCase();
    const hit = (run) => run.model === raw || String(run.model_class).toLowerCase() === lowered;
    return op === "==" ? hit : (run) => !hit(run);
  }
  const numeric = !c.quoted && typeof value !== "string";
  if (numeric) {
    const n = typeof value === "boolean" ? (value ? 1 : 0) : value;
    const asText = String(n);
    const equal = (x, plain) => (plain ? (x === raw || x === asText)
      : ((typeof x === "number" && x === n) || (typeof x === "string" && x === raw)));
    if (op === "==") return (run) => { const [x, p] = fieldOf(run, field); return x !== null && equal(x, p); };
    if (op === "!=") return (run) => { const [x, p] = fieldOf(run, field); return x !== null && !equal(x, p); };
    return (run) => { const [x] = fieldOf(run, field); return typeof x === "number" && compare(x, op, n); };
  }
  if (op === "==") return (run) => fieldOf(run, field)[0] === value;
  if (op === "!=") return (run) => { const [x] = fieldOf(run, field); return x !== null && x !== value; };
  return (run) => { const [x] = fieldOf(run, field); return typeof x === "string" && compare(x, op, value); };
}

function predicate(node) {
  if (node.type === "clause") return clausePredicate(node);
  if (node.type === "not") { const inner = predicate(node.operand); return (run) => !inner(run); }
  const parts = node.operands.map(predicate);
  return node.type === "and" ? (run) => parts.every((p) => p(run))
    : (run) => parts.some((p) => p(run));
}

/** A predicate over runs for a filter expression ('' keeps every run); WhereError if bad. */
function compileWhere(expression) {
  if (!expression.trim()) return () => true;
  return predicate(new Parser(expression).parse());
}

// -- helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// Plotly reads <b>, <a href>, <br> and entities in text: escape them so labels are plain text.
function plotText(value) {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function shown(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(5)));
  }
  if (typeof value === "string") return value;
  return jsonText(value);
}

const NON_FINITE = ["inf", "-inf", "nan"];

/** ``inf``, ``-inf`` or ``nan`` for the journal's form of a number that is not finite
 * (``{"__float__": "inf"}``, as a spec's ``.inf`` is recorded); null for any other value. */
function nonFinite(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "__float__") return null;
  return NON_FINITE.includes(value.__float__) ? value.__float__ : null;
}

/** A list or object as JSON.stringify writes it, but each number that is not finite as
 * ``inf``, ``-inf`` or ``nan`` (``[0,-inf]``), as `git journal show` prints it. */
function jsonText(value) {
  const tag = nonFinite(value);
  if (tag !== null) return tag;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const items = Object.keys(value).map((key) => `${JSON.stringify(key)}:${jsonText(value[key])}`);
    return `{${items.join(",")}}`;
  }
  return JSON.stringify(value);
}

function valueAt(run, key) {
  const dot = key.indexOf(".");
  if (dot > 0 && JSON_FIELDS.includes(key.slice(0, dot))) {
    const group = run[key.slice(0, dot)];
    const name = key.slice(dot + 1);
    if (group && Object.prototype.hasOwnProperty.call(group, name)) return group[name];
    return null;
  }
  if (key === "model") return run.model_class;
  const v = run[key];
  return v === undefined ? null : v;
}

function sortValue(a, b) {
  // numbers before text before the rest; missing values always last (handled by the caller)
  const ta = typeof a === "number" ? 0 : typeof a === "string" ? 1 : 2;
  const tb = typeof b === "number" ? 0 : typeof b === "string" ? 1 : 2;
  if (ta !== tb) return ta - tb;
  if (ta === 0) return a - b;
  const sa = ta === 1 ? a : JSON.stringify(a);
  const sb = tb === 1 ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

const PLOT_CONFIG = { displaylogo: false, responsive: true };

// Plotly (4.5 MB) loads after the table is on screen; charts wait for it.
let plotlyLoaded = null;
function plotly() {
  if (!plotlyLoaded) {
    plotlyLoaded = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "vendor/plotly.min.js";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("vendor/plotly.min.js did not load"));
      document.head.append(script);
    });
  }
  return plotlyLoaded;
}

function showEmpty(node, text) {
  node.plotSerial = (node.plotSerial || 0) + 1;  // drop a drawing still waiting for Plotly
  if (window.Plotly) Plotly.purge(node);
  node.bound = false;  // purge drops the chart's event handlers
  node.replaceChildren(el("p", { class: "empty", text }));
}

/** Draw (or update) a chart; ``bind(node)`` adds its event handlers once per fresh chart. */
function plot(node, traces, layout, bind) {
  const message = node.querySelector(":scope > p.empty");
  if (message) message.remove();
  const serial = (node.plotSerial || 0) + 1;
  node.plotSerial = serial;
  return plotly().then((P) => {
    if (node.plotSerial !== serial) return undefined;  // a newer drawing was asked for
    return P.react(node, traces, layout, PLOT_CONFIG).then(() => {
      if (bind && !node.bound) { bind(node); node.bound = true; }
    });
  }).catch((error) => showEmpty(node, `cannot draw this chart: ${error.message}`));
}

function isNumber(v) { return typeof v === "number" && Number.isFinite(v); }

const FIXED_COLUMNS = ["id", "created", "status", "model", "name"];
const PAGE_ROWS = 50;
const MAX_PC_PARAMS = 10;
// Parallel coordinates draw at most this many lines (WebGL: 100,000 lines take seconds to
// draw, and again on every new run); brushing still filters every run of the filter.
const MAX_PC_LINES = 2000;
const POLL_MS = 1000;  // how often a live page asks for the journal's tip

// -- state ---------------------------------------------------------------------------------

const state = {
  manifest: null,
  runs: [],
  byId: new Map(),
  filterText: "",
  filterFn: () => true,
  sorted: [],           // every run, in the table's sort order
  filtered: [],         // the runs the filter keeps, in that order
  brushed: null,        // Set of run ids inside every brushed range, or null
  shownRuns: [],        // filtered and brushed, sorted: what the table pages through
  sort: { key: "created", ascending: false },
  page: 0,
  columns: [],
  columnsChosen: false,
  selected: [],
  details: new Map(),
  pcRuns: [],
  pcDims: [],
  live: false,
  token: null,
  tip: null,
};

const $ = (id) => document.getElementById(id);

function setStatus(text) { $("status").textContent = text; }

// -- loading -------------------------------------------------------------------------------

async function fetchJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response.json();
}

function useRuns(manifest, runs, complete) {
  state.manifest = manifest;
  state.runs = runs;
  state.byId = new Map(runs.map((r) => [r.id, r]));
  state.position = new Map(runs.map((r, i) => [r.id, i]));
  detailPages.clear();
  state.live = Boolean(manifest.live);
  state.tip = manifest.tip;
  state.selected = state.selected.filter((id) => state.byId.has(id));
  if (!state.columnsChosen) state.columns = defaultColumns();
  document.body.dataset.tip = manifest.tip || "";
  document.body.dataset.runs = String(runs.length);
  document.body.dataset.loaded = complete ? "1" : "0";
  const tip = manifest.tip ? ` · journal ${manifest.tip.slice(0, 10)}` : "";
  const count = complete ? `${runs.length} run${runs.length === 1 ? "" : "s"}`
    : `the newest ${runs.length} of ${manifest.count} runs (loading the rest…)`;
  setStatus(`${count}${tip}${state.live ? " · live" : ""}`);
}

let loadSerial = 0;

/** Load the manifest and the pages of runs. With ``progressive``, the newest page is shown
 * first and the returned ``{rest}`` promise brings the rest (null when there is no rest). */
async function loadData(progressive = false) {
  const serial = ++loadSerial;
  const manifest = await fetchJson("manifest.json");
  if (!progressive || manifest.pages.length <= 1) {
    const pages = await Promise.all(manifest.pages.map((name) => fetchJson(name)));
    if (serial === loadSerial) useRuns(manifest, pages.flat(), true);
    return null;
  }
  const first = await fetchJson(manifest.pages[0]);
  useRuns(manifest, first, false);
  // the other pages after the first screen: their parsing would hold it up
  const rest = new Promise((resolve) => setTimeout(resolve, 0))
    .then(() => Promise.all(manifest.pages.slice(1).map((name) => fetchJson(name))));
  // wrapped: an async function's returned promise would be awaited with it
  return {
    rest: rest.then((pages) => {
      if (serial !== loadSerial) return false;  // newer data came meanwhile
      useRuns(manifest, [first, ...pages].flat(), true);
      return true;
    }),
  };
}

function comparable(value) {
  if (value === undefined || value === null) return null;
  return typeof value === "object" ? JSON.stringify(value) : value;
}

/** The keys of ``group`` whose value is not the same in every run of ``runs``. */
function varyingKeys(runs, group) {
  const keys = state.manifest.columns[group] || [];
  return keys.filter((key) => {
    if (!runs.length) return false;
    const first = comparable(runs[0][group][key]);
    for (const run of runs) if (comparable(run[group][key]) !== first) return true;
    return false;
  });
}

function varying(group) {
  return varyingKeys(state.runs, group);
}

function defaultColumns() {
  const metrics = (state.manifest.columns.metrics || []).filter(
    (k) => !k.endsWith("_std") && !k.endsWith("_time"));
  let params = varying("params");
  if (!params.length) params = (state.manifest.columns.params || []).slice(0, 4);
  return [...params.slice(0, 8).map((k) => `params.${k}`), ...metrics.slice(0, 6).map((k) => `metrics.${k}`)];
}

// -- filtering and sorting -----------------------------------------------------------------

// Every run is sorted once (for new data or a new sort column), and a filter keeps that
// order: a filter answers with one pass over the runs, with no sort.
function sortRuns() {
  const { key, ascending } = state.sort;
  const sign = ascending ? 1 : -1;
  // each run's value read once, not once per comparison
  const keyed = state.runs.map((run, i) => {
    const v = valueAt(run, key);
    return [run, i, v, v === null || (typeof v === "number" && Number.isNaN(v))];
  });
  keyed.sort(([, ia, va, na], [, ib, vb, nb]) => {
    if (na || nb) return na === nb ? ia - ib : (na ? 1 : -1);
    return sign * sortValue(va, vb) || ia - ib;
  });
  state.sorted = keyed.map(([run]) => run);
}

function applyFilter() {
  state.filtered = state.sorted.filter(state.filterFn);
}

function applyView() {
  const runs = state.filtered;
  state.shownRuns = state.brushed ? runs.filter((r) => state.brushed.has(r.id)) : runs;
  const pages = Math.max(1, Math.ceil(state.shownRuns.length / PAGE_ROWS));
  state.page = Math.min(state.page, pages - 1);
}

// -- the table -----------------------------------------------------------------------------

function renderColumnChooser() {
  const list = $("column-list");
  const boxes = [];
  for (const group of ["params", "metrics"]) {
    for (const key of state.manifest.columns[group] || []) {
      const name = `${group}.${key}`;
      const box = el("input", { type: "checkbox" });
      box.checked = state.columns.includes(name);
      box.addEventListener("change", () => {
        state.columnsChosen = true;
        state.columns = box.checked ? [...state.columns, name] : state.columns.filter((c) => c !== name);
        renderTable();
      });
      boxes.push(el("label", { class: "column-choice" }, box, name));
    }
  }
  list.replaceChildren(...boxes);
}

function renderTable() {
  const table = $("runs");
  const columns = [...FIXED_COLUMNS, ...state.columns];
  const head = el("tr", {}, el("th", { class: "pick", text: "" }));
  for (const key of columns) {
    const sorted = state.sort.key === key;
    const label = key.startsWith("params.") || key.startsWith("metrics.") ? key.slice(key.indexOf(".") + 1) : key;
    const th = el("th", { "data-key": key, title: key, class: key.split(".")[0] });
    th.append(el("span", { text: label }));
    if (sorted) th.append(el("span", { class: "arrow", text: state.sort.ascending ? " ▲" : " ▼" }));
    th.setAttribute("aria-sort", sorted ? (state.sort.ascending ? "ascending" : "descending") : "none");
    th.addEventListener("click", () => {
      state.sort = { key, ascending: state.sort.key === key ? !state.sort.ascending : false };
      state.page = 0;
      sortRuns();
      applyFilter();
      applyView();
      renderTable();
    });
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const start = state.page * PAGE_ROWS;
  const rows = state.shownRuns.slice(start, start + PAGE_ROWS).map((run) => {
    const box = el("input", { type: "checkbox", "aria-label": `select run ${run.id}` });
    box.checked = state.selected.includes(run.id);
    box.addEventListener("change", () => toggleSelected(run.id, box.checked));
    const tr = el("tr", { "data-id": run.id, class: `status-${String(run.status).replace(/[^a-z-]/g, "")}` },
      el("td", { class: "pick" }, box));
    for (const key of columns) {
      tr.append(el("td", { class: key.split(".")[0], text: shown(valueAt(run, key)) }));
    }
    if (box.checked) tr.classList.add("selected");
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
  const pages = Math.max(1, Math.ceil(state.shownRuns.length / PAGE_ROWS));
  $("page").textContent = `page ${state.page + 1} of ${pages}`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
  const total = state.runs.length;
  const showing = state.shownRuns.length;
  $("count").textContent = showing === total ? `${total} runs` : `${showing} of ${total} runs`;
  const empty = $("table-empty");
  empty.hidden = showing > 0;
  empty.textContent = total === 0 ? "The journal has no runs yet: record some with `git journal run`."
    : "No runs match.";
  $("clear-brush").hidden = !state.brushed;
}

// -- parallel coordinates ------------------------------------------------------------------

function metricChoices() {
  return (state.manifest.columns.metrics || []).filter((k) => !k.endsWith("_std"));
}

function fillSelect(select, options, keep) {
  const before = keep || select.value;
  select.replaceChildren(...options.map((o) => el("option", { value: o, text: o })));
  if (options.includes(before)) select.value = before;
}

function dimensionFor(label, values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length && present.length === values.length && present.every(isNumber)) {
    if (wide(values)) {
      // a log axis: parcoords has none, so the values are log10 with ticks at the decades
      const logs = values.map(Math.log10);
      const [low, high] = extent(logs);
      const lo = Math.floor(low);
      const hi = Math.ceil(high);
      const ticks = [];
      for (let k = lo; k <= hi; k++) ticks.push(k);
      return { label: plotText(`${label} (log)`), values: logs, tickvals: ticks,
        ticktext: ticks.map((k) => String(Number((10 ** k).toPrecision(3)))), range: [lo, hi], kind: "log" };
    }
    return { label: plotText(label), values, kind: "number" };
  }
  const texts = values.map((v) => (v === null || v === undefined ? "(none)" : shown(v)));
  const categories = [...new Set(texts)].sort();
  const code = new Map(categories.map((c, i) => [c, i]));
  return {
    label: plotText(label),
    values: texts.map((t) => code.get(t)),
    tickvals: categories.map((_, i) => i),
    ticktext: categories,  // parcoords writes tick labels as plain text (labels are parsed)
    range: [0, Math.max(categories.length - 1, 1)],
    kind: "category",
  };
}

function renderParcoords() {
  const node = $("parcoords");
  const metric = $("pc-metric").value;
  state.brushed = null;
  const runs = state.filtered.filter((r) => metric && isNumber(r.metrics[metric]));
  state.pcRuns = runs;
  if (!runs.length) {
    showEmpty(node, "No run in the filter has this metric.");
    state.pcDims = [];
    $("pc-note").hidden = true;
    return;
  }
  const params = varyingIn(runs).slice(0, MAX_PC_PARAMS);
  const dims = params.map((key) => dimensionFor(key, runs.map((r) => r.params[key] ?? null)));
  const metricValues = runs.map((r) => r.metrics[metric]);
  dims.push({ label: plotText(metric), values: metricValues, kind: "number" });
  state.pcDims = dims;  // every run's values: brushing filters them all
  const drawn = spread(runs.length, metricValues);
  const pick = (values) => (drawn ? drawn.map((i) => values[i]) : values);
  const note = $("pc-note");
  note.hidden = !drawn;
  note.textContent = drawn ? `${drawn.length.toLocaleString("en")} of ${runs.length.toLocaleString("en")} ` +
    `runs drawn, spread evenly over ${metric}; brushing filters all of them, and a narrower filter draws every run.` : "";
  const trace = {
    type: "parcoords",
    line: { color: pick(metricValues), colorscale: "Viridis", showscale: true },
    // a drawn sample keeps every run's axis ranges
    dimensions: dims.map(({ kind, values, ...d }) => (drawn && kind === "number" && !d.range
      ? { ...d, values: pick(values), range: extent(values) } : { ...d, values: pick(values) })),
    labelangle: -15,
  };
  plot(node, [trace], { margin: { l: 60, r: 60, t: 60, b: 30 }, height: 360 },
    (gd) => gd.on("plotly_restyle", () => onBrush()));
}

/** Which of ``count`` runs to draw when they are more than MAX_PC_LINES: indices spread
 * evenly over the runs ordered by ``metric`` (the best and the worst among them); null: all. */
function spread(count, metric) {
  if (count <= MAX_PC_LINES) return null;
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => metric[a] - metric[b]);
  const step = (count - 1) / (MAX_PC_LINES - 1);
  return Array.from({ length: MAX_PC_LINES }, (_, k) => order[Math.round(k * step)]);
}

function varyingIn(runs) {
  return varyingKeys(runs, "params");
}

function inRange(value, range) {
  if (!Array.isArray(range) || !range.length) return true;
  const ranges = Array.isArray(range[0]) ? range : [range];
  return ranges.some(([lo, hi]) => value >= lo && value <= hi);
}

function onBrush() {
  const node = $("parcoords");
  const trace = node.data && node.data[0];
  if (!trace) return;
  const constraints = trace.dimensions.map((d) => d.constraintrange);
  if (constraints.every((c) => !c || !c.length)) {
    state.brushed = null;
  } else {
    const ids = new Set();
    state.pcRuns.forEach((run, i) => {
      if (state.pcDims.every((dim, d) => !constraints[d] || inRange(dim.values[i], constraints[d]))) ids.add(run.id);
    });
    state.brushed = ids;
  }
  state.page = 0;
  applyView();
  renderTable();
  renderScatter();
}

// -- scatter -------------------------------------------------------------------------------

function renderScatter() {
  const node = $("scatter");
  const x = $("sc-x").value;
  const y = $("sc-y").value;
  const runs = (state.brushed ? state.filtered.filter((r) => state.brushed.has(r.id)) : state.filtered)
    .filter((r) => y && isNumber(r.metrics[y]) && x && r.params[x] !== undefined && r.params[x] !== null);
  if (!runs.length) {
    showEmpty(node, "No run in the filter has both values.");
    return;
  }
  const families = new Map();
  for (const run of runs) {
    const family = run.name || "(no family)";
    if (!families.has(family)) families.set(family, []);
    families.get(family).push(run);
  }
  const type = runs.length > 1000 ? "scattergl" : "scatter";  // SVG is slow past a few thousand
  const traces = [...families].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([family, members]) => ({
    type,
    mode: "markers",
    name: plotText(family),
    x: members.map((r) => (typeof r.params[x] === "number" ? r.params[x] : shown(r.params[x]))),
    y: members.map((r) => r.metrics[y]),
    customdata: members.map((r) => r.id),
    hovertemplate: "%{customdata}<br>%{x}, %{y}<extra></extra>",
    marker: { size: 8, opacity: 0.8 },
  }));
  plot(node, traces, {
    margin: { l: 60, r: 20, t: 20, b: 50 },
    height: 360,
    xaxis: { title: { text: plotText(x) }, type: logScale(traces) ? "log" : "-" },
    yaxis: { title: { text: plotText(y) } },
    showlegend: true,
  }, (gd) => gd.on("plotly_click", (event) => {
    const id = event.points && event.points[0] && event.points[0].customdata;
    if (id && state.byId.has(id)) toggleSelected(id, !state.selected.includes(id));
  }));
}

function extent(values) {
  // Math.min(...values) overflows the call stack for large arrays
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

function wide(values) {
  // positive numbers over two decades or more read better on a log scale
  if (!values.length || !values.every((v) => isNumber(v) && v > 0)) return false;
  const [lo, hi] = extent(values);
  return hi / lo >= 100;
}

function logScale(traces) {
  return wide(traces.flatMap((t) => t.x));
}

// -- selected runs: curves, diff, notes ----------------------------------------------------

function toggleSelected(id, on) {
  state.selected = state.selected.filter((s) => s !== id);
  if (on) state.selected.push(id);
  renderTable();
  renderSelected();
}

// A run's details: one runs/<id>.json each from `git journal ui`; from a site, the
// details-NNNN.json beside the page of runs that holds it (one fetch serves 1,000 runs).
const detailPages = new Map();

function fetchDetail(id) {
  if (state.manifest.details !== "pages") return fetchJson(`runs/${encodeURIComponent(id)}.json`);
  const page = Math.floor(state.position.get(id) / state.manifest.page_size);
  const name = `details-${String(page).padStart(4, "0")}.json`;
  if (!detailPages.has(name)) detailPages.set(name, fetchJson(name));
  return detailPages.get(name).then((found) => {
    if (!Object.prototype.hasOwnProperty.call(found, id)) throw new Error(`no details of ${id}`);
    return found[id];
  });
}

async function detail(id) {
  if (!state.details.has(id)) {
    state.details.set(id, fetchDetail(id).catch((error) => ({ id, error: String(error), failed: true })));
  }
  return state.details.get(id);
}

let renderSerial = 0;

async function renderSelected() {
  const serial = ++renderSerial;
  const ids = state.selected.filter((id) => state.byId.has(id));
  $("selected-count").textContent = ids.length ? `(${ids.length})` : "";
  $("selected-empty").hidden = ids.length > 0;
  $("clear-selection").hidden = ids.length === 0;
  $("curves-box").hidden = ids.length === 0;
  const details = await Promise.all(ids.map(detail));
  if (serial !== renderSerial) return;  // a newer selection is being drawn
  renderDiff(ids, details);
  renderCurves(ids, details);
  renderDetails(ids, details);
  document.body.dataset.selected = ids.join(",");
}

/** The selected runs side by side: their fields, params, data, how a table was read (from
 * each run's details) and metrics; rows that differ are marked. */
function renderDiff(ids, details) {
  const table = $("diff");
  if (!ids.length) { table.replaceChildren(); return; }
  const runs = ids.map((id) => state.byId.get(id));
  const tables = details.map((d) => (d && !d.failed && d.table) || {});
  const keys = ["created", "status", "model", "name", "commit"];
  const groups = [["params", runs], ["data", runs], ["table", tables], ["metrics", runs]];
  for (const [group, sources] of groups) {
    const seen = new Set();
    for (const source of sources) {
      for (const key of Object.keys((group === "table" ? source : source[group]) || {})) seen.add(key);
    }
    for (const key of [...seen].sort()) keys.push(`${group}.${key}`);
  }
  const at = (i, key) => {
    if (!key.startsWith("table.")) return key === "model" ? runs[i].model : valueAt(runs[i], key);
    const name = key.slice("table.".length);
    return Object.prototype.hasOwnProperty.call(tables[i], name) ? tables[i][name] : null;
  };
  const head = el("tr", {}, el("th", { text: "field" }), ...runs.map((r) => el("th", { text: r.id })));
  const rows = keys.map((key) => {
    const values = runs.map((_, i) => at(i, key));
    const texts = values.map(shown);
    const differs = new Set(values.map((v) => JSON.stringify(v === undefined ? null : v))).size > 1;
    return el("tr", { class: differs ? "differs" : "same", "data-key": key },
      el("th", { text: key }), ...texts.map((t) => el("td", { text: t })));
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function renderCurves(ids, details) {
  const node = $("curves");
  const keys = new Set();
  for (const d of details) for (const key of Object.keys(d.history || {})) keys.add(key);
  const sorted = [...keys].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a < b ? -1 : a > b ? 1 : 0));
  fillSelect($("curve-key"), sorted);
  const key = $("curve-key").value;
  const traces = [];
  details.forEach((d, i) => {
    const values = d.history && d.history[key];
    if (!Array.isArray(values) || !values.length) return;
    const run = state.byId.get(ids[i]);
    traces.push({
      type: "scatter",
      mode: "lines+markers",
      name: plotText(run.name ? `${run.id} (${run.name})` : run.id),
      x: values.map((_, epoch) => epoch + 1),
      y: values,
    });
  });
  node.dataset.traces = String(traces.length);
  if (!traces.length) {
    showEmpty(node, "The selected runs have no learning curves (history.json).");
    return;
  }
  plot(node, traces, {
    margin: { l: 60, r: 20, t: 20, b: 50 },
    height: 320,
    xaxis: { title: { text: "epoch" } },
    yaxis: { title: { text: plotText(key) } },
    showlegend: true,
  });
}

function renderDetails(ids, details) {
  const blocks = details.map((d, i) => {
    const id = ids[i];
    const block = el("article", { class: "run-detail", "data-id": id }, el("h3", { text: `Run ${id}` }));
    if (d.failed) {
      block.append(el("p", { class: "error", text: `details not available: ${d.error}` }));
      return block;
    }
    if (d.error) block.append(el("pre", { class: "error", text: d.error }));
    const notes = el("dl", { class: "notes" });
    for (const [key, text] of Object.entries(d.notes || {})) {
      notes.append(el("dt", { text: key }), el("dd", { text: String(text) }));
    }
    block.append(el("h4", { text: "Notes" }), notes);
    if (state.live && state.token) block.append(noteForm(id));
    if (d.files && d.files.length) {
      const served = new Set(d.served || []);
      const url = (name) => `runs/${encodeURIComponent(id)}/${encodeURIComponent(name)}`;
      const items = d.files.map((name) => el("li", {}, served.has(name)
        ? el("a", { href: url(name), target: "_blank", rel: "noopener noreferrer", text: name })
        : name));
      block.append(el("h4", { text: "Files" }), el("ul", { class: "files" }, ...items));
      const images = d.files.filter((name) => served.has(name) && /\.(png|jpe?g|gif|webp)$/i.test(name));
      if (images.length) {
        block.append(el("div", { class: "images" }, ...images.map((name) =>
          el("figure", {}, el("img", { src: url(name), alt: name, loading: "lazy" }), el("figcaption", { text: name })))));
      }
    }
    return block;
  });
  $("details").replaceChildren(...blocks);
}

function noteForm(id) {
  const key = el("input", { type: "text", value: "inference", "aria-label": "note key", class: "note-key" });
  const text = el("textarea", { rows: "3", "aria-label": "note text", class: "note-text" });
  const button = el("button", { type: "submit", text: "Add note" });
  const message = el("span", { class: "note-message", role: "status" });
  const form = el("form", { class: "note-form" }, key, text, button, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    message.textContent = "saving…";
    try {
      const response = await fetch("api/note", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Journal-Token": state.token },
        body: JSON.stringify({ run: id, key: key.value, text: text.value }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.error || `${response.status}`);
      state.details.delete(id);
      message.textContent = `saved (journal commit ${String(answer.commit || "").slice(0, 10)})`;
      await update();
      await renderSelected();
    } catch (error) {
      message.textContent = `not saved: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// -- live updates (git journal ui) ---------------------------------------------------------

async function refresh() {
  await loadData();
  state.details.clear();
  renderAll();
}

function merged(before, after) {
  return [...new Set([...(before || []), ...(after || [])])].sort();
}

/** Bring the page from the tip it holds to the journal's: only the runs that changed come
 * over the wire; everything is loaded again when the server says so. */
async function update() {
  const answer = state.tip ? await fetchJson(`api/changes?since=${encodeURIComponent(state.tip)}`)
    : { reload: true };
  if (answer.reload || answer.since !== state.tip) { await refresh(); return; }
  const fresh = new Map(answer.runs.map((run) => [run.id, run]));
  const gone = new Set(answer.removed);
  const runs = [];
  for (const run of state.runs) {
    if (gone.has(run.id)) continue;
    const now = fresh.get(run.id);
    runs.push(now || run);  // a run changed in place (a note) keeps its place
    if (now) fresh.delete(run.id);
  }
  const added = [...fresh.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  const before = state.manifest;
  const manifest = {
    ...before,
    tip: answer.tip,
    count: added.length + runs.length,
    columns: {
      params: merged(before.columns.params, answer.columns.params),
      metrics: merged(before.columns.metrics, answer.columns.metrics),
    },
    families: merged(before.families, answer.families),
  };
  useRuns(manifest, [...added, ...runs], true);
  for (const run of answer.runs) state.details.delete(run.id);
  renderAll();
}

function renderRunning(running) {
  const node = $("running");
  if (!running || !running.length) { node.replaceChildren(); return; }
  const now = Date.now() / 1000;
  node.replaceChildren(el("span", { class: "running", text: `${running.length} point${running.length === 1 ? "" : "s"} running: ` }),
    ...running.slice(0, 5).map((r) => el("code", {
      text: `${String(r.fingerprint).slice(0, 10)}${r.progress ? ` ${r.progress}` : ""} (pid ${r.pid} on ${r.host}, ${Math.max(0, Math.round(now - r.started))} s)`,
    })));
}

function poll() {
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetchJson("api/tip");
      renderRunning(answer.running);
      if (answer.tip !== state.tip) await update();
    } catch (error) {
      setStatus(`lost the server: ${error.message}`);
    } finally {
      busy = false;
    }
  }, POLL_MS);
}

// -- wiring --------------------------------------------------------------------------------

/** Everything again, for new data. The table first: the charts (seconds of WebGL on a large
 * journal without a GPU) are drawn in a later task, once the table is on screen. */
function renderAll() {
  fillSelect($("pc-metric"), metricChoices());
  fillSelect($("sc-y"), metricChoices());
  fillSelect($("sc-x"), state.manifest.columns.params || [], $("sc-x").value || varying("params")[0]);
  renderColumnChooser();
  sortRuns();
  applyFilter();
  state.brushed = null;  // new data: the brush starts again
  applyView();
  renderTable();
  renderSelected();
  const serial = ++chartSerial;
  setTimeout(() => {
    if (serial !== chartSerial) return;  // newer data came meanwhile: drawn with that
    renderParcoords();
    renderScatter();
    document.body.dataset.charted = String(serial);
  }, 0);
}

let chartSerial = 0;

function readToken() {
  const match = /(?:^|[#&])token=([0-9a-f]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("journal-token", match[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("journal-token");
}

function setFilter(text) {
  try {
    state.filterFn = compileWhere(text);
    state.filterText = text;
    $("filter-error").textContent = "";
    $("filter").classList.remove("bad");
  } catch (error) {
    if (!(error instanceof WhereError)) throw error;
    $("filter-error").textContent = error.message;
    $("filter").classList.add("bad");
    return;
  }
  state.page = 0;
  applyFilter();
  renderParcoords();
  applyView();
  renderTable();
  renderScatter();
}

async function main() {
  state.token = readToken();
  let rest = null;
  try {
    rest = await loadData(true);
  } catch (error) {
    setStatus(`cannot load the journal: ${error.message}`);
    return;
  }
  const params = new URLSearchParams(location.search);
  if (params.get("where")) { $("filter").value = params.get("where"); }
  if (!state.manifest.columns.metrics.length) $("charts").hidden = true;
  $("filter").addEventListener("input", () => setFilter($("filter").value));
  $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); renderTable(); });
  $("next").addEventListener("click", () => { state.page += 1; applyView(); renderTable(); });
  $("pc-metric").addEventListener("change", () => { renderParcoords(); applyView(); renderTable(); renderScatter(); });
  $("sc-x").addEventListener("change", renderScatter);
  $("sc-y").addEventListener("change", renderScatter);
  $("curve-key").addEventListener("change", () => renderSelected());
  $("clear-selection").addEventListener("click", () => { state.selected = []; renderTable(); renderSelected(); });
  $("clear-brush").addEventListener("click", () => { renderParcoords(); applyView(); renderTable(); renderScatter(); });
  if ($("filter").value) {
    try { state.filterFn = compileWhere($("filter").value); } catch (error) {
      $("filter-error").textContent = error.message;
    }
  }
  renderAll();
  document.body.dataset.firstScreenMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
  if (rest) {
    rest.rest.then((fresh) => { if (fresh) renderAll(); })
      .catch((error) => setStatus(`cannot load every page of runs: ${error.message}`));
  }
  if (state.live) poll();
}

// For tests and the console: journal.where("params.C > 1")(run), journal.runs()
window.journal = {
  where: compileWhere, runs: () => state.runs, shown: () => state.shownRuns,
  columns: () => state.manifest.columns,
};
document.addEventListener("DOMContentLoaded", main);
