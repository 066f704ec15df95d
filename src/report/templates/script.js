(function () {
  "use strict";
  var tools = document.getElementById("feature-tools");
  if (tools) {
    tools.hidden = false;
    var scenarios = function () {
      return document.querySelectorAll("details.scenario");
    };
    document.getElementById("expand-all").addEventListener("click", function () {
      scenarios().forEach(function (d) {
        d.open = true;
      });
    });
    document.getElementById("collapse-all").addEventListener("click", function () {
      scenarios().forEach(function (d) {
        d.open = false;
      });
    });
    var only = document.getElementById("failures-only");
    only.addEventListener("change", function () {
      document.body.classList.toggle("failures-only", only.checked);
    });
  }
  // A clause-matrix link opens the scenario it points at.
  var openTarget = function () {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
    }
  };
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
