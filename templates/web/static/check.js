// The check page: preview each line as MathML and judge the derivation when the student pauses.
//
// Every keystroke schedules two calls: /api/render after a short pause (the server turns each
// line into MathML, already sanitised) and /api/verify after a longer one (the JSON of
// `verify --json`). A reply to an older text than the one in the box is dropped. Everything the
// verifier says (messages, values) is put on the page as text, never as HTML.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const words = config.words;
  const box = document.getElementById("answer");
  const list = document.getElementById("lines");
  const overall = document.getElementById("overall");
  const RENDER_MS = 150;
  const VERIFY_MS = 700;
  let renderTimer = null;
  let verifyTimer = null;
  let version = 0;
  let rows = new Map(); // line number (from 1) -> {row, preview, verdict}

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function linesOf(text) {
    return text.split("\n").map((line, i) => ({ number: i + 1, text: line })).filter((l) => l.text.trim());
  }

  function layout(lines) {
    const next = new Map();
    list.textContent = "";
    for (const line of lines) {
      const old = rows.get(line.number);
      const row = el("div", "line");
      row.dataset.line = String(line.number);
      const number = el("div", "number", words.line.replace("{n}", line.number));
      const preview = old && old.text === line.text ? old.preview : el("div", "preview");
      const verdict = old && old.text === line.text ? old.verdict : el("div", "verdict pending");
      row.append(number, preview, verdict);
      list.append(row);
      next.set(line.number, { row, preview, verdict, text: line.text });
    }
    rows = next;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { status: response.status, data };
  }

  async function render(mine) {
    const lines = linesOf(box.value);
    if (!lines.length) return;
    const { status, data } = await post("/api/render", { lines: lines.map((l) => l.text) });
    if (mine !== version || status !== 200) return;
    lines.forEach((line, i) => {
      const slot = rows.get(line.number);
      if (slot) slot.preview.innerHTML = data.lines[i]; // MathML the server rebuilt from a whitelist
    });
  }

  function number(value) {
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+(e|$)/, "$1");
    if (value === null || value === undefined) return "—";
    return String(value);
  }

  function counterexample(example) {
    const wrap = el("div", "counterexample");
    wrap.append(el("p", "", words.counterexample));
    const table = el("table");
    const head = el("tr");
    head.append(el("th", "", words.col_quantity), el("th", "", ""));
    table.append(head);
    const values = example.values || {};
    const keys = Object.keys(values);
    const SHOWN = 8; // a matrix equation's counterexample names every entry: the rest on request
    keys.forEach((name, i) => {
      const tr = el("tr");
      tr.append(el("td", "name", name), el("td", "", number(values[name])));
      if (i >= SHOWN) tr.className = "more";
      tr.hidden = i >= SHOWN;
      table.append(tr);
    });
    if (keys.length > SHOWN) {
      const tr = el("tr");
      const cell = el("td");
      cell.colSpan = 2;
      const button = el("button", "more", words.more.replace("{n}", keys.length - SHOWN));
      button.type = "button";
      button.addEventListener("click", () => {
        table.querySelectorAll("tr.more").forEach((row) => (row.hidden = false));
        tr.remove();
      });
      cell.append(button);
      tr.append(cell);
      table.append(tr);
    }
    for (const [key, label] of [["answer", words.your_value], ["correct", words.correct_value]]) {
      if (key in example) {
        const tr = el("tr", key);
        tr.append(el("th", "", label), el("td", "", number(example[key])));
        table.append(tr);
      }
    }
    wrap.append(table);
    return wrap;
  }

  function marked(text, column, number) {
    const source = el("div", "source");
    source.title = words.marked;
    source.addEventListener("click", () => {
      // the same place in the box: its line's offset plus the column
      const before = box.value.split("\n").slice(0, number - 1).join("\n").length + (number > 1 ? 1 : 0);
      box.focus();
      box.setSelectionRange(before + column, before + column + 1);
    });
    const at = Math.min(column, text.length);
    source.append(document.createTextNode(text.slice(0, at)));
    source.append(el("mark", "", text.slice(at, at + 1) || " "));
    source.append(document.createTextNode(text.slice(at + 1)));
    return source;
  }

  function fill(slot, v, text) {
    slot.className = "verdict " + v.verdict;
    slot.textContent = "";
    const head = el("p");
    head.append(el("span", "word", words.verdicts[v.verdict] || v.verdict));
    const codes = (v.diagnosis || []).map((c) => words.diagnoses[c] || c);
    if (codes.length) head.append(document.createTextNode(": " + codes.join("; ")));
    slot.append(head);
    if (v.follows_from) slot.append(el("p", "follows", words.follows.replace("{line}", v.follows_from)));
    // The verifier's own words, without what the page shows otherwise: the line's text (beside
    // it) and "follows from line N" (above).
    const message = (v.message || "").replace(/^Follows from line \d+, which is wrong\. /, "").replace(/ In: [\s\S]*$/, "");
    if (message) slot.append(el("p", "message", message));
    if (v.instances && v.instances.length > 1) {
      const list = el("p", "instances", words.instances + " ");
      v.instances.forEach((instance, i) => {
        const bindings = Object.entries(instance.bindings).map(([k, x]) => k + " = " + x).join(", ");
        const item = el("span", "instance " + instance.verdict, bindings + ": " + (words.verdicts[instance.verdict] || instance.verdict));
        if (i) list.append(document.createTextNode(" · "));
        list.append(item);
      });
      slot.append(list);
    }
    if (v.verdict === "invalid" && typeof v.column === "number" && text !== undefined) {
      slot.append(el("p", "", words.marked), marked(text, v.column, v.line));
    }
    if (v.counterexample && v.verdict === "incorrect" && !v.follows_from) {
      slot.append(counterexample(v.counterexample));
      names(slot);
    }
  }

  // A counterexample's names (delta_6, w_64, net_4) set as maths, as the rest of the page.
  const GREEK = /^(delta|eta|alpha|lambda|sigma|phi)$/;
  function latexName(name) {
    const layered = /^([A-Za-z])(\d+)_(\d+)(?:_(\d+))?$/.exec(name); // W1_2_3: W^{(1)}_{23}, b1_2: b^{(1)}_{2}
    if (layered) return layered[1] + "^{(" + layered[2] + ")}_{" + layered[3] + (layered[4] || "") + "}";
    const m = /^([A-Za-z]+?)_?(\d*)$/.exec(name) || /^([A-Za-z]+)_(\w+)$/.exec(name);
    if (!m) return null;
    const base = GREEK.test(m[1]) ? "\\" + m[1] : m[1].length > 1 ? "\\mathrm{" + m[1] + "}" : m[1];
    return m[2] ? base + "_{" + m[2] + "}" : base;
  }
  async function names(slot) {
    const cells = Array.from(slot.querySelectorAll(".counterexample td.name"));
    const latex = cells.map((c) => latexName(c.textContent));
    const wanted = latex.filter((x) => x);
    if (!wanted.length) return;
    const { status, data } = await post("/api/render", { lines: wanted });
    if (status !== 200) return;
    let k = 0;
    cells.forEach((cell, i) => {
      if (latex[i]) cell.innerHTML = data.lines[k++]; // MathML the server rebuilt from a whitelist
    });
  }

  async function verify(mine) {
    const lines = linesOf(box.value);
    overall.textContent = "";
    if (!lines.length) return;
    for (const slot of rows.values()) {
      slot.verdict.className = "verdict pending";
      slot.verdict.textContent = words.checking;
    }
    const body = { spec: config.spec, answer: box.value };
    if (config.target) body.target = config.target;
    let reply;
    try {
      reply = await post("/api/verify", body);
    } catch (err) {
      reply = { status: 0, data: { error: String(err) } };
    }
    if (mine !== version) return;
    const { status, data } = reply;
    if (status === 503) {
      for (const slot of rows.values()) slot.verdict.textContent = words.busy;
      verifyTimer = setTimeout(() => verify(mine), 2000);
      return;
    }
    if (status !== 200) {
      for (const slot of rows.values()) {
        slot.verdict.className = "verdict invalid";
        slot.verdict.textContent = words.failed + " " + (data.error || status);
      }
      return;
    }
    const verdicts = data.lines || [Object.assign({}, data, { line: lines[0].number })];
    verdicts.forEach((v) => {
      if (v.line === undefined || v.line === null) v.line = lines[0].number;
    });
    for (const v of verdicts) {
      const slot = rows.get(v.line);
      if (slot) fill(slot.verdict, v, slot.text);
    }
    if (data.answer) {
      const slot = el("div", "verdict");
      overall.append(el("p", "", words.as_answer), slot);
      fill(slot, data.answer);
    }
  }

  box.addEventListener("input", () => {
    version += 1;
    const mine = version;
    layout(linesOf(box.value));
    clearTimeout(renderTimer);
    clearTimeout(verifyTimer);
    renderTimer = setTimeout(() => render(mine), RENDER_MS);
    verifyTimer = setTimeout(() => verify(mine), VERIFY_MS);
  });
})();
