// trove registry page: filters the rows the server rendered as one types, and copies commands.
// The page works without this script (the filter form is answered by the server); the rule
// here is the server's: every word of the query must occur in the row's data-text, and the
// selects must match exactly.
"use strict";
(function () {
  function filter() {
    var form = document.getElementById("filters");
    if (!form) return;
    var words = form.q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var domain = form.domain.value, model = form.model_type.value, tag = form.tag.value;
    var rows = document.querySelectorAll("#entries tr.entry");
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.dataset.text || "";
      var tags = (row.dataset.tags || "").split("\u001f");
      var ok = words.every(function (w) { return text.indexOf(w) !== -1; }) &&
        (!domain || row.dataset.domain === domain) &&
        (!model || row.dataset.modelType === model) &&
        (!tag || tags.indexOf(tag) !== -1);
      row.hidden = !ok;
      if (ok) shown++;
    });
    document.getElementById("count").textContent = shown + " of " + rows.length + " shown";
    document.getElementById("none").hidden = shown !== 0;
    var params = new URLSearchParams();
    if (form.q.value) params.set("q", form.q.value);
    if (domain) params.set("domain", domain);
    if (model) params.set("model_type", model);
    if (tag) params.set("tag", tag);
    var query = params.toString();
    history.replaceState(null, "", query ? "?" + query : location.pathname);
  }

  function copy(button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(source); });
    } else {
      select(source);
    }
  }

  // Where the clipboard is not available (plain HTTP on another host), select the text so
  // that Ctrl-C copies it.
  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("filters");
    if (form) {
      form.addEventListener("input", filter);
      form.addEventListener("change", filter);
      form.addEventListener("submit", function (event) { event.preventDefault(); filter(); });
      document.body.classList.add("js");
    }
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () { copy(button); });
    });
  });
})();
