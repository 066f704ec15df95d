(function () {
  "use strict";
  // Everything here is optional: without JavaScript the page works through <details> alone.
  var all = function (selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector));
  };
  var setOpen = function (open) {
    all("details.feature, details.scenario").forEach(function (d) {
      d.open = open;
    });
  };
  var toggleClass = function (id, className) {
    var box = document.getElementById(id);
    if (box) {
      box.addEventListener("change", function () {
        document.body.classList.toggle(className, box.checked);
      });
    }
  };
  var tools = document.getElementById("feature-tools");
  if (tools) {
    tools.hidden = false;
    document.getElementById("expand-all").addEventListener("click", function () {
      setOpen(true);
    });
    document.getElementById("collapse-all").addEventListener("click", function () {
      setOpen(false);
    });
    toggleClass("failures-only", "failures-only");
  }
  var clauseTools = document.getElementById("clause-tools");
  if (clauseTools && document.querySelector("table.matrix tr.uncovered")) {
    clauseTools.hidden = false;
    toggleClass("hide-uncovered", "hide-uncovered");
  }
  // A link to a scenario opens it and the feature around it, before the browser scrolls.
  var reveal = function (id) {
    var target = id ? document.getElementById(id) : null;
    var only = document.getElementById("failures-only");
    if (target && only && only.checked && target.closest("details.passed, details.skipped")) {
      only.checked = false; // the filter would hide what the link points at
      document.body.classList.remove("failures-only");
    }
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") {
        node.open = true;
      }
    }
    return target;
  };
  var hashTarget = function () {
    return decodeURIComponent(location.hash.slice(1));
  };
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href^='#']");
    if (link) {
      reveal(decodeURIComponent(link.getAttribute("href").slice(1)));
    }
  });
  // Opened by address (a bookmark, the back button): scroll again now that it is visible.
  var revealHash = function () {
    var target = reveal(hashTarget());
    if (target) {
      target.scrollIntoView();
    }
  };
  window.addEventListener("hashchange", revealHash);
  revealHash();
  // A printed report shows everything.
  window.addEventListener("beforeprint", function () {
    setOpen(true);
  });
})();
