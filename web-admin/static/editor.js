// The pathway editor: line numbers that follow the text, problem lines marked, and
// links that jump to a line. Without this script the editor is a plain text area.
(function () {
  "use strict";
  var area = document.getElementById("bron");
  var gutter = document.getElementById("regels");
  if (!area || !gutter) { return; }
  var bad = {};
  (area.getAttribute("data-lines") || "").split(",").forEach(function (n) {
    if (n) { bad[Number(n)] = true; }
  });
  function number() {
    var count = area.value.split("\n").length;
    while (gutter.firstChild) { gutter.removeChild(gutter.firstChild); }
    for (var i = 1; i <= count; i++) {
      var s = document.createElement("span");
      if (bad[i]) { s.className = "bad"; }
      s.textContent = String(i);
      gutter.appendChild(s);
      gutter.appendChild(document.createTextNode("\n"));
    }
    gutter.scrollTop = area.scrollTop;
  }
  function jump(line) {
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
    var height = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 5) * height);
    gutter.scrollTop = area.scrollTop;
  }
  area.addEventListener("input", number);
  area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
  document.querySelectorAll("a[data-line]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      jump(Number(a.getAttribute("data-line")));
    });
  });
  number();
})();
