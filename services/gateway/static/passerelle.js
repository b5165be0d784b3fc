// Passerelle: a little help on top of pages that work without it. No inline script (the
// Content-Security-Policy forbids it); every feature starts from a data- attribute.
(function () {
  "use strict";

  // The PIN pad: large keys that type into the code field.
  document.querySelectorAll(".pinpad").forEach(function (pad) {
    var input = document.getElementById(pad.getAttribute("data-target"));
    if (!input) { return; }
    pad.hidden = false;
    pad.addEventListener("click", function (event) {
      var key = event.target.closest("button");
      if (!key) { return; }
      if (key.hasAttribute("data-erase")) {
        input.value = input.value.slice(0, -1);
      } else if (input.value.length < 6) {
        input.value += key.getAttribute("data-digit");
      }
      input.dispatchEvent(new Event("input"));
    });
  });

  // Print buttons.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // Shared computers: a visible countdown before the session ends, then sign-out.
  var idle = parseInt(document.body.getAttribute("data-idle") || "0", 10);
  var notice = document.getElementById("idle");
  var finish = document.querySelector("form.finish");
  if (idle > 0 && notice && finish) {
    var deadline = Date.now() + idle * 1000;
    var warnFrom = Math.min(120, Math.floor(idle / 2));
    var reset = function () { deadline = Date.now() + idle * 1000; notice.hidden = true; };
    ["keydown", "pointerdown", "scroll"].forEach(function (name) {
      document.addEventListener(name, reset, { passive: true });
    });
    window.setInterval(function () {
      var left = Math.round((deadline - Date.now()) / 1000);
      if (left <= 0) { finish.submit(); return; }
      if (left <= warnFrom) {
        var m = Math.floor(left / 60), s = left % 60;
        var time = m + ":" + (s < 10 ? "0" : "") + s;
        notice.textContent = notice.getAttribute("data-warning").replace("%TIME%", time);
        notice.hidden = false;
      }
    }, 1000);
  }
})();
