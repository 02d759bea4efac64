// Backroom console: small enhancements over pages that work without script.
// - "/" focuses the search box; "g" then a letter goes to a page (see /console/help); "?" opens help.
// - Tables marked data-sortable="client" sort by a column when its heading is pressed.
// - A "select all" box ticks every box of its list; a Print button prints the page.
// - A form marked data-live-preview shows its preview as it is filled in (its Preview button
//   does the same without script).
// - A refused form keeps what was typed: a posted form's fields (never passwords, files or the
//   box that confirms a destructive action) are kept for the tab until the next page, which
//   puts them back when it says the change was refused.
(function () {
  "use strict";
  var go = { h: "/console", o: "/console/orders", r: "/console/returns", p: "/console/products",
    i: "/console/inventory", l: "/console/inventory/low", t: "/console/transfers",
    c: "/console/customers", a: "/console/analytics", s: "/console/settings" };
  var pending = null;
  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (pending) {
      var to = go[e.key];
      clearTimeout(pending); pending = null;
      if (to) { e.preventDefault(); location.href = to; }
      return;
    }
    if (e.key === "/") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
    } else if (e.key === "?") {
      e.preventDefault(); location.href = "/console/help";
    } else if (e.key === "g") {
      pending = setTimeout(function () { pending = null; }, 1500);
    }
  });

  // A cell's sort value: its data-v, else a number when it reads as one (12, 1,234, -£5.00,
  // 12.5%, 3 CHF), else its text.
  var NUM = /^-?[£$€¥]?-?[\d,]+(\.\d+)?%?( [A-Z]{3})?$/;
  function value(cell) {
    var s = (cell.getAttribute("data-v") || cell.textContent || "").trim();
    return NUM.test(s) ? { n: parseFloat(s.replace(/[^0-9.\-]/g, "")) } : { s: s.toLowerCase() };
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.sort(function (a, b) {
      var x = value(a.cells[index]), y = value(b.cells[index]), r;
      if (x.n !== undefined && y.n !== undefined) r = x.n - y.n;
      else r = String(x.s !== undefined ? x.s : x.n).localeCompare(String(y.s !== undefined ? y.s : y.n));
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table[data-sortable="client"]'), function (table) {
    if (!table.tHead || !table.tBodies[0]) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (!th.textContent.trim()) return; // a column of actions or boxes: nothing to sort by
      var b = document.createElement("button");
      b.type = "button"; b.className = "sort"; b.textContent = th.textContent;
      b.addEventListener("click", function () { sortBy(table, i, th); });
      th.textContent = ""; th.appendChild(b);
    });
  });

  // A print button (the browser's own Print works without script too).
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });

  Array.prototype.forEach.call(document.querySelectorAll("input[data-select-all]"), function (all) {
    var name = all.getAttribute("data-select-all");
    var boxes = function () { return document.querySelectorAll('input[type=checkbox][name="' + name + '"]'); };
    all.hidden = false;
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes(), function (b) { b.checked = all.checked; });
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("form[data-live-preview]"), function (f) {
    var box = document.getElementById("preview");
    if (!box || !window.fetch || !window.DOMParser) return;
    var timer = null, seq = 0;
    function run() {
      var sample = f.elements.namedItem("sample");
      if (!sample || !sample.value.trim()) return;
      var mine = ++seq;
      fetch(f.getAttribute("data-live-preview"), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(f)).toString()
      }).then(function (r) { return r.text(); }).then(function (html) {
        if (mine !== seq) return; // a later preview is on its way
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("preview");
        if (fresh) box.innerHTML = fresh.innerHTML;
      }).catch(function () { /* the Preview button still works */ });
    }
    f.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 500); });
  });

  var TYPED = "backroom-typed";
  function keep(el) {
    return el.name && el.name !== "csrf" && el.name !== "confirm" &&
      !/^(password|hidden|file|submit|button)$/.test(el.type);
  }
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f || !f.getAttribute || (f.getAttribute("method") || "").toLowerCase() !== "post") return;
    var fields = [];
    Array.prototype.forEach.call(f.elements, function (el) {
      if (!keep(el)) return;
      fields.push([el.name, el.value, el.type === "checkbox" || el.type === "radio" ? el.checked : null]);
    });
    try {
      sessionStorage.setItem(TYPED, JSON.stringify({ action: f.getAttribute("action"), fields: fields }));
    } catch (_) { /* storage off: the form comes back as the server sends it */ }
  }, true);
  var typed = null;
  try {
    typed = JSON.parse(sessionStorage.getItem(TYPED) || "null");
    sessionStorage.removeItem(TYPED);
  } catch (_) { typed = null; }
  if (typed && document.querySelector("p.notice.error")) {
    var form = Array.prototype.find.call(document.forms, function (f) {
      return f.getAttribute("action") === typed.action;
    });
    if (form) {
      typed.fields.forEach(function (t) {
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name !== t[0] || !keep(el)) return;
          if (t[2] !== null) { if (el.value === t[1]) el.checked = t[2]; } else el.value = t[1];
        });
      });
    }
  }
})();
