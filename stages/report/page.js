// The godi report page: filter the snapshots, expand or collapse them all.
// Works on the server-rendered <details> tree; reads text, never writes HTML.
(function () {
  "use strict";
  var snapshots = Array.prototype.slice.call(document.querySelectorAll("details.snapshot"));
  var probes = Array.prototype.slice.call(document.querySelectorAll("section.probe"));
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");

  function apply() {
    var needle = filter.value.trim().toLowerCase();
    var count = 0;
    snapshots.forEach(function (s) {
      var hit = !needle || s.textContent.toLowerCase().indexOf(needle) >= 0;
      s.classList.toggle("hidden", !hit);
      if (hit) count += 1;
    });
    probes.forEach(function (p) {
      p.classList.toggle("hidden", !p.querySelector("details.snapshot:not(.hidden)"));
    });
    shown.textContent = count + " of " + snapshots.length + " snapshots";
  }

  function setOpen(open) {
    document.querySelectorAll("#snapshots details").forEach(function (d) {
      if (!d.closest(".hidden")) d.open = open;
    });
  }

  filter.addEventListener("input", apply);
  document.getElementById("expand-all").addEventListener("click", function () { setOpen(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setOpen(false); });
  apply();
})();
