// Pathway drawings that people can read: each `.graph-wrap` with an image is fitted to the
// width of its box, but never below a scale at which its text stays readable (the box then
// scrolls), with buttons to zoom and the drawing dragged to pan. Without this script the
// drawing shows at its own size in a box that scrolls.
(function () {
  "use strict";
  // Node labels are drawn at 13 px and edge labels at 12 px: 0.85 keeps both at 10 px or more.
  var MIN_FIT = 0.85;
  var STEP = 1.25;
  var LOWEST = 0.3;
  var HIGHEST = 3;

  function button(text, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.title = label;
    return b;
  }

  function setUp(wrap) {
    var img = wrap.querySelector("img");
    if (!img) { return; }
    var scale = 1;
    var fitted = true;
    var bar = document.createElement("div");
    bar.className = "graph-tools";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Zoomen in het schema");
    var out = button("−", "Uitzoomen");
    var inn = button("+", "Inzoomen");
    var fit = button("Passend", "Passend maken in de breedte");
    var real = button("100 %", "Ware grootte");
    var shown = document.createElement("span");
    shown.className = "graph-scale";
    shown.setAttribute("aria-live", "polite");
    [out, inn, fit, real, shown].forEach(function (e) { bar.appendChild(e); });
    wrap.parentNode.insertBefore(bar, wrap);

    function natural() { return img.naturalWidth || img.width || 1; }
    function apply(next) {
      scale = Math.min(HIGHEST, Math.max(LOWEST, next));
      img.style.width = Math.round(natural() * scale) + "px";
      img.style.maxWidth = "none";
      shown.textContent = Math.round(scale * 100) + " %";
      wrap.setAttribute("data-scale", scale.toFixed(3));
    }
    function fitWidth() {
      var room = wrap.clientWidth - 24;
      apply(Math.max(MIN_FIT, Math.min(1, room / natural())));
      fitted = true;
      // The current steps in the middle of the box when the page names them, else the
      // middle of the drawing, where the layout puts the main route.
      var fx = wrap.getAttribute("data-focus-x");
      var fy = wrap.getAttribute("data-focus-y");
      if (fx !== null && fy !== null) {
        wrap.scrollLeft = Math.max(0, img.offsetLeft + Number(fx) * scale - wrap.clientWidth / 2);
        wrap.scrollTop = Math.max(0, img.offsetTop + Number(fy) * scale - wrap.clientHeight / 2);
      } else {
        wrap.scrollLeft = Math.max(0, (wrap.scrollWidth - wrap.clientWidth) / 2);
      }
    }
    out.addEventListener("click", function () { fitted = false; apply(scale / STEP); });
    inn.addEventListener("click", function () { fitted = false; apply(scale * STEP); });
    fit.addEventListener("click", fitWidth);
    real.addEventListener("click", function () { fitted = false; apply(1); });
    window.addEventListener("resize", function () { if (fitted) { fitWidth(); } });
    if (img.complete && img.naturalWidth) { fitWidth(); } else { img.addEventListener("load", fitWidth); }

    // Drag to pan.
    var drag = null;
    wrap.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      drag = { x: e.clientX, y: e.clientY, left: wrap.scrollLeft, top: wrap.scrollTop };
      wrap.classList.add("dragging");
      e.preventDefault();
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      wrap.scrollLeft = drag.left - (e.clientX - drag.x);
      wrap.scrollTop = drag.top - (e.clientY - drag.y);
    });
    window.addEventListener("pointerup", function () {
      drag = null;
      wrap.classList.remove("dragging");
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".graph-wrap"), setUp);
})();
