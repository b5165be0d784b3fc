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

  // The signature pad: drawn with a finger or the mouse, sent as a PNG. Without script, the
  // person types their name instead (the field stays).
  document.querySelectorAll(".signature-pad").forEach(function (pad) {
    var canvas = pad.querySelector("canvas");
    var field = pad.querySelector("input[name=signature]");
    var ctx = canvas.getContext("2d");
    var drawing = false, drawn = false;
    pad.hidden = false;
    ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.strokeStyle = "#1b1b1f";
    var at = function (event) {
      var box = canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
    };
    canvas.addEventListener("pointerdown", function (event) {
      drawing = true; var p = at(event); ctx.beginPath(); ctx.moveTo(p[0], p[1]);
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      var p = at(event); ctx.lineTo(p[0], p[1]); ctx.stroke(); drawn = true;
    });
    var end = function () {
      if (drawing && drawn) { field.value = canvas.toDataURL("image/png"); }
      drawing = false;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    pad.querySelector("[data-clear]").addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height); field.value = ""; drawn = false;
    });
  });

  // Uploads: a progress bar while the files go (the form works the same without it).
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    var bar = form.querySelector("progress");
    var text = form.querySelector(".progress-text");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      bar.hidden = false; text.hidden = false;
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var percent = Math.round(e.loaded * 100 / e.total);
          bar.value = percent; text.textContent = percent + " %";
        }
      });
      var button = form.querySelector("button[type=submit]");
      request.addEventListener("load", function () {
        if (request.status < 400) {
          window.location.assign(request.responseURL || form.action);
          return;
        }
        // Refused (a wrong kind of file, too big…): the page's explanation is shown here, and
        // the chosen files stay chosen. Any other answer is shown as the form would have.
        var answer = new DOMParser().parseFromString(request.responseText, "text/html");
        var problem = answer.getElementById("problem");
        if (!problem) { form.submit(); return; }
        var old = document.getElementById("problem");
        if (old) { old.remove(); }
        problem = document.importNode(problem, true);
        problem.setAttribute("tabindex", "-1");
        form.parentNode.insertBefore(problem, form);
        bar.hidden = true; text.hidden = true; button.disabled = false;
        problem.focus();
      });
      request.addEventListener("error", function () { form.submit(); });
      button.disabled = true;
      request.send(new FormData(form));
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
    var leaving = false;
    var reset = function () { deadline = Date.now() + idle * 1000; notice.hidden = true; };
    ["keydown", "pointerdown", "scroll"].forEach(function (name) {
      document.addEventListener(name, reset, { passive: true });
    });
    window.setInterval(function () {
      var left = Math.round((deadline - Date.now()) / 1000);
      // A few seconds early: the web front still knows the session, so it also ends it at
      // the identity provider.
      if (left <= 3) { if (!leaving) { leaving = true; finish.submit(); } return; }
      if (left <= warnFrom) {
        var m = Math.floor(left / 60), s = left % 60;
        var time = m + ":" + (s < 10 ? "0" : "") + s;
        notice.textContent = notice.getAttribute("data-warning").replace("%TIME%", time);
        notice.hidden = false;
      }
    }, 1000);
  }
})();
