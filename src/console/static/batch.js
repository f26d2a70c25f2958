// Keeps a batch's progress bar moving (the page works without it: a
// Refresh link). Polls the console's progress endpoint once a second and
// reloads the page when the batch is done, to show its counts.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || box.getAttribute("data-done") === "1") {
    return;
  }
  var id = box.getAttribute("data-batch");
  var bar = document.getElementById("bar");
  var text = document.getElementById("progress-text");
  function poll() {
    fetch("/console/batches/" + encodeURIComponent(id) + "/progress", {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        bar.value = p.percent;
        bar.textContent = p.percent + "%";
        text.textContent = p.state + ": " + p.claims_done + " of " + p.claims_total + " claims";
        if (p.done) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
