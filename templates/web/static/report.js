// The grading report: click a column's header to sort by it, type to filter the answers.
// Copied into the report file itself, so it works offline; it reads only the page.
"use strict";
(function () {
  function key(cell) {
    const sort = cell.dataset.sort;
    if (sort !== undefined && sort !== "" && !isNaN(Number(sort))) return Number(sort);
    return cell.textContent.trim().toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    const body = table.tBodies[0];
    table.querySelectorAll("thead th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        const up = !th.classList.contains("asc");
        table.querySelectorAll("thead th").forEach((h) => h.classList.remove("asc", "desc"));
        th.classList.add(up ? "asc" : "desc");
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const x = key(a.cells[column]), y = key(b.cells[column]);
          return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
        });
        rows.forEach((row) => body.append(row));
      });
    });
  });
  const text = document.getElementById("filter");
  const verdict = document.getElementById("verdict-filter");
  const answers = document.getElementById("answers");
  function filter() {
    const words = text.value.trim().toLowerCase();
    Array.from(answers.tBodies[0].rows).forEach(function (row) {
      const shown = (!words || row.textContent.toLowerCase().includes(words)) && (!verdict.value || row.dataset.verdict === verdict.value);
      row.hidden = !shown;
    });
  }
  text.addEventListener("input", filter);
  verdict.addEventListener("change", filter);
})();
