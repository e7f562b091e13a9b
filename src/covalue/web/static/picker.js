// Searchable pickers: a search box with data-url asks the server for matches as one types, and a click
// on a match adds it to the field named by data-target (a textarea gets the id on a line of its own, a
// multiple select gets the option chosen), so nobody has to copy ids or Ctrl-click a long list.
(function () {
  "use strict";
  function field(box) {
    var id = box.getAttribute("data-target") || box.id.replace(/-search$/, "");
    return document.getElementById(id);
  }
  function add(target, value, label) {
    if (!target) return;
    if (target.tagName === "SELECT") {
      var found = false;
      for (var i = 0; i < target.options.length; i++) {
        if (target.options[i].value === value) { target.options[i].selected = true; found = true; }
      }
      if (!found) target.add(new Option(label || value, value, true, true));
      target.dispatchEvent(new Event("change"));
      return;
    }
    var lines = target.value.split(/\s+/).filter(Boolean);
    if (lines.indexOf(value) < 0) lines.push(value);
    target.value = lines.join("\n");
  }
  function show(list, rows, target) {
    list.textContent = "";
    rows.forEach(function (r) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "pick";
      b.textContent = r.label;
      b.setAttribute("data-value", r.value);
      b.addEventListener("click", function () { add(target, r.value, r.label); li.classList.add("picked"); });
      li.appendChild(b);
      if (r.note) {
        var n = document.createElement("span");
        n.className = "note";
        n.textContent = " " + r.note;
        li.appendChild(n);
      }
      list.appendChild(li);
    });
    if (!rows.length) {
      var none = document.createElement("li");
      none.className = "note";
      none.textContent = "Nothing found.";
      list.appendChild(none);
    }
  }
  function rowsOf(data) {
    if (data.items) {
      return data.items.map(function (r) {
        return { value: r.item_id, label: r.title_or_excerpt || r.item_id, note: (r.date || "") + " · " + r.item_id };
      });
    }
    return (data.people || []).map(function (r) {
      return { value: r.member_id, label: r.label, note: r.stage || "" };
    });
  }
  document.querySelectorAll("input[data-url]").forEach(function (box) {
    var list = document.getElementById(box.getAttribute("data-hits") || box.id.replace(/-search$/, "-hits"));
    var target = field(box);
    var timer = null;
    box.addEventListener("input", function () {
      clearTimeout(timer);
      var q = box.value.trim();
      if (q.length < 2) { list.textContent = ""; return; }
      timer = setTimeout(function () {
        fetch(box.getAttribute("data-url") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) { show(list, rowsOf(data), target); });
      }, 200);
    });
  });
})();
