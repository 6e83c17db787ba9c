/* Improves the page when JavaScript runs: fits the portal's frame, polls a run's progress.
   Everything works without it (plain forms). No token is ever put into a URL. */
(function () {
  "use strict";
  function fit() { if (window.BX24 && BX24.fitWindow) { try { BX24.fitWindow(); } catch (e) { /* outside a portal */ } } }
  function poll(form) {
    var data = new FormData(form); data.append("format", "json");
    fetch(form.action, {method: "POST", body: data, credentials: "omit"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.error) { return; }
        var list = document.getElementById("progress");
        list.textContent = "";
        (s.progress || []).forEach(function (line) {
          var item = document.createElement("li"); item.textContent = line; list.appendChild(item);
        });
        fit();
        if (s.done) { form.submit(); } else { setTimeout(function () { poll(form); }, 1000); }
      })
      .catch(function () { setTimeout(function () { poll(form); }, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.BX24 && BX24.init) { BX24.init(fit); }
    var run = document.getElementById("run");
    if (run && run.getAttribute("data-finished") === "no") {
      setTimeout(function () { poll(document.getElementById("refresh")); }, 700);
    }
  });
})();
